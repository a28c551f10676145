#!/usr/bin/env bash
# Installs Debian's chromium for tests/html_report.rs (the HTML report opened in a headless
# browser), with fonts for readable screenshots. Idempotent: does nothing when chromium is already on the PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "chromium: $(command -v chromium)"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-chromium.sh: not root and no sudo: install Debian's chromium package" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install-chromium.sh: chromium is still missing after apt-get install" >&2; exit 1; }
echo "chromium: $(command -v chromium)"
