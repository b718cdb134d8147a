// resize_box.cpp: area-averaging resize that reproduces Pillow's Image.BOX bit for bit, so the tensor
// the browser feeds the model equals the one Python trained on (tools use
// img.convert('RGB').resize((W, H), Image.BOX)). It mirrors Pillow's Resample.c (9.x): coefficients
// computed in double, normalised per output pixel, rounded to 22-bit fixed point; a horizontal pass
// into an 8-bit buffer (clipped, like Pillow's intermediate image), then a vertical pass.
// Coefficients are stored compactly (only each window's taps), so an extreme aspect ratio (say
// 50,000,000 x 1) costs memory proportional to the input side, not input x output.
#include <climits>
#include <cmath>
#include <cstring>

#include "illust_core.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace illust {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

// Pillow's box_filter: 1 on (-0.5, 0.5].
inline double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return v < 0 ? 0 : (v > 255 ? 255 : uint8_t(v));
}

inline uint8_t clip8_wide(int64_t v) {
  v >>= kPrecisionBits;
  return v < 0 ? 0 : (v > 255 ? 255 : uint8_t(v));
}

// Per output index: first input index and tap count; taps stored back to back in `weights`.
// Box windows have equal weights (each input pixel whose centre falls inside counts once), so after
// dropping zero-weight taps at the edges a window is usually `uniform`: sum(p * k) == k * sum(p)
// exactly in integers, which lets the passes add pixels and multiply once per output.
struct Coefficients {
  int out_size = 0;
  std::unique_ptr<int[], FreeDeleter> first;   // out_size
  std::unique_ptr<int[], FreeDeleter> count;   // out_size
  std::unique_ptr<size_t[], FreeDeleter> offset;  // out_size, into weights
  std::unique_ptr<int32_t[], FreeDeleter> uniform;  // out_size: the common weight, or -1 if they differ
  std::unique_ptr<int32_t[], FreeDeleter> weights;
  // True when every window is uniform and half + k * (255 * count) stays within int32 and below
  // 256 << 22: then the fast paths need neither 64-bit products nor clamping (true unless a window
  // spans more than ~16000 pixels).
  bool all_uniform_small = true;
};

template <typename T>
std::unique_ptr<T[], FreeDeleter> alloc_array(size_t n) {
  return std::unique_ptr<T[], FreeDeleter>(static_cast<T*>(std::malloc(n ? n * sizeof(T) : 1)));
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box filter over the full input range.
bool precompute(int in_size, int out_size, Coefficients* c) {
  const double in0 = 0.0, in1 = double(float(in_size));
  const double scale = (in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 0.5 * filterscale;
  c->out_size = out_size;
  c->first = alloc_array<int>(out_size);
  c->count = alloc_array<int>(out_size);
  c->offset = alloc_array<size_t>(out_size);
  c->uniform = alloc_array<int32_t>(out_size);
  if (!c->first || !c->count || !c->offset || !c->uniform) return false;
  // First pass: bounds, to size the weight array.
  size_t total = 0;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    if (xmax < 0) xmax = 0;
    c->first[xx] = xmin;
    c->count[xx] = xmax;
    c->offset[xx] = total;
    total += size_t(xmax);
  }
  c->weights = alloc_array<int32_t>(total);
  if (!c->weights) return false;
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const int xmin = c->first[xx], xmax = c->count[xx];
    int32_t* k = c->weights.get() + c->offset[xx];
    double ww = 0.0;
    // Pillow stores the doubles then divides each by their sum; recompute them to avoid a double buffer.
    for (int x = 0; x < xmax; ++x) ww += box_filter((x + xmin - center + 0.5) * ss);
    for (int x = 0; x < xmax; ++x) {
      double w = box_filter((x + xmin - center + 0.5) * ss);
      if (ww != 0.0) w /= ww;
      k[x] = w < 0 ? int32_t(-0.5 + w * (1 << kPrecisionBits)) : int32_t(0.5 + w * (1 << kPrecisionBits));
    }
    // Zero-weight taps add nothing: drop them from both ends, then see whether the rest are equal.
    int lead = 0, end = xmax;
    while (lead < end && k[lead] == 0) ++lead;
    while (end > lead && k[end - 1] == 0) --end;
    c->first[xx] += lead;
    c->offset[xx] += size_t(lead);
    c->count[xx] = end - lead;
    int32_t common = end > lead ? k[lead] : 0;
    for (int x = lead; x < end; ++x)
      if (k[x] != common) common = -1;
    c->uniform[xx] = common < 0 ? -1 : common;
    const int64_t worst = (int64_t(1) << (kPrecisionBits - 1)) + int64_t(common) * 255 * c->count[xx];
    if (common < 0 || worst > INT32_MAX || (worst >> kPrecisionBits) > 255) c->all_uniform_small = false;
  }
  return true;
}

