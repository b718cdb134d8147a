// test_resize.cpp: the BOX resize must equal Pillow's Image.BOX bit for bit. Hand-computed cases pin
// Pillow's exact semantics (pixel-centre membership, not fractional area; 22-bit fixed point with a
// half added before the shift), then PIL's own outputs on random and smooth images of awkward sizes.
#include <catch2/catch.hpp>

#include <algorithm>

#include "test_support.h"

using test_support::manifest;
using test_support::read_fixture;

namespace {
// Resizes a one-row gray image (R=G=B) and returns the red channel.
std::vector<int> resize_row(const std::vector<int>& row, int out_w) {
  std::vector<uint8_t> in;
  for (int v : row) in.insert(in.end(), {uint8_t(v), uint8_t(v), uint8_t(v)});
  std::vector<uint8_t> out(size_t(out_w) * 3);
  REQUIRE(illust::resize_box_rgb(in.data(), int(row.size()), 1, out.data(), out_w, 1));
  std::vector<int> result;
  for (int x = 0; x < out_w; ++x) result.push_back(out[3 * x]);
  return result;
}
}  // namespace

TEST_CASE("BOX resize: hand-computed values", "[resize]") {
  // 4 -> 2: plain averages of pairs; (200+255)/2 = 227.5 rounds up (a half is added before the shift).
  CHECK(resize_row({0, 100, 200, 255}, 2) == std::vector<int>{50, 228});
  // 3 -> 2: scale 1.5. Output 0 covers [0,1.5): centres 0.5 and 1.5 both count (Pillow includes
  // x - centre + 0.5 == 0.5); output 1 gets only pixel 2.
  CHECK(resize_row({10, 20, 90}, 2) == std::vector<int>{15, 90});
  // 2 -> 4: upscaling replicates (each output centre falls in one input pixel).
  CHECK(resize_row({7, 99}, 4) == std::vector<int>{7, 7, 99, 99});
  // 6 -> 3: averages of pairs; 6 -> 1: mean of all, (1+2+3+4+5+6)/6 = 3.5 -> 4.
  CHECK(resize_row({1, 3, 5, 7, 9, 11}, 3) == std::vector<int>{2, 6, 10});
  CHECK(resize_row({1, 2, 3, 4, 5, 6}, 1) == std::vector<int>{4});
  // 5 -> 2: scale 2.5, output 0 centre 1.25 takes pixels 0,1,2 (centres 0.5, 1.5, 2.5);
  // output 1 centre 3.75 takes pixels 3,4: (30+40+50)/3 = 40, (60+70)/2 = 65.
  CHECK(resize_row({30, 40, 50, 60, 70}, 2) == std::vector<int>{40, 65});
}

TEST_CASE("BOX resize: 2-D, channels independent, constant images stay constant", "[resize]") {
  // 2x2 -> 1x1 averages all four pixels per channel.
  const uint8_t in[] = {0, 10, 255, 100, 20, 255, 200, 30, 0, 255, 40, 0};
  uint8_t out[3];
  REQUIRE(illust::resize_box_rgb(in, 2, 2, out, 1, 1));
  CHECK(int(out[0]) == 139);  // (0+100+200+255)/4 = 138.75
  CHECK(int(out[1]) == 25);   // (10+20+30+40)/4 = 25
  CHECK(int(out[2]) == 128);  // (255+255)/4 = 127.5 -> 128
  std::vector<uint8_t> flat(101 * 67 * 3);
  for (size_t i = 0; i < flat.size(); i += 3) { flat[i] = 12; flat[i + 1] = 200; flat[i + 2] = 255; }
  std::vector<uint8_t> resized(224 * 224 * 3);
  REQUIRE(illust::resize_box_rgb(flat.data(), 101, 67, resized.data(), 224, 224));
  for (size_t i = 0; i < resized.size(); i += 3) {
    REQUIRE(int(resized[i]) == 12);
    REQUIRE(int(resized[i + 1]) == 200);
    REQUIRE(int(resized[i + 2]) == 255);
  }
}

TEST_CASE("BOX resize equals PIL Image.BOX exactly", "[resize][pil]") {
  int checked = 0;
  for (const auto& ref : manifest().at("resizes")) {
    const std::string name = ref.at("out").get<std::string>();
    DYNAMIC_SECTION(name) {
      const int iw = ref.at("in_width"), ih = ref.at("in_height"), ow = ref.at("out_width"), oh = ref.at("out_height");
      const auto in = read_fixture(ref.at("in").get<std::string>());
      const auto expected = read_fixture(name);
      REQUIRE(in.size() == size_t(iw) * ih * 3);
      REQUIRE(expected.size() == size_t(ow) * oh * 3);
      std::vector<uint8_t> out(expected.size());
      REQUIRE(illust::resize_box_rgb(in.data(), iw, ih, out.data(), ow, oh));
      size_t mismatches = 0;
      for (size_t i = 0; i < out.size(); ++i) mismatches += out[i] != expected[i];
      CHECK(mismatches == 0);
      // The RGBX (SIMD) variant that to_tensor uses must give the same RGB bytes.
      std::vector<uint8_t> in4(size_t(iw) * ih * 4), out4(size_t(ow) * oh * 4);
      for (size_t i = 0; i < size_t(iw) * ih; ++i) {
        std::copy_n(&in[3 * i], 3, &in4[4 * i]);
        in4[4 * i + 3] = uint8_t(255 - in[3 * i]);
      }
      REQUIRE(illust::resize_box_rgbx(in4.data(), iw, ih, out4.data(), ow, oh));
      size_t mismatches4 = 0;
      for (size_t i = 0; i < size_t(ow) * oh; ++i)
        for (int c = 0; c < 3; ++c) mismatches4 += out4[4 * i + c] != expected[3 * i + c];
      CHECK(mismatches4 == 0);
      ++checked;
    }
  }
  CHECK(checked >= 1);
}

TEST_CASE("letterbox geometry equals PIL ImageOps.pad", "[resize][letterbox]") {
  for (const auto& ref : manifest().at("letterboxes")) {
    const auto& src = ref.at("src");
    const auto& dst = ref.at("dst");
    const auto& box = ref.at("box");
    const illust::LetterboxBox got = illust::letterbox_box(src.at(0), src.at(1), dst.at(0), dst.at(1));
    INFO(src.dump() << " -> " << dst.dump());
    CHECK(got.width == box.at(0).get<int>());
    CHECK(got.height == box.at(1).get<int>());
    CHECK(got.x == box.at(2).get<int>());
    CHECK(got.y == box.at(3).get<int>());
  }
}

TEST_CASE("BOX resize refuses invalid sizes", "[resize]") {
  uint8_t px[3] = {1, 2, 3}, out[3];
  CHECK_FALSE(illust::resize_box_rgb(px, 0, 1, out, 1, 1));
  CHECK_FALSE(illust::resize_box_rgb(px, 1, 1, out, 0, 1));
  CHECK_FALSE(illust::resize_box_rgb(nullptr, 1, 1, out, 1, 1));
}
