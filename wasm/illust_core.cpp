// illust_core.cpp: probe, decode and tensor conversion for untrusted image bytes. The order of checks
// is the point of this file: empty -> format from magic bytes -> size from the header (our own read) vs
// the pixel cap -> container structure (truncation, inputs known to break stb_image) -> the decoder's
// header reader (stb's, or libwebp's WebPGetFeatures) and the cap again -> decode. Nothing is
// allocated for pixels until all of that passed; every decoder failure becomes a Status plus the
// decoder's reason.
#include <climits>
#include <cmath>
#include <cstring>

#include <stb_image.h>

#include "core_internal.h"

namespace illust {

const char* status_name(Status status) {
  switch (status) {
    case Status::ok: return "ok";
    case Status::empty_input: return "empty_input";
    case Status::unsupported_format: return "unsupported_format";
    case Status::truncated: return "truncated";
    case Status::corrupt: return "corrupt";
    case Status::too_large: return "too_large";
    case Status::bad_argument: return "bad_argument";
    case Status::out_of_memory: return "out_of_memory";
  }
  return "unknown";
}

const char* format_name(Format format) {
  switch (format) {
    case Format::unknown: return "unknown";
    case Format::jpeg: return "jpeg";
    case Format::png: return "png";
    case Format::gif: return "gif";
    case Format::bmp: return "bmp";
    case Format::webp: return "webp";
    case Format::avif: return "avif";
    case Format::heic: return "heic";
    case Format::heif: return "heif";
    case Format::jxl: return "jxl";
    case Format::tiff: return "tiff";
    case Format::ico: return "ico";
    case Format::psd: return "psd";
    case Format::jp2: return "jp2";
    case Format::qoi: return "qoi";
    case Format::pdf: return "pdf";
    case Format::svg: return "svg";
  }
  return "unknown";
}

bool is_decodable(Format format) {
  return format == Format::jpeg || format == Format::png || format == Format::gif || format == Format::bmp ||
         format == Format::webp;
}

namespace {

// stb's reason, as printable ASCII: some reasons embed bytes from the file (a PNG chunk type goes
// into "XXXX PNG chunk not known"), which must not reach JSON or JS strings raw.
std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  std::string text = reason && *reason ? reason : "unknown error";
  for (char& ch : text)
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7E) ch = '?';
  return text;
}

// stb's reason strings are short tags ("outofmem", "too large", "bad huffman code").
Status status_for_stb_reason(const std::string& reason) {
  if (reason == "outofmem") return Status::out_of_memory;
  if (reason == "too large") return Status::too_large;
  return Status::corrupt;
}

// "50 megapixels", "1.5 megapixels"; small caps (tests, tools) as "850 pixels".
std::string megapixels(uint64_t pixels) {
  if (pixels < 100000) return std::to_string(pixels) + " pixels";
  const uint64_t whole = pixels / 1000000, tenth = (pixels % 1000000) / 100000;
  return std::to_string(whole) + (tenth ? "." + std::to_string(tenth) : "") + " megapixels";
}

template <typename R>
R failure(Status status, std::string message, Format format = Format::unknown) {
  R r;
  r.status = status;
  r.message = std::move(message);
  r.format = format;
  return r;
}

// Pillow's Image.alpha_composite of `src` over an opaque background (dst alpha 255), reduced from
// AlphaComposite.c: coef1 = a*128, coef2 = (255-a)*128, then a rounded division by 255 in 7-bit fixed point.
inline uint8_t composite_channel(uint32_t src, uint32_t alpha, uint32_t background) {
  const uint32_t tmp = src * alpha * 128u + background * (255u - alpha) * 128u + (0x80u << 7);
  return uint8_t((((tmp >> 8) + tmp) >> 8) >> 7);
}

// RGBA -> opaque RGBX in place, compositing over `bg`.
void flatten_rgba_in_place(uint8_t* px, size_t pixels, const std::array<uint8_t, 3>& bg) {
  for (size_t i = 0; i < pixels; ++i) {
    uint8_t* p = px + 4 * i;
    const uint32_t a = p[3];
    if (a == 255) continue;
    if (a == 0) {
      p[0] = bg[0]; p[1] = bg[1]; p[2] = bg[2];
    } else {
      p[0] = composite_channel(p[0], a, bg[0]);
      p[1] = composite_channel(p[1], a, bg[1]);
      p[2] = composite_channel(p[2], a, bg[2]);
    }
    p[3] = 255;
  }
}

}  // namespace

