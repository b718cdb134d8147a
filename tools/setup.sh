#!/usr/bin/env bash
# Installs what Illust Only needs on a Debian 12 machine, idempotently: missing apt packages, then the
# pinned npm packages. Safe to run again; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(emscripten libstb-dev catch2 cmake g++ ninja-build clang libclang-rt-14-dev
  chromium python3-torch python3-torchvision python3-onnx python3-numpy python3-pil nlohmann-json3-dev)

# The extension's Firefox build is tested in Debian's ESR (tests/e2e/extension-firefox.test.mjs).
APT_PACKAGES+=(firefox-esr)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: Node.js >= 20 with npm is required (node not found)" >&2; exit 1
fi

# npm ci is exact and fast; skip it when node_modules already matches the lock file. Nothing may
# download a browser: the tests drive Debian's chromium and firefox-esr (puppeteer-core has no
# download step; PUPPETEER_SKIP_DOWNLOAD also covers a package that would).
stamp=node_modules/.illust-only-lock
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: installing npm packages (pinned by package-lock.json)"
  ONNXRUNTIME_NODE_INSTALL=skip PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
