#!/bin/bash
# Packs what the WebGPU check needs on a lent GPU machine (Ubuntu, no Chromium, no Node, no network),
# from this Debian machine, into two git-ignored folders that each fit one call's 64 MiB with the repo:
#   .device-a/  the first 55.5 MB of Debian's Chromium binary, xz-compressed
#   .device-b/  the rest of it, the libraries it links (Debian's, for LD_LIBRARY_PATH), glvnd (the NVIDIA
#               Vulkan driver needs libGLdispatch), Chromium's data files and SwiftShader, build/demo's
#               lib/ and ort/, build/extension without them, and 10 images per class from DATA_DIR
# Takes ~5 minutes (xz -9e on 2 cores). Then, three device calls:
#   1. carry [".device-a"]: mkdir -p /tmp/webgpu-check && cp .device-a/* /tmp/webgpu-check/
#      (a carried folder is gone from the repo at the next call, but /tmp stays while the machine is warm)
#   2. at once (a machine goes back after 30 s idle), carry [".device-b"]: bash tools/webgpu-check/device.sh
#   3. give_back.
# Usage: tools/webgpu-check/pack-for-device.sh DATA_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: pack-for-device.sh DATA_DIR (the labelled image folder, e.g. ../shared/data)" >&2; exit 2; }
data=$1
[ -f "$repo/build/demo/ort/ort.webgpu.min.mjs" ] || { echo "run \`npm run build\` first" >&2; exit 2; }
a="$repo/.device-a"; b="$repo/.device-b"; work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
rm -rf "$a" "$b"; mkdir -p "$a" "$b" "$work/libs" "$work/chromium" "$work/images"
xz -9e -T2 -c /usr/lib/chromium/chromium > "$work/chromium.xz"
split -b 55500000 -d -a 1 "$work/chromium.xz" "$work/part."
mv "$work/part.0" "$a/chromium.xz.0"; mv "$work/part.1" "$b/chromium.xz.1"
# Every library Chromium links except glibc's own (the machine's glibc is newer, and must stay its own).
ldd /usr/lib/chromium/chromium | awk '/=> \//{print $3}' | grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl)\.so|ld-linux' |
  xargs -I{} cp -L {} "$work/libs/"
for lib in libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libOpenGL.so.0 libGL.so.1 libGLESv2.so.2; do
  cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$work/libs/"
done
# NSS opens its crypto modules beside libnss3.so at run time: without them Chromium aborts at its first
# HTTPS connection (extension-check.py's x.com), "libsoftokn3.so: cannot open shared object file".
for lib in libsoftokn3 libfreebl3 libfreeblpriv3 libnssdbm3 libnssckbi; do
  cp "/usr/lib/x86_64-linux-gnu/$lib.so" "$work/libs/"
  [ -f "/usr/lib/x86_64-linux-gnu/$lib.chk" ] && cp "/usr/lib/x86_64-linux-gnu/$lib.chk" "$work/libs/"
done
(cd /usr/lib/chromium && cp icudtl.dat v8_context_snapshot.bin snapshot_blob.bin libvulkan.so.1 libEGL.so libGLESv2.so \
  libvk_swiftshader.so vk_swiftshader_icd.json "$work/chromium/")
mkdir -p "$work/chromium/locales"; cp /usr/lib/chromium/locales/en-US.pak "$work/chromium/locales/"
python3 - "$data" "$work/images" <<'PY'
import os, random, shutil, sys
data, out = sys.argv[1], sys.argv[2]
random.seed(7)
for label in ('illustration', 'screenshot', 'photo'):
    sources = sorted(os.listdir(os.path.join(data, label)))
    random.shuffle(sources)
    for source in sources[:10]:
        files = sorted(f for f in os.listdir(os.path.join(data, label, source)) if not f.startswith('.'))
        name = random.choice(files)
        shutil.copy(os.path.join(data, label, source, name), os.path.join(out, f'{label}__{source}__{name}'))
PY
tar -C "$work" -cf - libs chromium images | xz -9 -T2 > "$b/bundle.tar.xz"
tar -C "$repo/build/demo" -cf - lib ort | xz -9 -T2 > "$b/site.tar.xz"
# The built extension without its runtime and model (device.sh puts the demo's ort/ and model/ back).
tar -C "$repo/build" --exclude=extension/ort --exclude=extension/model -cf - extension | xz -9 -T2 > "$b/extension.tar.xz"
du -sh "$a" "$b"