// Horizontal pass over rows [row_first, row_first + rows) of `in` (C bytes per pixel) into `out`
// (out_w x rows, C bytes per pixel).
template <int C>
void resample_horizontal_generic(const uint8_t* in, int in_w, int row_first, int rows, uint8_t* out, int out_w,
                                 const Coefficients& c) {
  const int32_t half = 1 << (kPrecisionBits - 1);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* row = in + (size_t(row_first) + size_t(y)) * size_t(in_w) * C;
    uint8_t* dst = out + size_t(y) * size_t(out_w) * C;
    for (int xx = 0; xx < out_w; ++xx) {
      const uint8_t* p = row + size_t(c.first[xx]) * C;
      const int n = c.count[xx];
      const int32_t common = c.uniform[xx];
      if (common >= 0) {
        uint32_t s[C] = {};
        for (int x = 0; x < n; ++x)
          for (int ch = 0; ch < C; ++ch) s[ch] += p[C * x + ch];
        for (int ch = 0; ch < C; ++ch) dst[C * xx + ch] = clip8_wide(half + int64_t(common) * s[ch]);
      } else {
        const int32_t* k = c.weights.get() + c.offset[xx];
        int32_t s[C];
        for (int ch = 0; ch < C; ++ch) s[ch] = half;
        for (int x = 0; x < n; ++x)
          for (int ch = 0; ch < C; ++ch) s[ch] += p[C * x + ch] * k[x];
        for (int ch = 0; ch < C; ++ch) dst[C * xx + ch] = clip8(s[ch]);
      }
    }
  }
}

template <int C>
void resample_horizontal(const uint8_t* in, int in_w, int row_first, int rows, uint8_t* out, int out_w,
                         const Coefficients& c) {
  resample_horizontal_generic<C>(in, in_w, row_first, rows, out, out_w, c);
}

// RGBX fast path: one pixel is one 4-lane int32 vector, so a tap is a widen and an add for all
// channels at once, and each output one multiply and one shift (exact: see Coefficients). Written with
// wasm SIMD intrinsics for the browser build and SSE2 natively; other targets use the generic loop.
template <>
void resample_horizontal<4>(const uint8_t* in, int in_w, int row_first, int rows, uint8_t* out, int out_w,
                            const Coefficients& c) {
#if defined(__wasm_simd128__) || defined(__SSE2__)
  if (c.all_uniform_small) {
    const int32_t half = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < rows; ++y) {
      const uint8_t* row = in + (size_t(row_first) + size_t(y)) * size_t(in_w) * 4;
      uint8_t* dst = out + size_t(y) * size_t(out_w) * 4;
      for (int xx = 0; xx < out_w; ++xx) {
        const uint8_t* p = row + size_t(c.first[xx]) * 4;
        const int n = c.count[xx];
        const int32_t k = c.uniform[xx];
#if defined(__wasm_simd128__)
        v128_t sum = wasm_i32x4_splat(0);
        for (int x = 0; x < n; ++x)
          sum = wasm_i32x4_add(sum, wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_v128_load32_zero(p + 4 * x))));
        v128_t value = wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_mul(sum, wasm_i32x4_splat(k)), wasm_i32x4_splat(half)), kPrecisionBits);
        value = wasm_i16x8_narrow_i32x4(value, value);  // 0..255 already (all_uniform_small)
        wasm_v128_store32_lane(dst + 4 * xx, wasm_u8x16_narrow_i16x8(value, value), 0);
#else
        const __m128i zero = _mm_setzero_si128();
        __m128i sum = zero;
        for (int x = 0; x < n; ++x) {
          int32_t word;
          std::memcpy(&word, p + 4 * x, 4);
          sum = _mm_add_epi32(sum, _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(word), zero), zero));
        }
        alignas(16) int32_t lanes[4];  // SSE2 has no 32-bit lane multiply: finish in scalar
        _mm_store_si128(reinterpret_cast<__m128i*>(lanes), sum);
        for (int ch = 0; ch < 4; ++ch) dst[4 * xx + ch] = uint8_t((half + k * lanes[ch]) >> kPrecisionBits);
#endif
      }
    }
    return;
  }
#endif
  resample_horizontal_generic<4>(in, in_w, row_first, rows, out, out_w, c);
}

