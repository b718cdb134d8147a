// test_webp.cpp: WebP through libwebp, beyond the pixel comparisons of test_formats.cpp (which hold
// every WebP fixture to PIL's pixels exactly): hostile headers are refused from the header, an
// animation costs one frame whatever its frame count, damaged bitstreams are values with libwebp's
// reason, and a RIFF file that is not WebP says what it is.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

using test_support::read_fixture;

namespace {

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }

// A simple-format WebP holding one chunk (tag + payload), with a correct RIFF size.
std::vector<uint8_t> webp_with_chunk(const char* tag, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(tag[i]));
  const uint32_t size = uint32_t(payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(size >> (8 * i)));
  out.insert(out.end(), payload.begin(), payload.end());
  if (size & 1) out.push_back(0);
  const uint32_t riff = uint32_t(out.size() - 8);
  for (int i = 0; i < 4; ++i) out[4 + size_t(i)] = uint8_t(riff >> (8 * i));
  return out;
}

// The payload of a simple-format file's first chunk (VP8 or VP8L), as written by PIL.
std::vector<uint8_t> first_chunk_payload(const std::vector<uint8_t>& file, const char* tag) {
  REQUIRE(file.size() > 20);
  REQUIRE(std::memcmp(file.data() + 12, tag, 4) == 0);
  const uint32_t size = le32(file.data() + 16);
  REQUIRE(20 + size_t(size) <= file.size());
  return std::vector<uint8_t>(file.begin() + 20, file.begin() + 20 + size);
}

}  // namespace

TEST_CASE("a WebP header claiming 30000x30000 is refused from the header alone", "[webp][limits]") {
  // The file is the 30-byte header and nothing else: the size can only have come from VP8X.
  const auto bytes = read_fixture("huge_30000x30000.webp");
  REQUIRE(bytes.size() == 30);
  const illust::PreprocessParams params = test_support::params_from_contract(test_support::contract());
  const long rss_before = peak_rss_kib();
  const illust::ProbeResult p = illust::probe(bytes.data(), bytes.size());
  const illust::DecodeResult d = illust::decode_rgb(bytes.data(), bytes.size());
  const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
  CHECK(p.status == illust::Status::too_large);
  CHECK(p.message == "image too large: 30000x30000 exceeds 50 megapixels");
  CHECK(d.status == illust::Status::too_large);
  CHECK(d.message == p.message);
  CHECK(t.status == illust::Status::too_large);
  CHECK_FALSE(d.rgb);
  // A 30000x30000 RGBA canvas is 3.6 GB; nothing close to that may have been touched.
  CHECK(peak_rss_kib() - rss_before < 64 * 1024);
  // The cap applies to the header's size wherever it is: a smaller cap refuses a real file too.
  const auto lossy = read_fixture("webp_lossy.webp");  // 64 x 48
  illust::Limits limits;
  limits.max_pixels = 64 * 48 - 1;
  CHECK(illust::probe(lossy.data(), lossy.size(), limits).message == "image too large: 64x48 exceeds 3071 pixels");
  limits.max_pixels = 64 * 48;
  CHECK(illust::probe(lossy.data(), lossy.size(), limits).status == illust::Status::ok);
}

TEST_CASE("a 1,000-frame animated WebP decodes its first frame in bounded time and memory", "[webp][animation]") {
  // Frames 2..1000 hold garbage behind valid VP8L headers: decoding any of them would fail.
  const auto bytes = read_fixture("webp_animated_1000_frames.webp");
  const illust::PreprocessParams params = test_support::params_from_contract(test_support::contract());
  const long rss_before = peak_rss_kib();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const illust::TensorResult t = illust::to_tensor(bytes.data(), bytes.size(), params);
    REQUIRE(t.status == illust::Status::ok);
    REQUIRE((t.width == 24 && t.height == 16));
  }
  const double ms_each = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 20;
  INFO("decode + tensor of the 1000-frame file: " << ms_each << " ms each");
  CHECK(ms_each < 100);  // ~3 ms on the loaded 2-core machine; decoding any later frame would fail outright
  CHECK(peak_rss_kib() - rss_before < 32 * 1024);
}