ProbeResult probe(const uint8_t* data, size_t size, const Limits& limits) {
  if (!data || size == 0) return failure<ProbeResult>(Status::empty_input, "empty input: no bytes");
  const Format format = sniff_format(data, size);
  if (format == Format::unknown && is_truncated_magic(data, size))
    return failure<ProbeResult>(Status::truncated, "truncated: file ends inside its signature (" + std::to_string(size) + " bytes)");
  if (!is_decodable(format)) {
    std::string message = std::string("unsupported format: ") + format_name(format);
    // A RIFF file that is not WebP (WAVE audio, AVI video) says what it is, so nobody hunts for a
    // broken WebP.
    if (format == Format::unknown && size >= 12 && std::memcmp(data, "RIFF", 4) == 0) {
      std::string kind(reinterpret_cast<const char*>(data) + 8, 4);
      for (char& ch : kind)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7E) ch = '?';
      message += " (a RIFF " + kind + " file, not WebP)";
    }
    return failure<ProbeResult>(Status::unsupported_format, message, format);
  }
  if (size > size_t(INT_MAX) - 4096)  // room for what a repair adds (an IEND, an APP14, a palette)
    return failure<ProbeResult>(Status::too_large, "input too large: " + std::to_string(size) + " bytes (2 GiB at most)", format);
  // As decode_rgbx() repairs them (it probes the repaired bytes, so this changes nothing there).
  RepairedBytes repaired;
  data = repaired_for_stb(format, data, size, &repaired);
  if (repaired.out_of_memory) return failure<ProbeResult>(Status::out_of_memory, "out of memory copying the file to repair it", format);
  if (repaired.bytes) size = repaired.size;

  auto too_large = [&](uint64_t w, uint64_t h) {
    return failure<ProbeResult>(Status::too_large, "image too large: " + std::to_string(w) + "x" + std::to_string(h) +
                                                       " exceeds " + megapixels(limits.max_pixels),
                                format);
  };
  // 1. The size the header claims, read by us: refuse over-cap images before stb looks further.
  uint64_t header_w = 0, header_h = 0;
  if (read_header_size(format, data, size, &header_w, &header_h) && header_w * header_h > limits.max_pixels)
    return too_large(header_w, header_h);

  // 2. The container structure, walked by us before stb_image reads anything: the data must hold the
  //    whole image (stb would quietly fill a cut JPEG with grey), and nothing in it may be known to
  //    break the decoder.
  std::string problem;
  const Structure structure = scan_structure(format, data, size, &problem);
  if (structure == Structure::invalid)
    return failure<ProbeResult>(Status::corrupt, std::string("corrupt ") + format_name(format) + ": " + problem, format);
  if (structure == Structure::unsupported)
    return failure<ProbeResult>(Status::unsupported_format, std::string("unsupported format: ") + format_name(format) + " (" + problem + ")", format);
  if (structure == Structure::truncated)
    return failure<ProbeResult>(Status::truncated, std::string("truncated ") + format_name(format) + ": data ends before the image does", format);

  // 3. The decoder's own header reader for this format, and the cap again on the size it reads.
  int w = 0, h = 0, comp = 0;
  bool header_ok = true;
  if (format == Format::webp) {
    WebpFeatures features;
    std::string reason;
    const Status st = webp_features(data, size, &features, &reason);
    if (st != Status::ok) {
      const std::string what = st == Status::out_of_memory ? "out of memory reading the header: " : status_name(st) + std::string(" ");
      return failure<ProbeResult>(st, what + "webp: " + reason, format);
    }
    w = features.width;
    h = features.height;
    comp = features.has_alpha ? 4 : 3;
  } else {
    header_ok = stb_info_for_format(format, data, int(size), &w, &h, &comp) != 0;
  }
  if (!header_ok || w <= 0 || h <= 0) {
    const std::string reason = header_ok ? "zero-sized image" : stb_reason();
    const Status st = status_for_stb_reason(reason);
    const std::string what = st == Status::too_large       ? "image too large for the decoder: "
                             : st == Status::out_of_memory ? "out of memory reading the header: "
                                                           : "corrupt ";
    return failure<ProbeResult>(st, what + format_name(format) + ": " + reason, format);
  }
  if (uint64_t(w) * uint64_t(h) > limits.max_pixels) return too_large(uint64_t(w), uint64_t(h));

  ProbeResult r;
  r.format = format;
  r.channels_in_file = comp;
  r.orientation = format == Format::jpeg   ? jpeg_exif_orientation(data, size)
                  : format == Format::webp ? webp_exif_orientation(data, size)
                  : format == Format::png  ? png_exif_orientation(data, size)
                                           : 1;
  const bool swaps = r.orientation >= 5;
  r.width = swaps ? h : w;
  r.height = swaps ? w : h;
  return r;
}

