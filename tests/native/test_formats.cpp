// test_formats.cpp: every decodable variant (PNG 8/16-bit, gray, palette, alpha, tRNS; GIF first frame
// and transparency; BMP; JPEG baseline/progressive/gray/CMYK; EXIF orientations 1..8) decodes to the
// pixels PIL gives for the same file: exactly for lossless formats, within a small tolerance for JPEG
// (stb_image and libjpeg round their IDCT and chroma upsampling differently).
#include <catch2/catch.hpp>

#include <cstdlib>

#include "test_support.h"

using test_support::manifest;
using test_support::read_fixture;

namespace {
std::array<uint8_t, 3> manifest_background() {
  const auto& bg = manifest().at("alpha_background");
  return {{bg.at(0).get<uint8_t>(), bg.at(1).get<uint8_t>(), bg.at(2).get<uint8_t>()}};
}
}  // namespace

TEST_CASE("every decodable fixture decodes to PIL's pixels", "[decode]") {
  int checked = 0;
  for (const auto& entry : manifest().at("images")) {
    if (!entry.at("ok").get<bool>()) continue;
    const std::string file = entry.at("file").get<std::string>();
    DYNAMIC_SECTION(file) {
      const std::vector<uint8_t> bytes = read_fixture(file);
      illust::DecodeOptions options;
      options.alpha_background = manifest_background();
      const illust::DecodeResult image = illust::decode_rgb(bytes.data(), bytes.size(), options);
      INFO(image.message);
      REQUIRE(image.status == illust::Status::ok);
      CHECK(illust::format_name(image.format) == entry.at("format").get<std::string>());
      REQUIRE(image.width == entry.at("width").get<int>());
      REQUIRE(image.height == entry.at("height").get<int>());

      const illust::ProbeResult info = illust::probe(bytes.data(), bytes.size());
      CHECK(info.status == illust::Status::ok);
      CHECK(info.width == image.width);
      CHECK(info.height == image.height);
      if (entry.contains("orientation")) CHECK(info.orientation == entry.at("orientation").get<int>());

      const std::vector<uint8_t> expected = read_fixture(entry.at("expected_rgb").get<std::string>());
      const size_t n = size_t(image.width) * size_t(image.height) * 3;
      REQUIRE(expected.size() == n);
      int max_diff = 0;
      double sum_diff = 0;
      for (size_t i = 0; i < n; ++i) {
        const int d = std::abs(int(image.rgb[i]) - int(expected[i]));
        max_diff = std::max(max_diff, d);
        sum_diff += d;
      }
      INFO("max |diff| " << max_diff << ", mean |diff| " << sum_diff / double(n));
      if (entry.at("compare").get<std::string>() == "exact") {
        CHECK(max_diff == 0);
      } else {
        CHECK(max_diff <= entry.at("tolerance").get<int>());
        CHECK(sum_diff / double(n) < 1.5);
      }
      ++checked;
    }
  }
  CHECK(checked >= 1);
}

TEST_CASE("EXIF orientation swaps the size for 5..8 and not for 1..4", "[decode][exif]") {
  for (int orientation = 1; orientation <= 8; ++orientation) {
    const auto bytes = read_fixture("jpeg_exif_orientation_" + std::to_string(orientation) + ".jpg");
    CHECK(illust::jpeg_exif_orientation(bytes.data(), bytes.size()) == orientation);
    const illust::ProbeResult info = illust::probe(bytes.data(), bytes.size());
    REQUIRE(info.status == illust::Status::ok);
    if (orientation >= 5) CHECK((info.width == 48 && info.height == 64));
    else CHECK((info.width == 64 && info.height == 48));
  }
}