// Vertical pass: `in` is (width x any rows, C bytes per pixel), rows indexed relative to row_base.
// Works on whole rows at a time (contiguous loops the compiler vectorises: SSE natively, wasm SIMD).
template <int C>
bool resample_vertical(const uint8_t* in, int width, int row_base, uint8_t* out, int out_h, const Coefficients& c) {
  const int32_t half = 1 << (kPrecisionBits - 1);
  const size_t row_len = size_t(width) * C;
  auto acc = alloc_array<int32_t>(row_len);
  if (!acc) return false;
  int32_t* a = acc.get();
  for (int yy = 0; yy < out_h; ++yy) {
    const int n = c.count[yy];
    const int32_t common = c.uniform[yy];
    const uint8_t* first_row = in + size_t(c.first[yy] - row_base) * row_len;
    uint8_t* dst = out + size_t(yy) * row_len;
    if (common >= 0) {
      for (size_t i = 0; i < row_len; ++i) a[i] = 0;
      for (int y = 0; y < n; ++y) {
        const uint8_t* src = first_row + size_t(y) * row_len;
        for (size_t i = 0; i < row_len; ++i) a[i] += src[i];
      }
      if (c.all_uniform_small) {
        for (size_t i = 0; i < row_len; ++i) dst[i] = uint8_t((half + common * a[i]) >> kPrecisionBits);
      } else {
        for (size_t i = 0; i < row_len; ++i) dst[i] = clip8_wide(half + int64_t(common) * a[i]);
      }
    } else {
      const int32_t* k = c.weights.get() + c.offset[yy];
      for (size_t i = 0; i < row_len; ++i) a[i] = half;
      for (int y = 0; y < n; ++y) {
        const uint8_t* src = first_row + size_t(y) * row_len;
        const int32_t w = k[y];
        for (size_t i = 0; i < row_len; ++i) a[i] += src[i] * w;
      }
      for (size_t i = 0; i < row_len; ++i) dst[i] = clip8(a[i]);
    }
  }
  return true;
}

template <int C>
bool resize_box(const uint8_t* in, int in_w, int in_h, uint8_t* out, int out_w, int out_h) {
  if (!in || !out || in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0) return false;
  const bool need_horizontal = out_w != in_w;
  const bool need_vertical = out_h != in_h;
  if (!need_horizontal && !need_vertical) {
    std::memcpy(out, in, size_t(in_w) * size_t(in_h) * C);
    return true;
  }
  Coefficients horiz, vert;
  if (need_horizontal && !precompute(in_w, out_w, &horiz)) return false;
  if (need_vertical && !precompute(in_h, out_h, &vert)) return false;
  if (!need_vertical) {
    resample_horizontal<C>(in, in_w, 0, in_h, out, out_w, horiz);
    return true;
  }
  if (!need_horizontal) return resample_vertical<C>(in, in_w, 0, out, out_h, vert);
  // Like Pillow: only the input rows the vertical pass reads go through the horizontal pass.
  const int row_first = vert.first[0];
  const int row_last = vert.first[out_h - 1] + vert.count[out_h - 1];
  const int rows = row_last - row_first;
  auto temp = alloc_array<uint8_t>(size_t(out_w) * size_t(rows) * C);
  if (!temp) return false;
  resample_horizontal<C>(in, in_w, row_first, rows, temp.get(), out_w, horiz);
  return resample_vertical<C>(temp.get(), out_w, row_first, out, out_h, vert);
}

}  // namespace

bool resize_box_rgb(const uint8_t* in, int in_w, int in_h, uint8_t* out, int out_w, int out_h) {
  return resize_box<3>(in, in_w, in_h, out, out_w, out_h);
}

bool resize_box_rgbx(const uint8_t* in, int in_w, int in_h, uint8_t* out, int out_w, int out_h) {
  return resize_box<4>(in, in_w, in_h, out, out_w, out_h);
}

namespace {
// Python's round(): half to even.
int python_round(double v) {
  const double r = std::nearbyint(v);  // default rounding mode is to-nearest-even
  return int(r);
}
}  // namespace

LetterboxBox letterbox_box(int src_w, int src_h, int dst_w, int dst_h) {
  // ImageOps.contain: keep the side that limits, round the other (Python round), then ImageOps.pad
  // centres it with round((dst - size) * 0.5).
  LetterboxBox box{dst_w, dst_h, 0, 0};
  if (src_w <= 0 || src_h <= 0 || dst_w <= 0 || dst_h <= 0) return box;
  const double im_ratio = double(src_w) / src_h;
  const double dest_ratio = double(dst_w) / dst_h;
  if (im_ratio > dest_ratio) {
    box.height = python_round(double(src_h) / src_w * dst_w);
    if (box.height < 1) box.height = 1;
  } else if (im_ratio < dest_ratio) {
    box.width = python_round(double(src_w) / src_h * dst_h);
    if (box.width < 1) box.width = 1;
  }
  box.x = python_round((dst_w - box.width) * 0.5);
  box.y = python_round((dst_h - box.height) * 0.5);
  return box;
}

}  // namespace illust
