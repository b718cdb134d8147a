// test_errors.cpp: bad input is a value, never a crash. Every bad fixture (empty, random bytes,
// truncated files of each format, huge headers, corrupt data, recognised-but-refused formats) gets its
// own code from probe, decode and to_tensor alike; the pixel cap is configurable and checked from the
// header; every prefix of a valid file fails cleanly; random damage never crashes.
#include <catch2/catch.hpp>

#include <random>

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
      // Corrupt pixel data may pass the header-only probe; decode must still catch it.
      if (code != "corrupt") CHECK(illust::status_name(p.status) == code);
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
  const auto webp = read_fixture("magic.webp");
  CHECK(illust::probe(webp.data(), webp.size()).message == "unsupported format: webp");
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
  for (const char* file : {"jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "png_rgba8.png", "png_palette.png"}) {
    const auto bytes = read_fixture(file);
    for (size_t n = 1; n < bytes.size(); ++n) {
      const illust::DecodeResult d = illust::decode_rgb(bytes.data(), n);
      INFO(file << " cut to " << n << " of " << bytes.size() << " bytes: " << d.message);
      REQUIRE(d.status == illust::Status::truncated);
    }
    REQUIRE(illust::decode_rgb(bytes.data(), bytes.size()).status == illust::Status::ok);
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

TEST_CASE("random damage never crashes and always yields a status", "[errors][robustness]") {
  std::mt19937 rng(42);
  const illust::PreprocessParams params = test_support::params_from_contract(test_support::contract());
  for (const char* file : {"jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "png_rgba8.png", "gif_palette.gif", "bmp_rgb24.bmp"}) {
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
