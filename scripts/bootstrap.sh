#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian/Ubuntu machine.
# Idempotent and non-interactive: safe to run again; CI runs it as root with CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"

# --- system packages --------------------------------------------------------
# libegl1 + libgl1-mesa-dri: MuJoCo offscreen rendering on the CPU (MUJOCO_GL=egl, llvmpipe)
# chromium: the real browser for console tests (Playwright drives it; no browser download)
# iproute2 + ethtool: network namespaces and veth set-up for the WAN-emulation tests
# openssl: the local development TLS certificate
# postgresql: a throwaway server for the database tests (the product uses SQLite by default)
SYSTEM_PACKAGES=(libegl1 libgl1-mesa-dri libgles2 chromium iproute2 ethtool openssl postgresql)

need=()
for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
# node: runs the browser console's JavaScript against the shared test vectors (any recent node)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if ((${#need[@]})); then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "bootstrap: installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- Python environment -----------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-16 || true)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing Python dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    if [ -f constraints.txt ]; then
        # constraints.txt pins the versions this tree was tested with (pip freeze)
        "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev,postgres]"
    else
        "$VENV/bin/python" -m pip install -q -e ".[dev,postgres]"
    fi
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
echo "bootstrap: ready ($("$VENV/bin/python" --version))"
