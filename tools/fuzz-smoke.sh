#!/usr/bin/env bash
# fuzz-smoke.sh: builds the image core's libFuzzer target (clang-14, -fsanitize=fuzzer,address,undefined)
# into build/fuzz and runs it for a bounded time (default 60 s, env FUZZ_SECONDS) on a seed corpus made
# from the core's test fixtures plus WebPs that PIL writes from real images (ILLUST_ONLY_DATA, default
# ../shared/data: lossy, lossless, with alpha, animated), so every test run hunts a little for crashes,
# leaks, hangs and undefined behaviour in decode + preprocess, libwebp included (it is built with the
# same sanitizers). Exit status is libFuzzer's: non-zero on any finding, with the
# reproducer saved as build/fuzz/crash-* (replay: build/fuzz/fuzz_decode build/fuzz/crash-...).
#
#   bash tools/fuzz-smoke.sh              # build, then fuzz for FUZZ_SECONDS (60)
#   bash tools/fuzz-smoke.sh --build-only # build and seed only (for a long run, see tests/native/fuzz_decode.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
build_only=0
[[ ${1:-} == --build-only ]] && build_only=1

fuzz_dir=build/fuzz
# libwebp is C: a build dir configured before the core had C sources has no clang C compiler cached.
if [[ -f $fuzz_dir/build.ninja ]] && ! grep -q '^CMAKE_C_COMPILER:.*clang' "$fuzz_dir/CMakeCache.txt"; then
  rm -rf "$fuzz_dir/CMakeCache.txt" "$fuzz_dir/CMakeFiles" "$fuzz_dir/build.ninja"
fi
if [[ ! -f $fuzz_dir/build.ninja ]]; then
  cmake -S . -B "$fuzz_dir" -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=Debug -DILLUST_FUZZ_SANITIZE=ON >/dev/null
fi
cmake --build "$fuzz_dir" -j 2 --target fuzz_decode

# Seeds: every fixture image (good and bad), regenerated from the generator so this script also works
# without the native build. The corpus directory keeps what earlier runs found.
seed_dir=$fuzz_dir/seed
rm -rf "$seed_dir"
/usr/bin/python3 tests/fixtures/make_core_fixtures.py --out "$fuzz_dir/fixtures"
mkdir -p "$seed_dir" "$fuzz_dir/corpus"
find "$fuzz_dir/fixtures" -type f ! -name '*.rgb' ! -name '*.f32' ! -name 'manifest.json' -size -256k \
  -exec cp {} "$seed_dir/" \;
/usr/bin/python3 - "$seed_dir" "${ILLUST_ONLY_DATA:-../shared/data}" <<'PY'
# Real WebPs as seeds: a few real images of each class, small enough for -max_len.
import io, pathlib, sys
from PIL import Image
seed_dir, data = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
images = sorted(data.glob("*/*/*.jpg"))[::97][:6] if data.is_dir() else []
for i, path in enumerate(images):
    img = Image.open(path).convert("RGB")
    img.thumbnail((160, 160))
    rgba = img.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(img.size))
    img.save(seed_dir / f"real_{i}_lossy.webp", quality=75)
    img.save(seed_dir / f"real_{i}_lossless.webp", lossless=True)
    rgba.save(seed_dir / f"real_{i}_alpha.webp", quality=75)
    img.save(seed_dir / f"real_{i}_animated.webp", save_all=True, append_images=[img.rotate(180)], duration=50)
print(f"fuzz-smoke: {4 * len(images)} WebP seeds from real images" if images else f"fuzz-smoke: no real images at {data}")
PY
echo "fuzz-smoke: $(ls "$seed_dir" | wc -l) seeds, corpus $(ls "$fuzz_dir/corpus" | wc -l) entries"
((build_only)) && exit 0

# One worker (the machine is shared); inputs up to 256 KiB; a 10 s per-input timeout counts as a hang.
# The dictionary holds the container words (RIFF/WebP chunk tags, PNG chunk types, JPEG markers) the
# fuzzer would otherwise have to guess byte by byte.
"$fuzz_dir/fuzz_decode" -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -timeout=10 \
  -dict=tests/native/fuzz_decode.dict \
  -artifact_prefix="$fuzz_dir/" -print_final_stats=1 "$fuzz_dir/corpus" "$seed_dir" 2>&1 | tail -n 25
exit "${PIPESTATUS[0]}"
