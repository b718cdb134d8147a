// stb_image_impl.cpp: the one translation unit that compiles Debian's stb_image (libstb-dev, included
// as <stb_image.h> with -I/usr/include/stb; never a vendored copy). Only the four formats we decode are
// compiled in, which keeps hostile-input surface and wasm size small; no stdio (we decode from memory).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_GIF
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
// Zeroed allocations: stb_image 2.27's progressive JPEG decoder reads coefficient blocks that a
// corrupt file never wrote, so without this the same bytes decode to "ok" or "corrupt" depending on
// what the heap held before (fuzzer-found; tests/native/test_errors.cpp). The zeroing was within noise
// in a native A/B over 200 real JPEGs, with identical tensors.
// Every block also obeys the decode's allocation budget (see StbAllocationBudget in core_internal.h).
#include <climits>
#include <cstdlib>

#include "core_internal.h"

namespace illust {
namespace {
size_t stb_allocation_limit = SIZE_MAX;  // wasm runs one decode at a time per instance; native tests too
bool stb_allocation_refused = false;

// StbGifFirstFrame's state: the canvas size, the canvas stb got, whether its "background" is that same
// block, and whether the one free() too many (stb frees both names) has been skipped.
size_t gif_canvas_bytes = 0;
void* gif_canvas = nullptr;
bool gif_background_shared = false;
bool gif_extra_free_skipped = false;

void* stb_budget_malloc(size_t size) {
  if (size > stb_allocation_limit) {
    stb_allocation_refused = true;
    return nullptr;
  }
  if (gif_canvas_bytes && size == gif_canvas_bytes && gif_canvas && !gif_background_shared) {
    gif_background_shared = true;
    return gif_canvas;
  }
  void* block = std::calloc(1, size);
  if (gif_canvas_bytes && size == gif_canvas_bytes && !gif_canvas) gif_canvas = block;
  return block;
}

void stb_free(void* p) {
  if (p && p == gif_canvas && gif_background_shared && !gif_extra_free_skipped) {
    gif_extra_free_skipped = true;
    return;
  }
  std::free(p);
}

void* stb_budget_realloc(void* p, size_t size) {
  if (size > stb_allocation_limit) {
    stb_allocation_refused = true;
    return nullptr;
  }
  return std::realloc(p, size);
}
}  // namespace

StbAllocationBudget::StbAllocationBudget(size_t max_block_bytes) {
  stb_allocation_limit = max_block_bytes;
  stb_allocation_refused = false;
}

StbAllocationBudget::~StbAllocationBudget() { stb_allocation_limit = SIZE_MAX; }

bool StbAllocationBudget::exceeded() const { return stb_allocation_refused; }

StbGifFirstFrame::StbGifFirstFrame(size_t canvas_bytes) {
  gif_canvas_bytes = canvas_bytes;
  gif_canvas = nullptr;
  gif_background_shared = false;
  gif_extra_free_skipped = false;
}

StbGifFirstFrame::~StbGifFirstFrame() {
  gif_canvas_bytes = 0;
  gif_canvas = nullptr;
}

}  // namespace illust

#define STBI_MALLOC(size) illust::stb_budget_malloc(size)
#define STBI_REALLOC(p, newsize) illust::stb_budget_realloc((p), (newsize))
#define STBI_FREE(p) illust::stb_free(p)
// Under wasm stb sees no x86 target and skips its SSE2 JPEG paths (IDCT, colour conversion).
// Emscripten translates SSE2 intrinsics to wasm SIMD when built with -msimd128 -msse2, so we let stb
// believe it targets x86 there (stb's own SSE2 detection then includes <emmintrin.h> itself).
#if defined(__EMSCRIPTEN__) && defined(__SSE2__)
#define STBI__X86_TARGET
#endif
#include <stb_image.h>

namespace illust {

// stbi_info_from_memory tries every format in turn and, when all fail, overwrites the real reason
// ("too large", "bad IHDR len", ...) with "unknown image type". We already know the format from its
// magic bytes, so ask that decoder alone and keep its reason.
int stb_info_for_format(Format format, const uint8_t* data, int len, int* x, int* y, int* comp) {
  stbi__context s;
  stbi__start_mem(&s, data, len);
  switch (format) {
    case Format::jpeg: return stbi__jpeg_info(&s, x, y, comp);
    case Format::png: return stbi__png_info(&s, x, y, comp);
    case Format::gif: return stbi__gif_info(&s, x, y, comp);
    case Format::bmp: {
      // stb's BMP header reader leaves a top-down file's height negative (its loader takes the absolute
      // value); INT_MIN stays negative and is refused.
      const int found = stbi__bmp_info(&s, x, y, comp);
      if (found && y && *y < 0 && *y != INT_MIN) *y = -*y;
      return found;
    }
    default: return stbi__err("unsupported format", "not a format this core decodes");
  }
}

}  // namespace illust
