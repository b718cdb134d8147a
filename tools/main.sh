#!/usr/bin/env bash
# The README's main command: set-up on a fresh Debian 12 machine, build everything, then serve the
# demo page locally (printing its URL) with the unpacked extension ready in build/extension/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
npm run build
echo
echo "Unpacked extension: $(pwd)/build/extension  (chrome://extensions → Developer mode → Load unpacked)"
echo "Firefox build:      $(pwd)/build/extension-firefox  (about:debugging → This Firefox → Load Temporary Add-on → manifest.json)"
exec node tools/serve.mjs "$@"
