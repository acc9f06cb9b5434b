#!/usr/bin/env bash
# Install the optional OS packages arc-hybrid uses, when we are root with apt-get:
#   bubblewrap  - outer namespace layer of the sandbox
#   chromium    - headless browser for the HTML report test
# Anything missing afterwards is reported, not fatal: the sandbox runs without bubblewrap (and says
# so in `arc-hybrid sandbox-info`), and the browser test skips without chromium.
set -u
want=()
command -v bwrap >/dev/null 2>&1 || want+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends "${want[@]}") >/tmp/arc-hybrid-apt.log 2>&1 \
    || echo "system-deps: apt-get failed (see /tmp/arc-hybrid-apt.log); continuing without ${want[*]}"
else
  echo "system-deps: not root or no apt-get; missing optional packages: ${want[*]}"
fi
exit 0