TEST_CASE("random bytes after a valid WebP header are corrupt (almost always), never a crash", "[webp][robustness]") {
  std::mt19937 rng(7);
  const std::vector<uint8_t> header = first_chunk_payload(read_fixture("webp_lossless.webp"), "VP8L");
  const std::vector<uint8_t> lossy = first_chunk_payload(read_fixture("webp_lossy.webp"), "VP8 ");
  int lossless_corrupt = 0;
  for (int round = 0; round < 200; ++round) {
    // Lossless: the 5-byte VP8L header (signature, size, flags), then noise.
    std::vector<uint8_t> payload(header.begin(), header.begin() + 5);
    const size_t noise = 16 + rng() % 2000;
    for (size_t i = 0; i < noise; ++i) payload.push_back(uint8_t(rng()));
    const auto file = webp_with_chunk("VP8L", payload);
    const illust::DecodeResult d = illust::decode_rgb(file.data(), file.size());
    INFO("round " << round << ": " << d.message);
    if (d.status == illust::Status::ok) {
      REQUIRE((d.rgb && d.width == 37 && d.height == 23));  // noise that happens to be a valid bitstream
    } else {
      REQUIRE_FALSE(d.rgb);
      REQUIRE(d.status == illust::Status::corrupt);
      REQUIRE(d.message.rfind("corrupt webp: ", 0) == 0);
      ++lossless_corrupt;
    }
    // Lossy: the 10-byte VP8 frame header, then noise. VP8's arithmetic decoder has no checksum, so
    // noise may decode to noise; whatever the outcome, it is a value.
    std::vector<uint8_t> vp8(lossy.begin(), lossy.begin() + 10);
    for (size_t i = 0; i < noise; ++i) vp8.push_back(uint8_t(rng()));
    const auto lossy_file = webp_with_chunk("VP8 ", vp8);
    const illust::DecodeResult l = illust::decode_rgb(lossy_file.data(), lossy_file.size());
    if (l.status == illust::Status::ok) REQUIRE((l.rgb && l.width == 64 && l.height == 48));
    else REQUIRE_FALSE(l.message.empty());
  }
  // VP8L has no checksum either, but its Huffman headers reject nearly all noise (198 of 200 here).
  CHECK(lossless_corrupt >= 190);
}

TEST_CASE("WebP errors name the problem", "[webp][errors]") {
  const auto wav = read_fixture("riff_wave.wav");
  CHECK(illust::probe(wav.data(), wav.size()).message == "unsupported format: unknown (a RIFF WAVE file, not WebP)");
  const auto cut = read_fixture("truncated.webp");
  const illust::DecodeResult d = illust::decode_rgb(cut.data(), cut.size());
  CHECK(d.status == illust::Status::truncated);
  CHECK(d.message == "truncated webp: data ends before the image does");
  const auto bitstream = read_fixture("corrupt_lossless_bitstream.webp");
  CHECK(illust::decode_rgb(bitstream.data(), bitstream.size()).message ==
        "corrupt webp: bitstream error (VP8_STATUS_BITSTREAM_ERROR)");
  // A complete RIFF whose VP8 chunk is too short for a frame header: damage, not a cut file.
  const auto stub = webp_with_chunk("VP8 ", {0x10, 0x02, 0x00, 0x9D, 0x01});
  const illust::ProbeResult p = illust::probe(stub.data(), stub.size());
  CHECK(p.status == illust::Status::corrupt);
  CHECK(p.message == "corrupt webp: not enough data (VP8_STATUS_NOT_ENOUGH_DATA)");
  CHECK(illust::decode_rgb(stub.data(), stub.size()).status == illust::Status::corrupt);
  // Trailing bytes after the RIFF's end are not part of the image (libwebp ignores them too).
  auto padded = read_fixture("webp_lossless.webp");
  padded.insert(padded.end(), 100, 0xAB);
  CHECK(illust::decode_rgb(padded.data(), padded.size()).status == illust::Status::ok);
}

TEST_CASE("WebP EXIF orientation is read from the EXIF chunk only when VP8X announces it", "[webp][exif]") {
  auto bytes = read_fixture("webp_exif_orientation_6.webp");
  CHECK(illust::webp_exif_orientation(bytes.data(), bytes.size()) == 6);
  const illust::ProbeResult p = illust::probe(bytes.data(), bytes.size());
  CHECK((p.orientation == 6 && p.width == 48 && p.height == 64));
  REQUIRE(std::memcmp(bytes.data() + 12, "VP8X", 4) == 0);
  bytes[20] &= uint8_t(~0x08);  // clear the EXIF flag: libwebp's demuxer (and so PIL) ignores the chunk
  CHECK(illust::webp_exif_orientation(bytes.data(), bytes.size()) == 1);
  const auto plain = read_fixture("webp_lossy.webp");
  CHECK(illust::webp_exif_orientation(plain.data(), plain.size()) == 1);
}
