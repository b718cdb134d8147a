// test_errors.cpp: bad input is a value, never a crash. Every bad fixture (empty, random bytes,
// truncated files of each format, huge headers, corrupt data, recognised-but-refused formats) gets its
// own code from probe, decode and to_tensor alike; the pixel cap is configurable and checked from the
// header; every prefix of a valid file fails cleanly; random damage never crashes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

using test_support::manifest;
using test_support::read_fixture;

TEST_CASE("bad fixtures get their error code from probe, decode and to_tensor", "[errors]") {
  const illust::PreprocessParams params = test_support::params_from_contract(test_support::contract());
  int checked = 0;
  for (const auto& entry : manifest().at("images")) {
    if (entry.at("ok").get<bool>()) continue;
    const std::string file = entry.at("file").get<std::string>();
    DYNAMIC_SECTION(file) {
      const auto bytes = read_fixture(file);
      const std::string code = entry.at("code").get<std::string>();
      const illust::ProbeResult p = illust::probe(bytes.data(), bytes.size());
      const illust::DecodeResult d = illust::decode_rgb(bytes.data(), bytes.size());
      const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
      INFO("probe: " << p.message << " | decode: " << d.message << " | tensor: " << t.message);
      // Corrupt pixel data may pass the header-only probe, and so may image data cut at a chunk
      // boundary (decode_only); decode must still catch it.
      if (code != "corrupt" && !entry.value("decode_only", false)) CHECK(illust::status_name(p.status) == code);
      CHECK(illust::status_name(d.status) == code);
      CHECK(illust::status_name(t.status) == code);
      CHECK_FALSE(d.rgb);
      CHECK_FALSE(t.tensor);
      CHECK_FALSE(d.message.empty());
      for (const char ch : d.message) CHECK((ch >= 0x20 && ch <= 0x7E));  // printable ASCII only
      if (entry.contains("message_contains")) {
        CHECK_THAT(d.message, Catch::Contains(entry.at("message_contains").get<std::string>()));
      }
      ++checked;
    }
  }
  CHECK(checked >= 1);
}

TEST_CASE("messages read as documented", "[errors]") {
  const auto avif = read_fixture("magic.avif");
  CHECK(illust::probe(avif.data(), avif.size()).message == "unsupported format: avif");
  const auto huge = read_fixture("huge_30000x30000.png");
  CHECK(illust::probe(huge.data(), huge.size()).message == "image too large: 30000x30000 exceeds 50 megapixels");
  const auto random = read_fixture("random.bin");
  CHECK(illust::probe(random.data(), random.size()).message == "unsupported format: unknown");
}

TEST_CASE("null and empty input", "[errors]") {
  CHECK(illust::probe(nullptr, 0).status == illust::Status::empty_input);
  CHECK(illust::probe(nullptr, 10).status == illust::Status::empty_input);
  const uint8_t one = 0;
  CHECK(illust::decode_rgb(&one, 0).status == illust::Status::empty_input);
}

TEST_CASE("the pixel cap is configurable and checked before decoding", "[errors][limits]") {
  const auto png = read_fixture("png_rgb8.png");  // 37 x 23 = 851 pixels
  illust::Limits limits;
  limits.max_pixels = 851;
  CHECK(illust::probe(png.data(), png.size(), limits).status == illust::Status::ok);
  limits.max_pixels = 850;
  const illust::ProbeResult p = illust::probe(png.data(), png.size(), limits);
  CHECK(p.status == illust::Status::too_large);
  CHECK(p.message == "image too large: 37x23 exceeds 850 pixels");
  illust::DecodeOptions options;
  options.limits = limits;
  CHECK(illust::decode_rgb(png.data(), png.size(), options).status == illust::Status::too_large);
  limits.max_pixels = 1'500'000;
  CHECK(illust::probe(read_fixture("huge_30000x30000.png").data(), read_fixture("huge_30000x30000.png").size(), limits).message ==
        "image too large: 30000x30000 exceeds 1.5 megapixels");
}

