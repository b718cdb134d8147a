// test_main.cpp: Catch2 v2's main for core_tests, plus the fixture/contract helpers of test_support.h.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "test_support.h"

namespace test_support {

namespace {
std::string env_or_throw(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) throw std::runtime_error(std::string(name) + " is not set: run the tests through ctest");
  return value;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return nlohmann::json::parse(in);
}
}  // namespace

std::string fixture_dir() { return env_or_throw("ILLUST_CORE_FIXTURES"); }

const nlohmann::json& manifest() {
  static const nlohmann::json m = read_json(fixture_dir() + "/manifest.json");
  return m;
}

std::vector<uint8_t> read_fixture(const std::string& name) {
  const std::string path = fixture_dir() + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read fixture " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const nlohmann::json& contract() {
  static const nlohmann::json c = read_json(env_or_throw("ILLUST_CONTRACT"));
  return c;
}

static std::array<uint8_t, 3> rgb(const nlohmann::json& j) {
  return {{j.at(0).get<uint8_t>(), j.at(1).get<uint8_t>(), j.at(2).get<uint8_t>()}};
}

illust::PreprocessParams params_from_contract(const nlohmann::json& c) {
  illust::PreprocessParams p;
  const auto& pre = c.at("preprocess");
  p.width = c.at("input").at("width").get<int>();
  p.height = c.at("input").at("height").get<int>();
  const std::string resize = pre.at("resize").get<std::string>();
  if (resize != "squash" && resize != "letterbox") throw std::runtime_error("contract resize: " + resize);
  p.resize = resize == "letterbox" ? illust::ResizeMode::letterbox : illust::ResizeMode::squash;
  p.pad_color = rgb(pre.at("pad_color"));
  p.alpha_background = rgb(pre.at("alpha_background"));
  p.scale = pre.at("scale").get<float>();
  for (int i = 0; i < 3; ++i) {
    p.mean[i] = pre.at("mean").at(i).get<float>();
    p.std[i] = pre.at("std").at(i).get<float>();
  }
  return p;
}

std::array<uint8_t, 3> contract_alpha_background() { return rgb(contract().at("preprocess").at("alpha_background")); }

}  // namespace test_support
