// illust_core.h: the C++ image core of Illust Only. Turns untrusted image bytes (JPEG, PNG, GIF, BMP,
// WebP) into the model's float32 NCHW input tensor, exactly as model/contract.json describes. The same code
// is compiled natively (tests, fuzzing, CLI) and to WebAssembly (web/lib/core.js via wasm/bindings.cpp).
//
// This header is the manual.
//
//   illust::Limits limits;                                  // 50 megapixel cap by default
//   illust::ProbeResult info = illust::probe(bytes, size, limits);          // header only
//   illust::DecodeResult image = illust::decode_rgb(bytes, size, options);  // RGB8, oriented, flattened
//   illust::TensorResult t = illust::to_tensor(bytes, size, params, limits); // [1,3,H,W] float32
//   if (t.status != illust::Status::ok) puts(t.message.c_str());
//
// Failure is a value, never an exception or a crash: every result carries a Status and a human
// message. Nothing here throws (big buffers come from malloc and are checked), nothing keeps global
// state between calls except stb_image's last failure reason, which is read right after each call
// (so: one thread at a time per process, as in a wasm instance). Images are refused with
// Status::too_large from their header alone, before any pixel buffer exists. Inputs that trigger
// known bugs of Debian's stb_image 2.27 (found by our fuzzer) are refused as corrupt before stb runs.
//
// Decoders: stb_image (Debian's libstb-dev) for JPEG, PNG, GIF, BMP; libwebp 1.2.4 (Debian's source
// package with its security patches, decoder only) for WebP: lossy, lossless, with alpha, and the
// first frame of an animation (decoding one frame whatever the frame count), each exactly as PIL
// shows it to the training pipeline (same libwebp, same first-frame canvas; EXIF orientation of
// extended files applied). WebP failures carry libwebp's reason, e.g.
// "corrupt webp: bitstream error (VP8_STATUS_BITSTREAM_ERROR)".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace illust {

// Error codes; the JS side sees status_name() of each (e.g. "unsupported_format").
enum class Status {
  ok,
  empty_input,         // zero bytes
  unsupported_format,  // recognised but not decodable (avif, heic, jxl, tiff, ...) or unknown data
  truncated,           // the data stops before the image does (for WebP: before the RIFF size says)
  corrupt,             // the data is malformed (message carries stb_image's or libwebp's reason)
  too_large,           // width*height over Limits::max_pixels (checked from the header; for WebP the
                       // VP8X canvas, or the VP8/VP8L frame size)
  bad_argument,        // invalid parameters (tensor size 0, std 0, ...)
  out_of_memory,       // an allocation failed
};
const char* status_name(Status status);

// Formats recognised from magic bytes. jpeg, png, gif, bmp and webp are decoded; the rest are named
// in unsupported_format errors ("unsupported format: avif").
enum class Format { unknown, jpeg, png, gif, bmp, webp, avif, heic, heif, jxl, tiff, ico, psd, jp2, qoi, pdf, svg };
const char* format_name(Format format);  // "jpeg", "png", ..., "unknown"
Format sniff_format(const uint8_t* data, size_t size);
bool is_decodable(Format format);

struct Limits {
  // Refuse images whose width*height exceeds this many pixels (checked before allocating).
  uint64_t max_pixels = 50'000'000;
};

// An owned, malloc'ed byte buffer (freed with free). Moves only.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using PixelBuffer = std::unique_ptr<uint8_t[], FreeDeleter>;
using FloatBuffer = std::unique_ptr<float[], FreeDeleter>;

struct ProbeResult {
  Status status = Status::ok;
  std::string message;      // empty when ok
  Format format = Format::unknown;
  int width = 0;            // display size: after EXIF orientation (5..8 swap width and height)
  int height = 0;
  int orientation = 1;      // EXIF orientation 1..8 (JPEG APP1, PNG eXIf, WebP EXIF chunk; 1 otherwise)
  int channels_in_file = 0; // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (as stb_image reports it; WebP 3 or 4)
};

// Reads the header only (plus a structural scan that spots truncated files); allocates no pixels.
// Fails with the same codes decode would give for anything the header shows (format, size, truncation;
// a PNG cut at a chunk boundary inside its image data is found truncated by decode alone).
ProbeResult probe(const uint8_t* data, size_t size, const Limits& limits = Limits{});

struct DecodeOptions {
  Limits limits;
  // Transparent pixels are composited over this opaque colour (contract.preprocess.alpha_background),
  // with the same integer arithmetic as PIL's Image.alpha_composite over an opaque background.
  std::array<uint8_t, 3> alpha_background{{255, 255, 255}};
  // Apply the EXIF orientation tag (all 8 values; JPEG, PNG, WebP, see ProbeResult), as PIL's
  // ImageOps.exif_transpose does.
  bool apply_orientation = true;
};