TEST_CASE("every prefix of a valid file fails cleanly", "[errors][truncated]") {
  for (const char* file : {"jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "png_rgba8.png", "png_palette.png",
                           "webp_lossy.webp", "webp_lossless_alpha.webp", "webp_animated.webp",
                           "jpeg_cmyk_no_adobe.jpg"}) {
    const auto bytes = read_fixture(file);
    const illust::DecodeResult whole = illust::decode_rgb(bytes.data(), bytes.size());
    REQUIRE(whole.status == illust::Status::ok);
    const bool png = std::string(file).find(".png") != std::string::npos;
    for (size_t n = 1; n < bytes.size(); ++n) {
      const illust::DecodeResult d = illust::decode_rgb(bytes.data(), n);
      INFO(file << " cut to " << n << " of " << bytes.size() << " bytes: " << d.message);
      if (png && n >= bytes.size() - 12) {  // all but IEND, or cut inside it: shown as browsers and PIL show it
        REQUIRE(d.status == illust::Status::ok);
        REQUIRE(std::memcmp(d.rgb.get(), whole.rgb.get(), size_t(whole.width) * whole.height * 3) == 0);
        continue;
      }
      REQUIRE(d.status == illust::Status::truncated);
    }
  }
  for (const char* file : {"gif_animated.gif", "bmp_rgb24.bmp", "bmp_palette8.bmp"}) {
    const auto bytes = read_fixture(file);
    // From 2 bytes on: a lone "B" is not recognisably a BMP ("BM" is its whole signature).
    for (size_t n = 2; n < bytes.size(); ++n) {
      const illust::DecodeResult d = illust::decode_rgb(bytes.data(), n);
      INFO(file << " cut to " << n << " of " << bytes.size() << " bytes: " << d.message);
      // GIF: once the first frame is complete the rest (later frames, trailer) is not needed.
      if (d.status == illust::Status::ok) REQUIRE(d.rgb);
      else REQUIRE(d.status == illust::Status::truncated);
      if (n < bytes.size() / 4) REQUIRE(d.status == illust::Status::truncated);
    }
  }
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ILLUST_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ILLUST_TEST_ASAN 1
#endif

// Repairing a file (here a GIF whose 0x0 screen must grow to its frame) copies it. When that copy cannot
// be allocated the answer is out_of_memory, not an exception escaping the core (std::bad_alloc natively,
// an abort of the whole instance in wasm). Run in a child process whose address space is capped.
TEST_CASE("a repaired copy that cannot be allocated is out_of_memory", "[errors][memory]") {
#ifdef ILLUST_TEST_ASAN
  SUCCEED("skipped: AddressSanitizer reserves its shadow memory beyond any address-space cap");
#else
  // The smallest 1x1 GIF, its screen set to 0x0, with 96 MB of comment sub-blocks before its frame.
  const uint8_t head[] = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0x80, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0};
  const uint8_t frame[] = {0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B};
  auto gif_with_comment = [&](size_t comment_blocks) {
    std::vector<uint8_t> gif(head, head + sizeof head);
    gif.reserve(gif.size() + 3 + comment_blocks * 256 + sizeof frame);
    gif.insert(gif.end(), {0x21, 0xFE});
    for (size_t i = 0; i < comment_blocks; ++i) {
      gif.push_back(255);
      gif.insert(gif.end(), 255, uint8_t('x'));
    }
    gif.push_back(0);
    gif.insert(gif.end(), frame, frame + sizeof frame);
    return gif;
  };
  const auto small = gif_with_comment(4);
  REQUIRE(illust::decode_rgb(small.data(), small.size()).status == illust::Status::ok);  // repaired, shown
  const auto big = gif_with_comment((96u << 20) / 256);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    long pages = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%ld", &pages) != 1) pages = 0;
      std::fclose(statm);
    }
    const rlim_t cap = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (48u << 20);  // < the 96 MB copy
    const struct rlimit limit = {cap, cap};
    if (pages == 0 || setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    try {
      const illust::DecodeResult d = illust::decode_rgb(big.data(), big.size());
      const illust::ProbeResult p = illust::probe(big.data(), big.size());
      const bool both = d.status == illust::Status::out_of_memory && p.status == illust::Status::out_of_memory;
      if (!both) std::fprintf(stderr, "decode: %s | probe: %s\n", d.message.c_str(), p.message.c_str());
      _exit(both ? 0 : 1);
    } catch (...) {
      _exit(2);  // the core threw (Catch2 must not go on running in the child)
    }
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("child exit status " << status << " (0: out_of_memory from both; 1: another status; 2: the core threw; 3: no cap; a signal: crashed)");
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
#endif
}

