// fuzz_decode.cpp: libFuzzer target over the whole untrusted-input path: probe, decode (orientation,
// alpha) and to_tensor with squash and letterbox, for every format the core reads (stb_image's four and
// libwebp's WebP, whose seeds tools/fuzz-smoke.sh writes from real images). Built with clang -fsanitize=fuzzer,address,undefined
// by tools/fuzz-smoke.sh (bounded ~60 s run in the test suite); without sanitizers it is linked with
// fuzz_replay_main.cpp into a corpus replayer that ctest runs over the fixtures.
//
// Long run (hours; the corpus grows in build/fuzz/corpus, crashes land in build/fuzz/):
//   bash tools/fuzz-smoke.sh --build-only
//   build/fuzz/fuzz_decode -max_len=262144 -rss_limit_mb=4096 -timeout=10 -jobs=2 -workers=2 \
//       -artifact_prefix=build/fuzz/ build/fuzz/corpus
#include <cstddef>
#include <cstdint>

#include "illust_core.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A small cap keeps each input fast and memory-bounded (the cap itself is what we test here).
  illust::Limits limits;
  limits.max_pixels = 4'000'000;
  const illust::ProbeResult info = illust::probe(data, size, limits);
  illust::PreprocessParams params;
  params.width = 64;
  params.height = 48;
  params.resize = (size & 1) ? illust::ResizeMode::letterbox : illust::ResizeMode::squash;
  const illust::TensorResult t = illust::to_tensor(data, size, params, limits);
  if (size & 2) {  // half the inputs also take the RGB path decode() uses (compaction, RGB orientation)
    illust::DecodeOptions options;
    options.limits = limits;
    const illust::DecodeResult d = illust::decode_rgb(data, size, options);
    if (d.status != t.status || (d.status == illust::Status::ok && (d.width != t.width || d.height != t.height)))
      __builtin_trap();
  }
  // Invariants: a tensor exactly when ok; a message exactly when not; probe and decode agree on the
  // size of what they accept.
  if ((t.status == illust::Status::ok) != bool(t.tensor)) __builtin_trap();
  if (t.status != illust::Status::ok && t.message.empty()) __builtin_trap();
  if (t.status == illust::Status::ok) {
    if (info.status != illust::Status::ok) __builtin_trap();
    if (info.width != t.width || info.height != t.height) __builtin_trap();
    for (size_t i = 0; i < t.tensor_size; ++i)
      if (!(t.tensor[i] >= 0.f && t.tensor[i] <= 1.f)) __builtin_trap();  // default scale 1/255, mean 0, std 1
  }
  return 0;
}