namespace {

// Decodes to RGBX (4 bytes per pixel, the 4th meaningless after compositing). stb's SIMD colour
// conversion for JPEG only runs for 4-channel output, every alpha format needs 4 channels anyway,
// and one pixel then fits one SIMD vector in the resize. decode_rgb compacts this to RGB.
DecodeResult decode_rgbx(const uint8_t* data, size_t size, const DecodeOptions& options) {
  // A GIF whose first frame reaches past its logical screen is decoded on a screen that holds it; a PNG
  // that ends without IEND (or inside it) after whole chunks gets one; a four-component JPEG gets the
  // colour transform libjpeg reads it with (probe() judges the same repaired bytes).
  RepairedBytes repaired;
  const Format sniffed = sniff_format(data, size);
  data = repaired_for_stb(sniffed, data, size, &repaired);
  if (repaired.out_of_memory) return failure<DecodeResult>(Status::out_of_memory, "out of memory copying the file to repair it", sniffed);
  if (repaired.bytes) size = repaired.size;
  const bool png_end_added = repaired.png_end_added;
  const ProbeResult info = probe(data, size, options.limits);
  if (info.status != Status::ok) return failure<DecodeResult>(info.status, info.message, info.format);
  const Format format = info.format;

  int w = 0, h = 0;
  PixelBuffer pixels;
  bool has_alpha;
  if (format == Format::webp) {
    WebpImage image;
    std::string reason;
    const Status st = webp_decode_first_frame(data, size, options.limits, &image, &reason);
    if (st == Status::too_large)
      return failure<DecodeResult>(st, "image too large: " + reason + " exceeds " + megapixels(options.limits.max_pixels), format);
    if (st != Status::ok)
      return failure<DecodeResult>(st, std::string(st == Status::out_of_memory ? "out of memory decoding" : status_name(st)) +
                                           " webp: " + reason,
                                   format);
    w = image.width;
    h = image.height;
    // PIL shows a WebP as RGB (alpha dropped, not composited) unless the file declares alpha.
    has_alpha = image.has_alpha;
    pixels = std::move(image.rgba);
  } else {
    int comp = 0;
    const size_t png_budget = format == Format::png ? png_decode_block_budget(data, size) : 0;
    const StbAllocationBudget budget(png_budget ? png_budget : SIZE_MAX);
    const StbGifFirstFrame gif_canvas(format == Format::gif ? size_t(info.width) * size_t(info.height) * 4 : 0);
    uint8_t* raw = stbi_load_from_memory(data, int(size), &w, &h, &comp, 4);
    if (!raw && budget.exceeded())
      return failure<DecodeResult>(Status::corrupt, std::string("corrupt ") + format_name(format) +
                                                        ": its compressed data unpacks to far more than a " +
                                                        std::to_string(info.width) + "x" + std::to_string(info.height) +
                                                        " image holds",
                                   format);
    if (!raw) {
      const std::string reason = stb_reason();
      const Status st = status_for_stb_reason(reason);
      if (st == Status::corrupt && png_end_added)  // most likely cut at a chunk boundary inside its image data
        return failure<DecodeResult>(Status::truncated, "truncated png: data ends before the image does (no IEND; " + reason + ")", format);
      return failure<DecodeResult>(st, std::string(st == Status::out_of_memory ? "out of memory decoding " : "corrupt ") +
                                           format_name(format) + ": " + reason,
                                   format);
    }
    pixels.reset(raw);  // stb allocates with malloc (STBI_MALLOC default), so free() releases it
    GifBackdrop backdrop;
    if (format == Format::gif && gif_first_frame_backdrop(data, size, &backdrop)) {
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          if (uint32_t(x) - backdrop.left >= backdrop.width || uint32_t(y) - backdrop.top >= backdrop.height)
            std::memcpy(pixels.get() + (size_t(y) * size_t(w) + size_t(x)) * 4, backdrop.rgba, 4);
    }
    // PNG can carry transparency in tRNS that stb's header scan does not report, so every format that
    // can hold alpha is flattened (opaque pixels cost one compare); stb's JPEG output is always opaque.
    has_alpha = format != Format::jpeg && !(format == Format::bmp && bmp_alpha_ignored(data, size));
  }
  if (w <= 0 || h <= 0 || uint64_t(w) * uint64_t(h) > options.limits.max_pixels)
    return failure<DecodeResult>(Status::too_large, "image too large: " + std::to_string(w) + "x" + std::to_string(h) +
                                                        " exceeds " + megapixels(options.limits.max_pixels),
                                 format);
  if (has_alpha) flatten_rgba_in_place(pixels.get(), size_t(w) * size_t(h), options.alpha_background);

  DecodeResult r;
  r.format = format;
  r.width = w;
  r.height = h;
  const int orientation = options.apply_orientation ? info.orientation : 1;
  if (orientation != 1) {
    PixelBuffer oriented = apply_orientation(pixels.get(), w, h, 4, orientation, &r.width, &r.height);
    if (!oriented) return failure<DecodeResult>(Status::out_of_memory, "out of memory applying EXIF orientation", format);
    pixels = std::move(oriented);
  }
  r.rgb = std::move(pixels);
  return r;
}

}  // namespace