TEST_CASE("random damage never crashes and always yields a status", "[errors][robustness]") {
  std::mt19937 rng(42);
  const illust::PreprocessParams params = test_support::params_from_contract(test_support::contract());
  for (const char* file : {"jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "png_rgba8.png", "gif_palette.gif", "bmp_rgb24.bmp",
                           "webp_lossy.webp", "webp_lossless_alpha.webp", "webp_animated.webp",
                           "jpeg_cmyk_no_adobe.jpg"}) {
    const auto original = read_fixture(file);
    for (int round = 0; round < 150; ++round) {
      std::vector<uint8_t> bytes = original;
      const int flips = 1 + int(rng() % 8);
      for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = uint8_t(rng());
      const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
      if (t.status == illust::Status::ok) REQUIRE(t.tensor);
      else REQUIRE_FALSE(t.message.empty());
    }
  }
}

// A corrupt progressive JPEG the fuzzer found (1186 bytes, hex). stb_image's progressive decoder reads
// coefficient blocks this file never writes, so the verdict used to follow whatever the heap held.
static const char kProgressiveNeedsZeroedCoefficients[] =
    "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a070706"
    "080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b00006290032892d8150c0f171816141812141514ffdb004301030404050405"
    "09050509140d0b0d141414141414141414141414141414141414141414141414141414141414141414141414141414141414"
    "1414141414141414ffc20011080030004003012200021101031101ffc4001900010101010101000000000000000000000405"
    "06070108ffc400190101010003010000000000000000000000060202050804ffda000c0301000210031000003601f9cde0ee"
    "3c8eaf9ae9384725f51f4be536b3a14f3ef34aed672965b4751f2a253aaba54c6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a"
    "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6ac46a46437925209bc64d46a55eaf7fcc5451b0e0dfccc4b4376c4b04a5f23a8d"
    "61ca2bb14c5673e49b8cde06d97f65eee5c16be8f3294a7e3efb8d655f97a821405f29309405402b5e66f5597cf52df66ef8"
    "9722acac4ac09c198050012024048090160240480903ffc400191101010101010100000000000000000000040001021131ff"
    "da0008010301013f013a7773dc86ceb77cf232a3aa33373e6c65465c75c75c65c65c755fffc4001911010101000300000000"
    "00000000000000001301020331ffda0008010201013f01e7dfb9e38f7eefaaaaaaaaacaacaaaffc4001b1000010403000000"
    "00000000000000000000013133a1103040ffda0008010100063f021c7df1da915af6363fffc4002010000104020203010000"
    "000000000000000001112131416110518191f0e1ffda0008010100013f21969f827e0d78b40d60f2158da57385b246c2bd0e"
    "a9acc8c2759b5fd6cb457d6c91206cd425d1a8ae0c8c5304744d4c6a347a2a8137a274883131d283cc570691a2a82928c90d"
    "154093521487968fffda000c03010002000300000077f92178f62179f5257fed2b81ed3981f14282ee4484ef5288ee598bf0"
    "5791ef6793f66d92ed6f99f17792f58192ef8797f08e9eee8fa0f4999cf8a3a7eeaf9ef9abacf9b5acf3bba9eec4aef9d0b5"
    "f6dab6f7deb1f6dcbbf3e5b5f5eeb9f9f3baf9fe0068ea006ae9066ae80872e21a77eb1b73e6237ceb301001000202020202"
    "02030000000000000001001121314151617181f010a191b1e1ffda0008010100013f10b802b6cea014833d38fd421bcefed8"
    "955518ddbcccb95759a752962cd6ba80f0ae275358c7f539c17c87e54ab391b9604604c06b50252dbabc4c2223594183754c"
    "63534ac2ba97625ee03ad5cd1ae3aca5e2ae320acf3e20b5b1abaf37b8a0ec6dee0a145cf36a6a6a6a6a6a6a6a6a6a6a6a6a"
    "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a"
    "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6ac46a46437925209bc64d46a55eaf7fcc5451b0e0dfccc4b4376c4b04a5f2"
    "3a8d61ca2bb14c5673e49b8cde06d97f65eee5c16be8f3294a7e3efb8d655f97a821405f29309405402b5e66f5597cf52df6"
    "6ef89722acac4ac09c1980501fd411c070563eff00929321eb3502d83e7a994c15d4ffd9";

