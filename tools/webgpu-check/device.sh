#!/bin/bash
# Device side of the WebGPU check (see pack-for-device.sh): unpacks Chromium into /tmp/webgpu-check,
# points it at the NVIDIA Vulkan driver, runs run.sh on the packed images, then extension-check.py (the
# built extension on a cold media tab of the same images). Results land in $OUT.
set -u
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd); w=/tmp/webgpu-check; b="$repo/.device-b"
unxz() { python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)"; }
[ -f "$w/chromium.xz.0" ] || { echo "webgpu-check: $w/chromium.xz.0 is missing: run the first call (pack-for-device.sh)" >&2; exit 2; }
if [ ! -x "$w/chromium/chromium" ]; then
  unxz < "$b/bundle.tar.xz" | tar -C "$w" -xf - || exit 3
  cat "$w/chromium.xz.0" "$b/chromium.xz.1" | unxz > "$w/chromium/chromium" || exit 3
  chmod +x "$w/chromium/chromium"
  mkdir -p "$w/site"; unxz < "$b/site.tar.xz" | tar -C "$w/site" -xf - || exit 3
  unxz < "$b/extension.tar.xz" | tar -C "$w" -xf - || exit 3
  model_file=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['model_file'])" "$repo/model/contract.json")
  cp -r "$w/site/ort" "$w/extension/ort"; mkdir -p "$w/extension/model"; cp "$repo/model/contract.json" "$repo/model/$model_file" "$w/extension/model/"
fi
export LD_LIBRARY_PATH="$w/libs:/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}"
driver=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
[ -n "$driver" ] && export VK_DRIVER_FILES="$driver" VK_ICD_FILENAMES="$driver"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null
missing=$(ldd "$w/chromium/chromium" | grep "not found"); [ -z "$missing" ] || echo "webgpu-check: missing libraries: $missing"
out=${OUT:-/tmp/webgpu-check/out}
CHROMIUM="$w/chromium/chromium" SITE_FROM="$w/site" bash "$here/run.sh" "$w/images" "$out/logs" "${MODE:-full}"
status=$?
# The extension on the same GPU: a cold media tab of the 30 images.
CHROMIUM="$w/chromium/chromium" EXTENSION="$w/extension" python3 "$here/extension-check.py" "$w/images" "$out/logs" --flags gpu || status=1
cp "$out"/logs/result-*.json "$out/" 2>/dev/null; tar -C "$out" -czf "$out/logs.tgz" logs && rm -rf "$out/logs"
exit $status