DecodeResult decode_rgb(const uint8_t* data, size_t size, const DecodeOptions& options) {
  DecodeResult r = decode_rgbx(data, size, options);
  if (r.status != Status::ok) return r;
  // RGBX -> RGB in place (the write position never passes the read position), then give back the rest.
  // Four pixels a step, as one 16-byte shuffle (wasm SIMD, SSE2): a byte loop over a buffer read and
  // written at once is never vectorised (the compiler must assume the bytes overlap), and took 2-4x as
  // long. Each block is loaded whole before its store, and the store (12 bytes kept, 4 spare) ends
  // at or before the next block's first byte (12k + 16 <= 16(k + 1)).
  typedef uint8_t Bytes16 __attribute__((vector_size(16)));
  uint8_t* px = r.rgb.get();
  const size_t count = size_t(r.width) * size_t(r.height);
  size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    Bytes16 block;
    std::memcpy(&block, px + 4 * i, 16);
    const Bytes16 packed = __builtin_shufflevector(block, block, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 15, 15, 15, 15);
    std::memcpy(px + 3 * i, &packed, 16);
  }
  for (; i < count; ++i) {
    px[3 * i + 0] = px[4 * i + 0];
    px[3 * i + 1] = px[4 * i + 1];
    px[3 * i + 2] = px[4 * i + 2];
  }
  if (void* smaller = std::realloc(px, count * 3)) {
    r.rgb.release();
    r.rgb.reset(static_cast<uint8_t*>(smaller));
  }
  return r;
}

PixelBuffer apply_orientation(const uint8_t* in, int w, int h, int bytes_per_pixel, int orientation, int* out_w,
                              int* out_h) {
  if (orientation < 1 || orientation > 8) orientation = 1;
  const size_t bpp = bytes_per_pixel == 4 ? 4 : 3;
  const bool swaps = orientation >= 5;
  const int ow = swaps ? h : w, oh = swaps ? w : h;
  *out_w = ow;
  *out_h = oh;
  PixelBuffer out(static_cast<uint8_t*>(std::malloc(size_t(w) * size_t(h) * bpp)));
  if (!out) return out;
  // For each output pixel (ox, oy), the source pixel, per the TIFF/EXIF definition
  // (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 90 CCW).
  for (int oy = 0; oy < oh; ++oy) {
    uint8_t* dst = out.get() + size_t(oy) * size_t(ow) * bpp;
    for (int ox = 0; ox < ow; ++ox) {
      int sx, sy;
      switch (orientation) {
        case 2: sx = w - 1 - ox; sy = oy; break;
        case 3: sx = w - 1 - ox; sy = h - 1 - oy; break;
        case 4: sx = ox; sy = h - 1 - oy; break;
        case 5: sx = oy; sy = ox; break;
        case 6: sx = oy; sy = h - 1 - ox; break;
        case 7: sx = w - 1 - oy; sy = h - 1 - ox; break;
        case 8: sx = w - 1 - oy; sy = ox; break;
        default: sx = ox; sy = oy; break;
      }
      std::memcpy(dst + bpp * size_t(ox), in + (size_t(sy) * size_t(w) + size_t(sx)) * bpp, bpp);
    }
  }
  return out;
}

