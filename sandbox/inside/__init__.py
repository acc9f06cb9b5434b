"""Code that runs *inside* the sandbox: the zygote and its children.

Imports only the standard library and numpy (never `sandbox`, `arc_core` or anything else of the
project), because the zygote puts this directory, and nothing else of the project, on its path.
The orchestrator imports `sandbox.inside.wire` to re-parse what children send.
"""