TEST_CASE("a decode does not depend on what the heap held before", "[errors][robustness]") {
  std::vector<uint8_t> fuzzed;
  const std::string hex = kProgressiveNeedsZeroedCoefficients;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) fuzzed.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
  REQUIRE(fuzzed.size() == 1186);
  illust::Limits limits;
  illust::PreprocessParams params;
  params.width = 64;
  params.height = 48;
  // The fuzzer's file (refused) and a valid progressive JPEG (decoded): same status, and for the valid
  // one the same tensor value for value, whatever the freed memory held.
  const std::vector<uint8_t> valid = read_fixture("jpeg_progressive.jpg");
  for (const std::vector<uint8_t>* input : {static_cast<const std::vector<uint8_t>*>(&fuzzed), &valid}) {
    const std::vector<uint8_t>& bytes = *input;
    std::vector<illust::Status> seen;
    std::vector<std::vector<float>> tensors;
    for (const uint8_t fill : {0x00, 0x01, 0x55, 0xAA, 0xFF}) {
      // Leave freed chunks of stb's allocation sizes full of `fill`, so the decoder's buffers reuse them.
      std::vector<void*> chunks;
      for (size_t size = 256; size <= 64 * 1024; size += 256) {
        void* chunk = std::malloc(size);
        std::memset(chunk, fill, size);
        chunks.push_back(chunk);
      }
      for (void* chunk : chunks) std::free(chunk);
      const illust::TensorResult result = illust::to_tensor(bytes.data(), bytes.size(), params, limits);
      seen.push_back(result.status);
      if (result.status == illust::Status::ok) tensors.emplace_back(result.tensor.get(), result.tensor.get() + result.tensor_size);
    }
    for (const illust::Status status : seen) REQUIRE(status == seen.front());
    for (const std::vector<float>& tensor : tensors) REQUIRE(tensor == tensors.front());
    REQUIRE(tensors.size() == (input == &valid ? seen.size() : 0));
  }
}

TEST_CASE("an EXIF block cut by the end of the data is not read past that end", "[errors][exif]") {
  // The whole file stays in memory behind `size`: a reader that trusted the block's own length would
  // find orientation 6 there instead of stopping at the end it was given.
  const std::pair<const char*, const char*> cases[] = {
      {"jpeg_exif_orientation_6.jpg", "Exif"}, {"png_exif_orientation_6.png", "eXIf"}, {"webp_exif_orientation_6.webp", "EXIF"}};
  for (const auto& [file, tag] : cases) {
    const auto bytes = read_fixture(file);
    const auto at = std::search(bytes.begin(), bytes.end(), tag, tag + 4);
    REQUIRE(at != bytes.end());
    const size_t cut = size_t(at - bytes.begin()) + 4 + 10;  // inside the EXIF data, before its IFD entry
    INFO(file << " cut at " << cut);
    const auto orientation = [&](size_t size) {
      return std::string(file).rfind("jpeg", 0) == 0  ? illust::jpeg_exif_orientation(bytes.data(), size)
             : std::string(file).rfind("png", 0) == 0 ? illust::png_exif_orientation(bytes.data(), size)
                                                       : illust::webp_exif_orientation(bytes.data(), size);
    };
    CHECK(orientation(bytes.size()) == 6);
    CHECK(orientation(cut) == 1);
  }
}