struct DecodeResult {
  Status status = Status::ok;
  std::string message;
  Format format = Format::unknown;
  int width = 0;
  int height = 0;
  PixelBuffer rgb;  // width*height*3 bytes, row-major, RGB, no padding; null unless ok
};

// Decodes the first frame to 8-bit RGB: 16-bit PNG channels are reduced to 8 bits, gray is
// replicated, palette expanded, alpha composited over options.alpha_background, EXIF orientation applied.
// WebP: the first frame drawn on its canvas (the canvas outside the frame is transparent), composited
// over alpha_background when the file declares alpha, as PIL does.
DecodeResult decode_rgb(const uint8_t* data, size_t size, const DecodeOptions& options = DecodeOptions{});

enum class ResizeMode {
  squash,     // the whole frame is scaled to width x height (aspect ratio not kept)
  letterbox,  // scaled to fit inside, centred, the rest filled with pad_color (PIL ImageOps.pad)
};

// Everything model/contract.json says about preprocessing, as a plain struct (the core reads no JSON).
struct PreprocessParams {
  int width = 224;   // contract.input.width
  int height = 224;  // contract.input.height
  ResizeMode resize = ResizeMode::squash;
  std::array<uint8_t, 3> pad_color{{0, 0, 0}};
  std::array<uint8_t, 3> alpha_background{{255, 255, 255}};
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean{{0.f, 0.f, 0.f}};
  std::array<float, 3> std{{1.f, 1.f, 1.f}};
};
// Checks sizes (1..4096 each side), std != 0, finite numbers. Returns Status::ok or bad_argument with
// a message in *message.
Status validate_params(const PreprocessParams& params, std::string* message);

struct TensorResult {
  Status status = Status::ok;
  std::string message;
  Format format = Format::unknown;
  int width = 0;   // the decoded image's display size (not the tensor's)
  int height = 0;
  FloatBuffer tensor;  // 3*params.height*params.width floats, NCHW with N=1: [c][y][x]; null unless ok
  size_t tensor_size = 0;
};

// decode_rgb + resize (squash or letterbox, PIL Image.BOX) + normalise:
// value = (pixel * scale - mean[c]) / std[c].
TensorResult to_tensor(const uint8_t* data, size_t size, const PreprocessParams& params,
                       const Limits& limits = Limits{});

// --- building blocks, public for tests and benchmarks ---

// Resizes RGB8 (in_w x in_h) to RGB8 (out_w x out_h) with PIL's Image.BOX resampling, bit-exact with
// Pillow's two-pass fixed-point implementation (horizontal pass to an 8-bit buffer, then vertical).
// `out` must hold out_w*out_h*3 bytes. Returns false when a temporary buffer cannot be allocated.
bool resize_box_rgb(const uint8_t* in, int in_w, int in_h, uint8_t* out, int out_w, int out_h);
// The same on 4-byte pixels (RGBX: the 4th byte is resized like the others), which to_tensor uses
// internally because a pixel then fits one SIMD vector. Identical results on the RGB bytes.
bool resize_box_rgbx(const uint8_t* in, int in_w, int in_h, uint8_t* out, int out_w, int out_h);

// Letterbox geometry of PIL's ImageOps.pad(img, (dst_w, dst_h), centering=(0.5, 0.5)): the size the
// image is scaled to and its top-left offset inside the destination.
struct LetterboxBox {
  int width, height, x, y;
};
LetterboxBox letterbox_box(int src_w, int src_h, int dst_w, int dst_h);

// EXIF orientation (1..8) from a JPEG's APP1 segment; 1 when absent or unreadable. Bounds-checked.
int jpeg_exif_orientation(const uint8_t* data, size_t size);
// The same from an extended WebP's EXIF chunk (only when VP8X's EXIF flag is set, as libwebp's
// demuxer and so PIL read it); 1 when absent or unreadable. Bounds-checked.
int webp_exif_orientation(const uint8_t* data, size_t size);
// The same from a PNG's eXIf chunk, wherever it sits before IEND (as PIL reads it); 1 when absent or
// unreadable. Bounds-checked.
int png_exif_orientation(const uint8_t* data, size_t size);

// Applies EXIF orientation to an image of `bytes_per_pixel` (3 or 4) interleaved bytes. Returns a new
// buffer (null when out of memory) and sets *out_w/*out_h; orientation 1 (or invalid) returns a copy.
PixelBuffer apply_orientation(const uint8_t* in, int w, int h, int bytes_per_pixel, int orientation, int* out_w,
                              int* out_h);

}  // namespace illust
