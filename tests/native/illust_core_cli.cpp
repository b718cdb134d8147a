// illust_core_cli.cpp: the native core on the command line, printing one JSON object per input file.
// The node tests run it next to the wasm build on the same files and compare results field by field
// (and tensor bytes through --dump), which is how we know both builds of the one core agree.
//
//   build/native/illust_core_cli [--mode probe|decode|tensor] [--contract model/contract.json]
//       [--resize squash|letterbox] [--pad R,G,B] [--max-pixels N] [--dump DIR] FILE...
//
// tensor (default): {"file","ok","format","width","height","dims","sum","min","max","fnv1a"}
// decode:           {"file","ok","format","width","height","fnv1a"} (RGB bytes; --dump writes .rgb)
// errors:           {"file","ok":false,"code","message"}. Exit status 0 unless the arguments are wrong.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "illust_core.h"

namespace {

uint64_t fnv1a(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool read_file(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool write_file(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), std::streamsize(size));
  return bool(out);
}

std::array<uint8_t, 3> rgb_from_json(const nlohmann::json& j) {
  return {{j.at(0).get<uint8_t>(), j.at(1).get<uint8_t>(), j.at(2).get<uint8_t>()}};
}

int usage() {
  std::fprintf(stderr,
               "usage: illust_core_cli [--mode probe|decode|tensor] [--contract FILE] [--resize squash|letterbox]\n"
               "                       [--pad R,G,B] [--max-pixels N] [--dump DIR] FILE...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "tensor", contract_path, resize_override, pad_override, dump_dir;
  illust::Limits limits;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--mode") mode = value();
    else if (arg == "--contract") contract_path = value();
    else if (arg == "--resize") resize_override = value();
    else if (arg == "--pad") pad_override = value();
    else if (arg == "--max-pixels") limits.max_pixels = std::stoull(value());
    else if (arg == "--dump") dump_dir = value();
    else if (arg == "--help" || arg == "-h") return usage();
    else if (!arg.empty() && arg[0] == '-') return usage();
    else files.push_back(arg);
  }
  if (files.empty() || (mode != "probe" && mode != "decode" && mode != "tensor")) return usage();

  illust::PreprocessParams params;
  if (!contract_path.empty()) {
    std::ifstream in(contract_path);
    if (!in) {
      std::fprintf(stderr, "illust_core_cli: cannot read %s\n", contract_path.c_str());
      return 2;
    }
    try {
      const nlohmann::json contract = nlohmann::json::parse(in);
      const auto& pre = contract.at("preprocess");
      params.width = contract.at("input").at("width").get<int>();
      params.height = contract.at("input").at("height").get<int>();
      params.resize = pre.at("resize").get<std::string>() == "letterbox" ? illust::ResizeMode::letterbox
                                                                         : illust::ResizeMode::squash;
      params.pad_color = rgb_from_json(pre.at("pad_color"));
      params.alpha_background = rgb_from_json(pre.at("alpha_background"));
      params.scale = pre.at("scale").get<float>();
      for (int c = 0; c < 3; ++c) {
        params.mean[c] = pre.at("mean").at(c).get<float>();
        params.std[c] = pre.at("std").at(c).get<float>();
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "illust_core_cli: bad contract %s: %s\n", contract_path.c_str(), e.what());
      return 2;
    }
  }
  if (resize_override == "letterbox") params.resize = illust::ResizeMode::letterbox;
  else if (resize_override == "squash") params.resize = illust::ResizeMode::squash;
  else if (!resize_override.empty()) return usage();
  if (!pad_override.empty()) {
    unsigned r, g, b;
    if (std::sscanf(pad_override.c_str(), "%u,%u,%u", &r, &g, &b) != 3 || r > 255 || g > 255 || b > 255) return usage();
    params.pad_color = {{uint8_t(r), uint8_t(g), uint8_t(b)}};
  }

  for (const std::string& file : files) {
    nlohmann::json out;
    out["file"] = file;
    std::vector<uint8_t> bytes;
    if (!read_file(file, &bytes)) {
      std::fprintf(stderr, "illust_core_cli: cannot read %s\n", file.c_str());
      return 2;
    }
    auto error = [&](illust::Status st, const std::string& message) {
      out["ok"] = false;
      out["code"] = illust::status_name(st);
      out["message"] = message;
    };
    if (mode == "probe") {
      const illust::ProbeResult r = illust::probe(bytes.data(), bytes.size(), limits);
      if (r.status != illust::Status::ok) error(r.status, r.message);
      else out.update({{"ok", true}, {"format", illust::format_name(r.format)}, {"width", r.width}, {"height", r.height},
                       {"orientation", r.orientation}});
    } else if (mode == "decode") {
      illust::DecodeOptions options;
      options.limits = limits;
      options.alpha_background = params.alpha_background;
      const illust::DecodeResult r = illust::decode_rgb(bytes.data(), bytes.size(), options);
      if (r.status != illust::Status::ok) {
        error(r.status, r.message);
      } else {
        const size_t n = size_t(r.width) * size_t(r.height) * 3;
        out.update({{"ok", true}, {"format", illust::format_name(r.format)}, {"width", r.width}, {"height", r.height},
                    {"fnv1a", hex64(fnv1a(r.rgb.get(), n))}});
        if (!dump_dir.empty()) write_file(dump_dir + "/" + base_name(file) + ".rgb", r.rgb.get(), n);
      }
    } else {
      const illust::TensorResult r = illust::to_tensor(bytes.data(), bytes.size(), params, limits);
      if (r.status != illust::Status::ok) {
        error(r.status, r.message);
      } else {
        double sum = 0;
        float lo = r.tensor[0], hi = r.tensor[0];
        for (size_t i = 0; i < r.tensor_size; ++i) {
          sum += r.tensor[i];
          lo = std::min(lo, r.tensor[i]);
          hi = std::max(hi, r.tensor[i]);
        }
        out.update({{"ok", true}, {"format", illust::format_name(r.format)}, {"width", r.width}, {"height", r.height},
                    {"dims", {1, 3, params.height, params.width}}, {"sum", sum}, {"min", lo}, {"max", hi},
                    {"fnv1a", hex64(fnv1a(r.tensor.get(), r.tensor_size * sizeof(float)))}});
        if (!dump_dir.empty()) write_file(dump_dir + "/" + base_name(file) + ".f32", r.tensor.get(), r.tensor_size * sizeof(float));
      }
    }
    // Messages are ASCII, but a file name need not be UTF-8: replace rather than throw.
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  return 0;
}