Status validate_params(const PreprocessParams& p, std::string* message) {
  auto bad = [&](const std::string& m) {
    if (message) *message = "bad argument: " + m;
    return Status::bad_argument;
  };
  if (p.width < 1 || p.width > 4096 || p.height < 1 || p.height > 4096)
    return bad("tensor size " + std::to_string(p.width) + "x" + std::to_string(p.height) + " outside 1..4096");
  if (p.resize != ResizeMode::squash && p.resize != ResizeMode::letterbox) return bad("unknown resize mode");
  if (!std::isfinite(p.scale)) return bad("scale is not a finite number");
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(p.mean[c]) || !std::isfinite(p.std[c])) return bad("mean/std must be finite numbers");
    if (p.std[c] == 0.f) return bad("std[" + std::to_string(c) + "] is zero");
  }
  if (message) message->clear();
  return Status::ok;
}

TensorResult to_tensor(const uint8_t* data, size_t size, const PreprocessParams& params, const Limits& limits) {
  std::string message;
  if (validate_params(params, &message) != Status::ok) return failure<TensorResult>(Status::bad_argument, message);
  DecodeOptions options;
  options.limits = limits;
  options.alpha_background = params.alpha_background;
  DecodeResult image = decode_rgbx(data, size, options);  // 4 bytes per pixel, see decode_rgbx
  if (image.status != Status::ok) return failure<TensorResult>(image.status, image.message, image.format);

  const int W = params.width, H = params.height;
  const size_t plane = size_t(W) * size_t(H);
  PixelBuffer resized(static_cast<uint8_t*>(std::malloc(plane * 4)));
  FloatBuffer tensor(static_cast<float*>(std::malloc(plane * 3 * sizeof(float))));
  if (!resized || !tensor) return failure<TensorResult>(Status::out_of_memory, "out of memory allocating the tensor", image.format);

  bool resized_ok;
  if (params.resize == ResizeMode::squash) {
    resized_ok = resize_box_rgbx(image.rgb.get(), image.width, image.height, resized.get(), W, H);
  } else {
    const LetterboxBox box = letterbox_box(image.width, image.height, W, H);
    const uint8_t pad[4] = {params.pad_color[0], params.pad_color[1], params.pad_color[2], 255};
    for (size_t i = 0; i < plane; ++i) std::memcpy(resized.get() + 4 * i, pad, 4);
    PixelBuffer inner(static_cast<uint8_t*>(std::malloc(size_t(box.width) * size_t(box.height) * 4)));
    resized_ok = inner && resize_box_rgbx(image.rgb.get(), image.width, image.height, inner.get(), box.width, box.height);
    if (resized_ok) {
      for (int y = 0; y < box.height; ++y)
        std::memcpy(resized.get() + (size_t(y + box.y) * size_t(W) + size_t(box.x)) * 4,
                    inner.get() + size_t(y) * size_t(box.width) * 4, size_t(box.width) * 4);
    }
  }
  image.rgb.reset();
  if (!resized_ok) return failure<TensorResult>(Status::out_of_memory, "out of memory while resizing", image.format);

  // value = (pixel * scale - mean[c]) / std[c], as a lookup table per channel (256 entries each).
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) * params.scale - params.mean[c]) / params.std[c];
  const uint8_t* px = resized.get();
  float* r = tensor.get();
  float* g = r + plane;
  float* b = g + plane;
  for (size_t i = 0; i < plane; ++i) {
    r[i] = lut[0][px[4 * i + 0]];
    g[i] = lut[1][px[4 * i + 1]];
    b[i] = lut[2][px[4 * i + 2]];
  }

  TensorResult t;
  t.format = image.format;
  t.width = image.width;
  t.height = image.height;
  t.tensor = std::move(tensor);
  t.tensor_size = plane * 3;
  return t;
}

}  // namespace illust
