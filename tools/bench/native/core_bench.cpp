// core_bench.cpp: times the C++ core compiled natively (the "native limit" of decode + preprocess)
// on the benchmark's images, for tools/bench.mjs. It links the very sources the wasm build uses
// (wasm/*.cpp except the Embind bindings) and calls illust::to_tensor, the function behind
// core.toTensor in the browser, so the two figures compare like for like.
//
// Usage: core_bench WARMUP WIDTH HEIGHT RESIZE(squash|letterbox) SCALE MEAN0 MEAN1 MEAN2 STD0 STD1 STD2
//                   PAD0 PAD1 PAD2 BG0 BG1 BG2 < list-of-image-paths
// Output: one line per image, "<wall milliseconds> <CPU milliseconds> <status_name>", in input order.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <time.h>

#include "illust_core.h"

namespace {

// CPU time of this thread: unlike wall time it does not grow when other processes take the CPU.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

std::vector<uint8_t> read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 18) {
    std::fprintf(stderr, "core_bench: expected 17 arguments, got %d (see the file's header)\n", argc - 1);
    return 2;
  }
  const int warmup = std::atoi(argv[1]);
  illust::PreprocessParams params;
  params.width = std::atoi(argv[2]);
  params.height = std::atoi(argv[3]);
  params.resize = std::string(argv[4]) == "letterbox" ? illust::ResizeMode::letterbox : illust::ResizeMode::squash;
  params.scale = std::strtof(argv[5], nullptr);
  for (int c = 0; c < 3; ++c) {
    params.mean[c] = std::strtof(argv[6 + c], nullptr);
    params.std[c] = std::strtof(argv[9 + c], nullptr);
    params.pad_color[c] = static_cast<uint8_t>(std::atoi(argv[12 + c]));
    params.alpha_background[c] = static_cast<uint8_t>(std::atoi(argv[15 + c]));
  }
  std::string message;
  if (illust::validate_params(params, &message) != illust::Status::ok) {
    std::fprintf(stderr, "core_bench: bad parameters: %s\n", message.c_str());
    return 2;
  }

  // All bytes are read before timing, as in the browser suites.
  std::vector<std::vector<uint8_t>> images;
  for (std::string line; std::getline(std::cin, line);) {
    if (!line.empty()) images.push_back(read_file(line));
  }
  if (images.empty()) {
    std::fprintf(stderr, "core_bench: no image paths on stdin\n");
    return 2;
  }

  double checksum = 0;  // keeps the optimiser from dropping the work
  for (int i = 0; i < warmup; ++i) {
    const auto& bytes = images[i % images.size()];
    auto result = illust::to_tensor(bytes.data(), bytes.size(), params);
    if (result.status == illust::Status::ok) checksum += result.tensor[0];
  }
  for (const auto& bytes : images) {
    const double c0 = thread_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    auto result = illust::to_tensor(bytes.data(), bytes.size(), params);
    const auto t1 = std::chrono::steady_clock::now();
    const double c1 = thread_cpu_ms();
    if (result.status == illust::Status::ok) checksum += result.tensor[result.tensor_size - 1];
    std::printf("%.4f %.4f %s\n", std::chrono::duration<double, std::milli>(t1 - t0).count(), c1 - c0,
                illust::status_name(result.status));
  }
  std::fprintf(stderr, "core_bench: checksum %g\n", checksum);
  return 0;
}
