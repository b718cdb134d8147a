// test_tensor.cpp: the whole pipeline (decode, composite, resize, normalise) against Python's way of
// doing it (PIL + numpy float32, computed by the fixture generator) on lossless inputs, with every
// parameter read from model/contract.json; plus the parameter checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "test_support.h"

using test_support::manifest;
using test_support::read_fixture;

namespace {
float max_abs_diff(const float* got, const std::vector<uint8_t>& expected_bytes, size_t n) {
  REQUIRE(expected_bytes.size() == n * sizeof(float));
  float worst = 0;
  for (size_t i = 0; i < n; ++i) {
    float e;
    std::memcpy(&e, expected_bytes.data() + i * sizeof(float), sizeof(float));
    worst = std::max(worst, std::fabs(got[i] - e));
  }
  return worst;
}
}  // namespace

TEST_CASE("tensor equals PIL BOX + float32 normalisation (squash and letterbox)", "[tensor][pil]") {
  const illust::PreprocessParams contract_params = test_support::params_from_contract(test_support::contract());
  const size_t n = size_t(3) * contract_params.width * contract_params.height;
  // One step of the normalised scale: the tolerance below is far tighter than one pixel level.
  const float level = std::fabs(contract_params.scale / contract_params.std[0]);
  for (const auto& ref : manifest().at("tensors")) {
    const std::string file = ref.at("file").get<std::string>();
    const auto bytes = read_fixture(file);
    SECTION(file + " squash") {
      illust::PreprocessParams params = contract_params;
      params.resize = illust::ResizeMode::squash;
      const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
      INFO(t.message);
      REQUIRE(t.status == illust::Status::ok);
      REQUIRE(t.tensor_size == n);
      CHECK(max_abs_diff(t.tensor.get(), read_fixture(ref.at("squash").get<std::string>()), n) <= level * 1e-3f);
    }
    SECTION(file + " letterbox") {
      illust::PreprocessParams params = contract_params;
      params.resize = illust::ResizeMode::letterbox;
      const auto& pad = ref.at("pad_color");
      params.pad_color = {{pad.at(0).get<uint8_t>(), pad.at(1).get<uint8_t>(), pad.at(2).get<uint8_t>()}};
      const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
      REQUIRE(t.status == illust::Status::ok);
      CHECK(max_abs_diff(t.tensor.get(), read_fixture(ref.at("letterbox").get<std::string>()), n) <= level * 1e-3f);
    }
  }
}

TEST_CASE("tensor layout is NCHW with the contract's normalisation", "[tensor]") {
  // Odd mean/std (a negative std too) so a swapped channel or plane shows; compared with the
  // building blocks (decode + resize) normalised here by hand.
  illust::PreprocessParams params;
  params.width = 3;
  params.height = 2;
  params.scale = 0.5f;
  params.mean = {{1.f, 2.f, 3.f}};
  params.std = {{2.f, 4.f, -8.f}};
  const auto bytes = read_fixture("png_rgb8.png");
  const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
  REQUIRE(t.status == illust::Status::ok);
  REQUIRE(t.tensor_size == 18);
  std::vector<uint8_t> resized(3 * 2 * 3);
  const illust::DecodeResult d = illust::decode_rgb(bytes.data(), bytes.size());
  REQUIRE(illust::resize_box_rgb(d.rgb.get(), d.width, d.height, resized.data(), 3, 2));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i)
      CHECK(t.tensor[size_t(c) * 6 + i] == Approx((resized[3 * i + c] * 0.5f - params.mean[c]) / params.std[c]));
}

TEST_CASE("bad parameters are refused with bad_argument", "[tensor][errors]") {
  const auto bytes = read_fixture("png_rgb8.png");
  illust::PreprocessParams params;
  params.width = 0;
  CHECK(illust::to_tensor(bytes.data(), bytes.size(), params).status == illust::Status::bad_argument);
  params = {};
  params.height = 5000;
  CHECK(illust::to_tensor(bytes.data(), bytes.size(), params).status == illust::Status::bad_argument);
  params = {};
  params.std[1] = 0.f;
  const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
  CHECK(t.status == illust::Status::bad_argument);
  CHECK_THAT(t.message, Catch::Contains("std[1] is zero"));
  params = {};
  params.mean[2] = std::nanf("");
  CHECK(illust::to_tensor(bytes.data(), bytes.size(), params).status == illust::Status::bad_argument);
}