TEST_CASE("apply_orientation matches the EXIF definition on a 3x2 image", "[exif]") {
  // Source, pixel value = its index:   0 1 2
  //                                    3 4 5
  uint8_t src[6 * 3];
  for (int i = 0; i < 6; ++i) src[3 * i] = src[3 * i + 1] = src[3 * i + 2] = uint8_t(i);
  const std::vector<std::vector<int>> expected = {
      {},
      {0, 1, 2, 3, 4, 5},  // 1 identity
      {2, 1, 0, 5, 4, 3},  // 2 mirror left-right
      {5, 4, 3, 2, 1, 0},  // 3 rotate 180
      {3, 4, 5, 0, 1, 2},  // 4 mirror top-bottom
      {0, 3, 1, 4, 2, 5},  // 5 transpose (2x3)
      {3, 0, 4, 1, 5, 2},  // 6 rotate 90 clockwise
      {5, 2, 4, 1, 3, 0},  // 7 transverse
      {2, 5, 1, 4, 0, 3},  // 8 rotate 90 counter-clockwise
  };
  for (int orientation = 1; orientation <= 8; ++orientation) {
    int w = 0, h = 0;
    const illust::PixelBuffer out = illust::apply_orientation(src, 3, 2, 3, orientation, &w, &h);
    REQUIRE(out);
    CHECK(w == (orientation >= 5 ? 2 : 3));
    CHECK(h == (orientation >= 5 ? 3 : 2));
    std::vector<int> got;
    for (int i = 0; i < 6; ++i) got.push_back(out[3 * i]);
    INFO("orientation " << orientation);
    CHECK(got == expected[orientation]);
    // 4 bytes per pixel (to_tensor's RGBX path) moves whole pixels the same way.
    uint8_t src4[6 * 4];
    for (int i = 0; i < 6; ++i) src4[4 * i] = src4[4 * i + 1] = src4[4 * i + 2] = src4[4 * i + 3] = uint8_t(i);
    int w4 = 0, h4 = 0;
    const illust::PixelBuffer out4 = illust::apply_orientation(src4, 3, 2, 4, orientation, &w4, &h4);
    REQUIRE(out4);
    CHECK((w4 == w && h4 == h));
    std::vector<int> got4;
    for (int i = 0; i < 6; ++i) got4.push_back(out4[4 * i + 3]);
    CHECK(got4 == expected[orientation]);
  }
}

TEST_CASE("format sniffing names what it recognises", "[sniff]") {
  auto sniff = [](const std::string& s) {
    return std::string(illust::format_name(illust::sniff_format(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
  };
  CHECK(sniff(std::string("\xFF\xD8\xFF\xE0", 4)) == "jpeg");
  CHECK(sniff("\x89PNG\r\n\x1A\n") == "png");
  CHECK(sniff("GIF89a") == "gif");
  CHECK(sniff("GIF87a") == "gif");
  CHECK(sniff("BM") == "bmp");
  CHECK(sniff("RIFF\x10\x20\x30\x40WEBPVP8L") == "webp");
  CHECK(sniff(std::string("\0\0\0\x20" "ftypavif", 12)) == "avif");
  CHECK(sniff(std::string("\0\0\0\x18" "ftypheic", 12)) == "heic");
  CHECK(sniff(std::string("\0\0\0\x18" "ftypmif1\0\0\0\0mif1", 20)) == "heif");
  CHECK(sniff(std::string("II*\0", 4)) == "tiff");
  CHECK(sniff(std::string("MM\0*", 4)) == "tiff");
  CHECK(sniff(std::string("\xFF\x0A", 2)) == "jxl");
  CHECK(sniff("qoif") == "qoi");
  CHECK(sniff("%PDF-1.7") == "pdf");
  CHECK(sniff("<svg xmlns") == "svg");
  CHECK(sniff("hello") == "unknown");
  CHECK(sniff("RIFF\x10\x20\x30\x40WAVE") == "unknown");
}

TEST_CASE("probe reports the channels the file holds", "[probe]") {
  const std::pair<const char*, int> cases[] = {
      {"jpeg_gray.jpg", 1}, {"jpeg_baseline_420.jpg", 3}, {"png_gray8.png", 1}, {"png_gray_alpha.png", 2},
      {"png_rgb8.png", 3}, {"png_rgba8.png", 4}, {"webp_lossy.webp", 3}, {"webp_lossless_alpha.webp", 4}};
  for (const auto& [file, channels] : cases) {
    const auto bytes = read_fixture(file);
    const illust::ProbeResult p = illust::probe(bytes.data(), bytes.size());
    INFO(file);
    REQUIRE(p.status == illust::Status::ok);
    CHECK(p.channels_in_file == channels);
  }
}
