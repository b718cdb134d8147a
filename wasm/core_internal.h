// core_internal.h: helpers shared by the core's .cpp files but not part of the public API in
// illust_core.h (structure scanning is an implementation detail of how we classify failures).
#pragma once

#include <string>

#include "illust_core.h"

namespace illust {

// Result of walking a file's container structure (markers, chunks, blocks) without decoding pixels.
// `invalid`: the structure holds something known to break stb_image 2.27 (Debian 12's copy; fixed
// upstream later), which we refuse before stb sees it; *problem then says what. `unsupported`: a valid
// variant of the format that stb does not decode (lossless or arithmetic-coded JPEG, RLE BMP, ...);
// *problem names it.
enum class Structure { complete, truncated, unknown, invalid, unsupported };
Structure scan_structure(Format format, const uint8_t* data, size_t size, std::string* problem = nullptr);

// True when 0 < size < magic length and the bytes are a prefix of a decodable format's magic.
bool is_truncated_magic(const uint8_t* data, size_t size);

// Image size from the header alone (PNG IHDR, GIF canvas (below), BMP info header, JPEG SOFn),
// before stb_image runs, so the pixel cap can refuse an image with its size in the message even when
// the rest of the header is unreadable. False when the header is too short or has no size.
bool read_header_size(Format format, const uint8_t* data, size_t size, uint64_t* width, uint64_t* height);

// GIF: the canvas its first frame is decoded on: the logical screen, grown to hold the first frame when
// the frame reaches past it (some encoders write a 0x0 or too small screen; browsers and PIL, which
// training reads with, show the frame, where stb_image refuses it). False when the header is too short.
bool gif_canvas_size(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height);

// GIF: what PIL (training) shows around a first frame that does not cover its screen: nothing when the
// frame has a transparent index (rgba 0,0,0,0: alpha_background, as browsers show it), else the first
// colour of the frame's palette, opaque. stb_image paints there the colour of the screen's background
// index with red and blue swapped, so the core paints it over. False when the frame covers the screen
// or the file breaks before the frame.
struct GifBackdrop {
  uint32_t left = 0, top = 0, width = 0, height = 0;  // the first frame on the screen
  uint8_t rgba[4] = {0, 0, 0, 0};                      // every pixel outside it
};
bool gif_first_frame_backdrop(const uint8_t* data, size_t size, GifBackdrop* backdrop);

// BMP: a 32-bit BI_RGB file's fourth byte is padding: browsers and PIL show it opaque, where stb_image
// reads it as alpha whenever any pixel's is non-zero.
bool bmp_alpha_ignored(const uint8_t* data, size_t size);

// Files stb_image refuses but browsers and PIL show, repaired on a copy before stb reads them:
// - GIF: the logical screen grown to gif_canvas_size's;
// - PNG: chunks that end whole after image data without IEND, or inside IEND (a writer that stopped
//   early), get a whole IEND. One cut inside its image data stays truncated: stb finds too few pixels.
//   A palette PNG whose PLTE is shorter than its bit depth can index gets the missing entries as PIL
//   shows them (grey i,i,i), where stb would read them from uninitialised memory.
// - BMP with a palette: one stb reads in full (the file's entries, then PIL's grey for the missing ones),
//   where stb would read entries past the ones it counts (four fewer than an OS/2 file holds) from
//   uninitialised memory.
// - JPEG of four components: an Adobe APP14 segment before the first scan naming the colour transform
//   libjpeg assumes (CMYK without one, YCCK for a transform other than 0 or 2), where stb would read
//   the components as YCbCr.
struct RepairedBytes {
  PixelBuffer bytes;  // null: nothing repaired (or out of memory)
  size_t size = 0;
  bool out_of_memory = false;
  bool png_end_added = false;  // a PNG got its IEND: a decode failure then most likely means a cut file
};
// `data` itself when nothing needs repair, else copy->bytes; copy->out_of_memory when the copy could not
// be allocated.
const uint8_t* repaired_for_stb(Format format, const uint8_t* data, size_t size, RepairedBytes* copy);

// --- WebP, decoded by libwebp (webp_decode.cpp, the one file that includes it) ---
struct WebpFeatures {
  int width = 0, height = 0;  // the VP8X canvas, or the VP8/VP8L frame of a simple file
  bool has_alpha = false;
  bool animated = false;
};
// libwebp's WebPGetFeatures: header only, no allocation. ok, or corrupt/out_of_memory with libwebp's
// reason (its VP8StatusCode as text) in *reason. Call it after scan_structure found the RIFF complete:
// "not enough data" then means a chunk too short for its own header, i.e. corrupt.
Status webp_features(const uint8_t* data, size_t size, WebpFeatures* features, std::string* reason);

struct WebpImage {
  int width = 0, height = 0;  // the canvas
  bool has_alpha = false;     // the demuxer's ALPHA flag: PIL shows the file as RGBA only then
  PixelBuffer rgba;           // width*height*4, straight alpha; outside the first frame: 0,0,0,0
};
// The first frame on its canvas, as PIL's WebPAnimDecoder gives it. The canvas size is checked against
// `limits` before its buffer exists (too_large then carries "WxH" in *reason). Failures: corrupt,
// truncated, too_large, out_of_memory, with the reason in *reason.
Status webp_decode_first_frame(const uint8_t* data, size_t size, const Limits& limits, WebpImage* out,
                               std::string* reason);

// A cap on each block stb_image allocates while this object lives (stb_image_impl.cpp). A PNG's pixels
// are checked against the pixel cap from its header, but its zlib stream may inflate far beyond them:
// stb keeps doubling its output buffer (a 0.3 MB "1x1" PNG grew the wasm heap past 1 GB, which never
// shrinks). With the cap the decode fails instead, and exceeded() says the cap was why.
class StbAllocationBudget {
 public:
  explicit StbAllocationBudget(size_t max_block_bytes);
  ~StbAllocationBudget();
  StbAllocationBudget(const StbAllocationBudget&) = delete;
  StbAllocationBudget& operator=(const StbAllocationBudget&) = delete;
  bool exceeded() const;
};

// While this object lives, stb_image's GIF loader gets one block for two canvases. Loading the first
// frame (stbi__gif_load, 2.27) it allocates the output canvas, a "background" canvas of the same size
// and a byte per pixel of history, and zeroes them; the background is only read when a later frame is
// composed, which the single-frame loader never does. Handing it the output's block (both are zeroed
// before the frame is drawn) and skipping one of the two frees of that block takes the peak from 9 to
// 5 bytes a pixel: 440 MiB to 250 MiB for a 49-megapixel GIF (tools/bench/decode-memory.mjs).
// `canvas_bytes`: 4 * width * height of the screen stb decodes; any other size is allocated as usual.
class StbGifFirstFrame {
 public:
  explicit StbGifFirstFrame(size_t canvas_bytes);
  ~StbGifFirstFrame();
  StbGifFirstFrame(const StbGifFirstFrame&) = delete;
  StbGifFirstFrame& operator=(const StbGifFirstFrame&) = delete;
};

// The largest block stb_image needs to decode this PNG (header already probed), with room for
// interlacing and stb's buffer doubling; 0 when the IHDR cannot be read.
size_t png_decode_block_budget(const uint8_t* data, size_t size);

// stb_image's header reader for one known format (keeps its failure reason; stb_image_impl.cpp).
int stb_info_for_format(Format format, const uint8_t* data, int len, int* x, int* y, int* comp);

}  // namespace illust
