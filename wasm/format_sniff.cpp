// format_sniff.cpp: tells what an image file is from its magic bytes, and whether its container
// structure ends before the image does. stb_image is lenient with truncated files (a cut JPEG decodes
// with a grey bottom), so "truncated" must be decided by our own bounds-checked walk of the markers,
// chunks or blocks, before stb sees the data.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core_internal.h"

namespace illust {

namespace {

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t magic_len, size_t offset = 0) {
  return size >= offset + magic_len && std::memcmp(data + offset, magic, magic_len) == 0;
}

uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8); }
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }

// ISO-BMFF (HEIF family): "ftyp" box at offset 4, major brand at 8, compatible brands after 16.
Format sniff_ftyp(const uint8_t* data, size_t size) {
  if (!starts_with(data, size, "ftyp", 4, 4)) return Format::unknown;
  size_t box_size = be32(data);
  if (box_size < 16 || box_size > size) box_size = size < 64 ? size : 64;
  auto brand_is = [&](size_t at, const char* brand) { return at + 4 <= box_size && std::memcmp(data + at, brand, 4) == 0; };
  auto any_brand = [&](const char* const* brands) {
    for (size_t at = 8; at + 4 <= box_size; at += (at == 8 ? 8 : 4)) {  // skip minor_version at 12
      for (const char* const* b = brands; *b; ++b)
        if (brand_is(at, *b)) return true;
    }
    return false;
  };
  static const char* const avif[] = {"avif", "avis", nullptr};
  static const char* const heic[] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", nullptr};
  static const char* const heif[] = {"mif1", "msf1", nullptr};
  if (any_brand(avif)) return Format::avif;
  if (any_brand(heic)) return Format::heic;
  if (any_brand(heif)) return Format::heif;
  return Format::unknown;
}

// stb_image 2.27 (Debian 12's copy) has two Huffman-table bugs our fuzzer found, both fixed upstream
// later; we refuse the inputs that trigger them before stb reads anything:
//  1. it builds a table without checking that its 16 code counts add up to at most 256 symbols, then
//     writes past its arrays;
//  2. a scan may use a table no DHT defined, and stb then decodes with uninitialised memory (reading
//     out of bounds).
// So DHT segments are re-read the way stb reads them (tables back to back while the segment length
// lasts, counts read even past the segment end, zeros past the data end), and each scan's tables must
// have been defined before it.
struct JpegTables {
  unsigned dc_defined = 0, ac_defined = 0;  // bit i: table i defined
  bool progressive = false;
};

bool jpeg_read_dht(const uint8_t* d, size_t n, size_t segment_start, size_t len, JpegTables* tables) {
  auto byte_at = [&](size_t at) -> uint32_t { return at < n ? d[at] : 0; };  // stb's get8 returns 0 at EOF
  long remaining = long(len) - 2;
  size_t pos = segment_start;
  while (remaining > 0) {
    const uint32_t q = byte_at(pos);
    const uint32_t table_class = q >> 4, table_id = q & 15;
    if (table_class > 1 || table_id > 3) return true;  // stb rejects this itself ("bad DHT header")
    uint32_t symbols = 0;
    for (size_t i = 0; i < 16; ++i) symbols += byte_at(pos + 1 + i);
    if (symbols > 256) return false;
    (table_class == 0 ? tables->dc_defined : tables->ac_defined) |= 1u << table_id;
    remaining -= long(17 + symbols);
    pos += 17 + symbols;
  }
  return true;
}

// SOS payload: Ns, Ns x (component id, Td<<4 | Ta), Ss, Se, Ah<<4 | Al.
bool jpeg_scan_tables_defined(const uint8_t* p, size_t payload_len, const JpegTables& tables) {
  if (payload_len < 1) return true;
  const size_t ns = p[0];
  if (payload_len < 1 + 2 * ns + 3) return true;  // stb rejects a short SOS itself ("bad SOS len")
  const uint32_t ss = p[1 + 2 * ns], ah = p[3 + 2 * ns] >> 4;
  for (size_t i = 0; i < ns; ++i) {
    const uint32_t td = p[2 + 2 * i] >> 4, ta = p[2 + 2 * i] & 15;
    if (td > 3 || ta > 3) return true;  // stb rejects these itself ("bad SOS")
    const bool dc_ok = (tables.dc_defined >> td) & 1u, ac_ok = (tables.ac_defined >> ta) & 1u;
    if (!tables.progressive) {
      if (!dc_ok || !ac_ok) return false;  // sequential scans decode both
    } else if (ss == 0) {
      if (ah == 0 && !dc_ok) return false;  // first DC pass; DC refinement reads raw bits
    } else if (!ac_ok) {
      return false;  // AC passes, first and refinement
    }
  }
  return true;
}

// stb_image decodes every scan over the whole frame and cannot be interrupted, so a small file that
// repeats a scan (26 bytes each) keeps it busy for seconds to minutes (about 15 ms a scan at 12 MP in
// wasm). Real encoders write at most a few dozen scans; the cap is 64, or more for small images, up to
// 2^30 pixel-scans (about a second).
uint64_t max_jpeg_scans(uint64_t pixels) { return std::max<uint64_t>(64, (uint64_t(1) << 30) / std::max<uint64_t>(pixels, 1)); }

// JPEG: SOI, then marker segments; after each SOS the entropy-coded data runs to the next marker.
// Complete once EOI (FF D9) is reached. Bytes between segments are skipped the way stb_image skips
// them, so every segment stb will parse is one we have checked.
Structure scan_jpeg(const uint8_t* d, size_t n, std::string* problem) {
  size_t pos = 2;
  bool seen_garbage = false;
  JpegTables tables;
  uint64_t pixels = 0, scans = 0;
  auto invalid = [&](const char* why) {
    if (problem) *problem = why;
    return Structure::invalid;
  };
  for (;;) {
    while (pos < n && d[pos] != 0xFF) { ++pos; seen_garbage = true; }
    while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return Structure::truncated;
    const uint8_t marker = d[pos++];
    if (marker == 0xD9) return seen_garbage ? Structure::unknown : Structure::complete;
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0x00) { seen_garbage = true; continue; }
    if (n - pos < 2) return Structure::truncated;
    const size_t len = be16(d + pos);
    if (marker == 0xC4 && !jpeg_read_dht(d, n, pos + 2, len, &tables))
      return invalid("bad DHT table (more than 256 Huffman codes)");
    if (len < 2) return Structure::unknown;
    if (n - pos < len) return Structure::truncated;
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      // stb decodes baseline, extended and progressive Huffman frames of 8-bit samples only.
      const char* variant = marker == 0xC3 || marker == 0xC7 || marker == 0xCB || marker == 0xCF ? "lossless"
                            : marker >= 0xC9                                                    ? "arithmetic coding"
                            : marker >= 0xC5                                                    ? "hierarchical"
                            : len >= 3 && d[pos + 2] != 8                                       ? "12-bit samples"
                                                                                                : nullptr;
      if (variant) {
        if (problem) *problem = variant;
        return Structure::unsupported;
      }
      tables.progressive = marker == 0xC2;  // stb's own test: only SOF2 is progressive
      if (len >= 7) pixels = uint64_t(be16(d + pos + 3)) * be16(d + pos + 5);
    }
    if (marker == 0xDA && ++scans > max_jpeg_scans(pixels)) {
      if (problem) *problem = "more than " + std::to_string(scans - 1) + " scans for its size";
      return Structure::invalid;
    }
    if (marker == 0xDA && !jpeg_scan_tables_defined(d + pos + 2, len - 2, tables))
      return invalid("a scan uses a Huffman table that was never defined");
    pos += len;
    if (marker != 0xDA) continue;
    // Entropy-coded segment: FF 00 is a stuffed byte, FF D0..D7 restart markers, FF FF fill.
    for (;;) {
      const void* ff = pos < n ? std::memchr(d + pos, 0xFF, n - pos) : nullptr;
      if (!ff) return Structure::truncated;
      pos = size_t(static_cast<const uint8_t*>(ff) - d);
      if (pos + 1 >= n) return Structure::truncated;
      const uint8_t next = d[pos + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) { pos += 2; continue; }
      if (next == 0xFF) { pos += 1; continue; }
      break;  // a real marker: back to the segment loop
    }
  }
}

// PNG: signature, then chunks (length, type, data, CRC) until IEND.
Structure scan_png(const uint8_t* d, size_t n) {
  size_t pos = 8;
  for (;;) {
    if (n - pos < 8) return Structure::truncated;
    const uint32_t len = be32(d + pos);
    if (len > 0x7FFFFFFFu) return Structure::unknown;
    const bool is_iend = std::memcmp(d + pos + 4, "IEND", 4) == 0;
    if (n - pos - 8 < uint64_t(len) + 4) return Structure::truncated;
    pos += 12 + size_t(len);
    if (is_iend) return Structure::complete;
  }
}

// Skips GIF sub-blocks (size byte, data) up to the terminating zero-size block.
bool skip_gif_sub_blocks(const uint8_t* d, size_t n, size_t* pos) {
  for (;;) {
    if (*pos >= n) return false;
    const size_t len = d[(*pos)++];
    if (len == 0) return true;
    if (n - *pos < len) return false;
    *pos += len;
  }
}

// GIF: header, logical screen, optional global palette, then extensions until the first image, whose
// LZW data must be complete (we decode only the first frame).
Structure scan_gif(const uint8_t* d, size_t n) {
  if (n < 13) return Structure::truncated;
  size_t pos = 13;
  if (d[10] & 0x80) pos += 3u * (2u << (d[10] & 7));
  for (;;) {
    if (pos >= n) return Structure::truncated;
    const uint8_t block = d[pos++];
    if (block == 0x21) {  // extension: label, then sub-blocks
      if (pos >= n) return Structure::truncated;
      ++pos;
      if (!skip_gif_sub_blocks(d, n, &pos)) return Structure::truncated;
    } else if (block == 0x2C) {  // image descriptor (9 bytes), local palette, LZW code size, data
      if (n - pos < 9) return Structure::truncated;
      const uint8_t flags = d[pos + 8];
      pos += 9;
      if (flags & 0x80) {
        const size_t palette = 3u * (2u << (flags & 7));
        if (n - pos < palette) return Structure::truncated;
        pos += palette;
      }
      if (pos >= n) return Structure::truncated;
      ++pos;
      return skip_gif_sub_blocks(d, n, &pos) ? Structure::complete : Structure::truncated;
    } else {
      return Structure::unknown;  // trailer before any image, or garbage: the decoder reports it
    }
  }
}

// The offset of the first image descriptor (the byte after its 0x2C), found by the same walk as
// scan_gif, with the transparent index the last graphic control extension before it names (-1: none).
// False when the file ends or breaks before the descriptor.
bool gif_first_descriptor(const uint8_t* d, size_t n, size_t* descriptor, int* transparent_index) {
  if (n < 13) return false;
  size_t pos = 13;
  if (d[10] & 0x80) pos += 3u * (2u << (d[10] & 7));
  *transparent_index = -1;
  for (;;) {
    if (pos >= n) return false;
    const uint8_t block = d[pos++];
    if (block == 0x21) {
      if (pos >= n) return false;
      const uint8_t label = d[pos++];
      // Graphic control: size 4, flags (bit 0: transparency), delay (2 bytes), transparent index.
      if (label == 0xF9 && n - pos >= 5 && d[pos] == 4) *transparent_index = d[pos + 1] & 1 ? d[pos + 4] : -1;
      if (!skip_gif_sub_blocks(d, n, &pos)) return false;
    } else if (block == 0x2C) {
      if (n - pos < 9) return false;
      *descriptor = pos;
      return true;
    } else {
      return false;
    }
  }
}

// The first image's right and bottom edges (its descriptor's left + width, top + height).
bool gif_first_frame_edges(const uint8_t* d, size_t n, uint32_t* right, uint32_t* bottom) {
  size_t pos = 0;
  int transparent_index;
  if (!gif_first_descriptor(d, n, &pos, &transparent_index)) return false;
  *right = uint32_t(le16(d + pos)) + le16(d + pos + 4);
  *bottom = uint32_t(le16(d + pos + 2)) + le16(d + pos + 6);
  return true;
}

// BMP: uncompressed and bit-field BMPs must hold offset + stride * |height| bytes.
Structure scan_bmp(const uint8_t* d, size_t n, std::string* problem) {
  if (n < 18) return Structure::truncated;
  const uint32_t pixel_offset = le32(d + 10);
  const uint32_t header_size = le32(d + 14);
  int64_t width, height;
  uint32_t bpp, compression = 0;
  if (header_size == 12) {
    if (n < 26) return Structure::truncated;
    width = le16(d + 18);  // unsigned in the OS/2 header (as stb and PIL read them)
    height = le16(d + 20);
    bpp = le16(d + 24);
  } else if (header_size >= 40) {
    if (n < 34) return Structure::truncated;
    width = int32_t(le32(d + 18));
    height = int32_t(le32(d + 22));
    bpp = le16(d + 28);
    compression = le32(d + 30);
  } else {
    return Structure::unknown;
  }
  if (compression != 0 && compression != 3) {  // what stb decodes: uncompressed and bit fields
    if (problem) {
      *problem = compression == 1 ? "RLE8 compression" : compression == 2 ? "RLE4 compression" : compression == 4 ? "embedded JPEG"
                 : compression == 5 ? "embedded PNG" : "compression " + std::to_string(compression);
    }
    return Structure::unsupported;
  }
  if (width <= 0 || height == 0 || bpp == 0 || bpp > 32) return Structure::unknown;
  if (height < 0) height = -height;
  const uint64_t stride = ((uint64_t(width) * bpp + 31) / 32) * 4;
  const uint64_t needed = uint64_t(pixel_offset) + stride * uint64_t(height);
  return n < needed ? Structure::truncated : Structure::complete;
}

// WebP: the RIFF header's size says where the file ends, so a cut file is one shorter than that. What
// lies inside (chunks, bitstreams) is libwebp's to judge.
Structure scan_webp(const uint8_t* d, size_t n) {
  if (n < 12) return Structure::truncated;
  const uint32_t riff_size = le32(d + 4);
  if (riff_size < 12) return Structure::unknown;  // too small to hold a chunk: libwebp says so
  return uint64_t(riff_size) + 8 > n ? Structure::truncated : Structure::complete;
}

}  // namespace

Format sniff_format(const uint8_t* d, size_t n) {
  if (!d || n == 0) return Format::unknown;
  if (starts_with(d, n, "\xFF\xD8\xFF", 3)) return Format::jpeg;
  if (starts_with(d, n, "\x89PNG\r\n\x1A\n", 8)) return Format::png;
  if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) return Format::gif;
  if (starts_with(d, n, "BM", 2)) return Format::bmp;
  if (starts_with(d, n, "RIFF", 4) && starts_with(d, n, "WEBP", 4, 8)) return Format::webp;
  if (const Format f = sniff_ftyp(d, n); f != Format::unknown) return f;
  if (starts_with(d, n, "\xFF\x0A", 2) || starts_with(d, n, "\0\0\0\x0CJXL \r\n\x87\n", 12)) return Format::jxl;
  if (starts_with(d, n, "\0\0\0\x0CjP  \r\n\x87\n", 12) || starts_with(d, n, "\xFF\x4F\xFF\x51", 4)) return Format::jp2;
  if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) return Format::tiff;
  if (starts_with(d, n, "\0\0\1\0", 4) || starts_with(d, n, "\0\0\2\0", 4)) return Format::ico;
  if (starts_with(d, n, "8BPS", 4)) return Format::psd;
  if (starts_with(d, n, "qoif", 4)) return Format::qoi;
  if (starts_with(d, n, "%PDF", 4)) return Format::pdf;
  if (starts_with(d, n, "<svg", 4) || starts_with(d, n, "<?xml", 5)) return Format::svg;
  return Format::unknown;
}

bool is_truncated_magic(const uint8_t* d, size_t n) {
  // A file cut inside its own signature: a proper prefix of a decodable format's magic.
  static const struct { const char* magic; size_t len; } kMagics[] = {
      {"\xFF\xD8\xFF", 3}, {"\x89PNG\r\n\x1A\n", 8}, {"GIF87a", 6}, {"GIF89a", 6}};
  for (const auto& m : kMagics)
    if (n < m.len && n > 0 && std::memcmp(d, m.magic, n) == 0) return true;
  // WebP: "RIFF", any 4 size bytes, "WEBP".
  if (n > 0 && n < 12) {
    const size_t riff = n < 4 ? n : 4;
    if (std::memcmp(d, "RIFF", riff) == 0 && (n <= 8 || std::memcmp(d + 8, "WEBP", n - 8) == 0)) return true;
  }
  return false;
}

bool gif_canvas_size(const uint8_t* d, size_t n, uint32_t* width, uint32_t* height) {
  if (n < 10) return false;
  *width = le16(d + 6);
  *height = le16(d + 8);
  uint32_t right = 0, bottom = 0;
  if (gif_first_frame_edges(d, n, &right, &bottom)) {
    *width = std::max(*width, right);
    *height = std::max(*height, bottom);
  }
  return true;
}

bool gif_first_frame_backdrop(const uint8_t* d, size_t n, GifBackdrop* out) {
  size_t pos = 0;
  int transparent_index;
  if (!gif_first_descriptor(d, n, &pos, &transparent_index)) return false;
  out->left = le16(d + pos);
  out->top = le16(d + pos + 2);
  out->width = le16(d + pos + 4);
  out->height = le16(d + pos + 6);
  uint32_t screen_w = 0, screen_h = 0;
  gif_canvas_size(d, n, &screen_w, &screen_h);
  if (out->left == 0 && out->top == 0 && out->width >= screen_w && out->height >= screen_h) return false;
  if (transparent_index >= 0) {
    std::memset(out->rgba, 0, 4);
    return true;
  }
  // The frame's palette: its own (right after the descriptor) or else the global one; none: black.
  const uint8_t* palette = d[pos + 8] & 0x80 ? d + pos + 9 : d[10] & 0x80 ? d + 13 : nullptr;
  if (palette && size_t(palette - d) + 3 > n) palette = nullptr;
  out->rgba[0] = palette ? palette[0] : 0;
  out->rgba[1] = palette ? palette[1] : 0;
  out->rgba[2] = palette ? palette[2] : 0;
  out->rgba[3] = 255;
  return true;
}

bool bmp_alpha_ignored(const uint8_t* d, size_t n) {
  if (n < 34 || le32(d + 14) < 40) return false;  // OS/2 headers have no compression field
  return le16(d + 28) == 32 && le32(d + 30) == 0;  // 32 bits per pixel, BI_RGB
}

namespace {

// A malloc'ed copy of the first `keep` bytes with `extra_size` bytes after them, and room for `tail`
// more bytes the caller writes after those (as every big buffer here: a failed allocation is a value,
// not an exception). Null when out of memory.
uint8_t* copy_for_repair(const uint8_t* d, size_t keep, const uint8_t* extra, size_t extra_size, RepairedBytes* copy,
                         size_t tail = 0) {
  copy->bytes.reset(static_cast<uint8_t*>(std::malloc(keep + extra_size + tail)));
  if (!copy->bytes) {
    copy->out_of_memory = true;
    return nullptr;
  }
  std::memcpy(copy->bytes.get(), d, keep);
  if (extra_size) std::memcpy(copy->bytes.get() + keep, extra, extra_size);
  copy->size = keep + extra_size + tail;
  return copy->bytes.get();
}

const uint8_t* gif_with_first_frame_canvas(const uint8_t* d, size_t n, RepairedBytes* copy) {
  uint32_t w = 0, h = 0;
  if (!gif_canvas_size(d, n, &w, &h) || (w == le16(d + 6) && h == le16(d + 8)) || w > 0xFFFF || h > 0xFFFF) return d;
  uint8_t* screen = copy_for_repair(d, n, nullptr, 0, copy);
  if (!screen) return nullptr;
  screen[6] = uint8_t(w);
  screen[7] = uint8_t(w >> 8);
  screen[8] = uint8_t(h);
  screen[9] = uint8_t(h >> 8);
  return screen;
}

const uint8_t* png_with_end(const uint8_t* d, size_t n, RepairedBytes* copy) {
  static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  bool seen_idat = false;
  size_t pos = 8;
  while (pos < n) {
    // Cut inside IEND itself (its length, type or CRC): the same as no IEND at all.
    if (n - pos < sizeof iend && seen_idat && std::memcmp(d + pos, iend, n - pos) == 0) break;
    if (n - pos < 8) return d;
    const uint32_t len = be32(d + pos);
    if (len > 0x7FFFFFFFu || std::memcmp(d + pos + 4, "IEND", 4) == 0) return d;
    if (n - pos - 8 < uint64_t(len) + 4) return d;
    seen_idat = seen_idat || std::memcmp(d + pos + 4, "IDAT", 4) == 0;
    pos += 12 + size_t(len);
  }
  if (pos > n || !seen_idat) return d;
  const uint8_t* ended = copy_for_repair(d, pos, iend, sizeof iend, copy);
  copy->png_end_added = ended != nullptr;
  return ended;
}

// stb_image 2.27 keeps a PNG's palette in an uninitialised stack array, so a pixel whose index lies past
// the PLTE's entries took whatever colour an earlier image left there: the same bytes gave other pixels
// (and another verdict) from call to call. PIL (training) shows such an index i as grey (i, i, i), as
// its palettes start as a grey ramp. A palette PNG whose PLTE holds fewer entries than its bit depth can
// index gets, on a copy, the missing entries as PIL shows them (stb checks no CRC, so the old one stays).
// `d` may be copy's own bytes (a PNG that got its IEND first).
const uint8_t* png_with_full_palette(const uint8_t* d, size_t n, RepairedBytes* copy) {
  if (n < 33 || std::memcmp(d + 12, "IHDR", 4) != 0 || d[25] != 3 || d[24] == 0 || d[24] > 8) return d;
  const size_t entries = size_t(1) << d[24];
  const auto short_palette = [&](size_t pos, uint32_t len) {  // a PLTE chunk stb reads, with too few entries
    return std::memcmp(d + pos + 4, "PLTE", 4) == 0 && len > 0 && len % 3 == 0 && len / 3 < entries;
  };
  size_t added = 0;  // bytes the padded PLTE chunks add
  for (size_t pos = 8; n - pos >= 12;) {
    const uint32_t len = be32(d + pos);
    if (len > 0x7FFFFFFFu || n - pos - 12 < len || std::memcmp(d + pos + 4, "IDAT", 4) == 0) break;
    if (short_palette(pos, len)) added += 3 * entries - len;
    pos += 12 + size_t(len);
  }
  if (added == 0) return d;
  PixelBuffer earlier_copy = std::move(copy->bytes);  // freed once read, when `d` is it
  uint8_t* fixed = copy_for_repair(d, 0, nullptr, 0, copy, n + added);
  if (!fixed) return nullptr;
  size_t in = 8, out = 8;
  std::memcpy(fixed, d, 8);
  while (n - in >= 12) {
    const uint32_t len = be32(d + in);
    if (len > 0x7FFFFFFFu || n - in - 12 < len || std::memcmp(d + in + 4, "IDAT", 4) == 0) break;
    if (short_palette(in, len)) {
      const uint32_t padded = uint32_t(3 * entries);
      const uint8_t length[4] = {uint8_t(padded >> 24), uint8_t(padded >> 16), uint8_t(padded >> 8), uint8_t(padded)};
      std::memcpy(fixed + out, length, 4);
      std::memcpy(fixed + out + 4, d + in + 4, 4 + size_t(len));
      for (size_t i = len / 3; i < entries; ++i) std::memset(fixed + out + 8 + 3 * i, int(i), 3);
      std::memcpy(fixed + out + 8 + padded, d + in + 8 + len, 4);
      out += 12 + padded;
    } else {
      std::memcpy(fixed + out, d + in, 12 + size_t(len));
      out += 12 + size_t(len);
    }
    in += 12 + size_t(len);
  }
  std::memcpy(fixed + out, d + in, n - in);  // the image data and all after it
  return fixed;
}

// stb_image 2.27 keeps a BMP's palette in an uninitialised stack array too, and counts its entries from
// the pixel data's offset: for an OS/2 (12-byte header) file four fewer than the file holds (so a 1-bit
// one read no entry at all), for the others what fits before the pixels. A pixel whose index lies past
// what stb read took an earlier image's colours. Such a BMP gets, on a copy, a palette stb reads in
// full: the file's entries, then the missing ones as PIL shows them (grey i,i,i).
const uint8_t* bmp_with_full_palette(const uint8_t* d, size_t n, RepairedBytes* copy) {
  if (n < 30) return d;
  const uint32_t header_size = le32(d + 14), offset = le32(d + 10);
  const bool os2 = header_size == 12;
  if (!os2 && header_size != 40 && header_size != 56 && header_size != 108 && header_size != 124) return d;
  if (!os2 && (n < 34 || le32(d + 30) != 0)) return d;  // palette files are uncompressed here (RLE is refused)
  const uint32_t bpp = le16(d + (os2 ? 24 : 28));
  if ((bpp != 1 && bpp != 4 && bpp != 8) || offset < 14 + header_size || offset > n) return d;
  const size_t entry = os2 ? 3 : 4, entries = size_t(1) << bpp;
  const size_t in_file = (offset - 14 - header_size) / entry;
  // stb's count: (offset - 38) / 3 for OS/2 (C division: -2 for a 1-bit file's two entries), else what fits.
  const int64_t stb_entries = os2 ? (int64_t(offset) - 38) / 3 : int64_t(in_file);
  if (in_file == 0 || stb_entries >= int64_t(entries)) return d;  // no palette at all: stb refuses it
  const size_t palette_at = 14 + header_size;
  // OS/2: stb skips 12 bytes after the entries it reads, so they follow the palette.
  const size_t pixels_at = palette_at + entries * entry + (os2 ? 12 : 0);
  uint8_t* fixed = copy_for_repair(d, palette_at, nullptr, 0, copy, pixels_at - palette_at + (n - offset));
  if (!fixed) return nullptr;
  const size_t kept = std::min(in_file, entries) * entry;
  std::memcpy(fixed + palette_at, d + palette_at, kept);
  std::memset(fixed + palette_at + kept, 0, pixels_at - palette_at - kept);
  for (size_t i = kept / entry; i < entries; ++i) std::memset(fixed + palette_at + i * entry, int(i), 3);
  std::memcpy(fixed + pixels_at, d + offset, n - offset);
  const size_t file_size = copy->size;
  for (int i = 0; i < 4; ++i) {
    fixed[2 + i] = uint8_t(file_size >> (8 * i));
    fixed[10 + i] = uint8_t(pixels_at >> (8 * i));
  }
  return fixed;
}

// A JPEG of four components is Adobe's inverted CMYK to libjpeg (so to PIL, which trains, and to
// browsers) unless an Adobe APP14 segment names another colour transform, which libjpeg then reads as
// YCCK. stb_image reads CMYK or YCCK only when APP14 says 0 or 2, and otherwise decodes the first three
// components as YCbCr: colours unrelated to the image. Such a file gets, on a copy, an APP14 saying what
// libjpeg assumes, just before its first scan (the last APP14 before it is the one stb keeps).
const uint8_t* jpeg_with_libjpeg_transform(const uint8_t* d, size_t n, RepairedBytes* copy) {
  int components = 0, libjpeg_transform = -1, stb_transform = -1;
  size_t pos = 2;
  for (;;) {
    if (pos + 4 > n || d[pos] != 0xFF) return d;
    const uint8_t marker = d[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }
    if (marker == 0xDA) break;
    if (marker == 0xD9) return d;
    const size_t len = be16(d + pos + 2);
    if (len < 2 || n - pos - 2 < len) return d;
    const uint8_t* payload = d + pos + 4;
    const size_t payload_len = len - 2;
    const bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof && payload_len >= 6) components = payload[5];
    // libjpeg wants "Adobe" and 12 bytes; stb also a zero after "Adobe" (the version's high byte).
    if (marker == 0xEE && payload_len >= 12 && std::memcmp(payload, "Adobe", 5) == 0) {
      libjpeg_transform = payload[11];
      stb_transform = payload[5] == 0 ? payload[11] : -1;
    }
    pos += 2 + len;
  }
  const uint8_t wanted = libjpeg_transform <= 0 ? 0 : 2;  // none or 0: CMYK; anything else: YCCK
  if (components != 4 || stb_transform == wanted) return d;
  const uint8_t app14[16] = {0xFF, 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, wanted};
  uint8_t* fixed = copy_for_repair(d, pos, app14, sizeof app14, copy, n - pos);
  if (fixed) std::memcpy(fixed + pos + sizeof app14, d + pos, n - pos);
  return fixed;
}

}  // namespace

const uint8_t* repaired_for_stb(Format format, const uint8_t* data, size_t size, RepairedBytes* copy) {
  if (format == Format::gif) return gif_with_first_frame_canvas(data, size, copy);
  if (format == Format::png) {
    const uint8_t* ended = png_with_end(data, size, copy);
    return ended ? png_with_full_palette(ended, copy->bytes ? copy->size : size, copy) : nullptr;
  }
  if (format == Format::jpeg) return jpeg_with_libjpeg_transform(data, size, copy);
  if (format == Format::bmp) return bmp_with_full_palette(data, size, copy);
  return data;
}

Structure scan_structure(Format format, const uint8_t* data, size_t size, std::string* problem) {
  switch (format) {
    case Format::jpeg: return scan_jpeg(data, size, problem);
    case Format::png: return scan_png(data, size);
    case Format::gif: return scan_gif(data, size);
    case Format::bmp: return scan_bmp(data, size, problem);
    case Format::webp: return scan_webp(data, size);
    default: return Structure::unknown;
  }
}

bool read_header_size(Format format, const uint8_t* d, size_t n, uint64_t* width, uint64_t* height) {
  switch (format) {
    case Format::png:  // signature, IHDR length + type, then width and height (big endian)
      if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return false;
      *width = be32(d + 16);
      *height = be32(d + 20);
      return true;
    case Format::gif: {  // the canvas the first frame is decoded on (see gif_canvas_size)
      uint32_t w = 0, h = 0;
      if (!gif_canvas_size(d, n, &w, &h)) return false;
      *width = w;
      *height = h;
      return true;
    }
    case Format::bmp: {
      if (n < 18) return false;
      const uint32_t header_size = le32(d + 14);
      if (header_size == 12) {
        if (n < 22) return false;
        *width = le16(d + 18);
        *height = le16(d + 20);
        return true;
      }
      if (n < 26) return false;
      const int32_t w = int32_t(le32(d + 18)), h = int32_t(le32(d + 22));
      *width = uint64_t(w < 0 ? -int64_t(w) : w);
      *height = uint64_t(h < 0 ? -int64_t(h) : h);
      return true;
    }
    case Format::jpeg: {  // walk the segments to the first SOFn: FF Cx len(2) precision(1) height(2) width(2)
      size_t pos = 2;
      while (pos + 4 <= n) {
        if (d[pos] != 0xFF) return false;
        const uint8_t marker = d[pos + 1];
        if (marker == 0xFF) { ++pos; continue; }
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }
        if (marker == 0xDA || marker == 0xD9) return false;
        const size_t len = be16(d + pos + 2);
        const bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (is_sof) {
          if (len < 7 || pos + 9 > n) return false;
          *height = be16(d + pos + 5);
          *width = be16(d + pos + 7);
          return true;
        }
        if (len < 2) return false;
        pos += 2 + len;
      }
      return false;
    }
    case Format::webp: {  // the first chunk: VP8X (canvas), VP8 (key frame header) or VP8L
      if (n < 30) return false;
      const uint8_t* c = d + 20;  // the first chunk's payload
      if (std::memcmp(d + 12, "VP8X", 4) == 0) {
        *width = 1 + uint64_t(le16(c + 4) | (uint32_t(c[6]) << 16));
        *height = 1 + uint64_t(le16(c + 7) | (uint32_t(c[9]) << 16));
        return true;
      }
      if (std::memcmp(d + 12, "VP8 ", 4) == 0) {
        if (std::memcmp(c + 3, "\x9D\x01\x2A", 3) != 0) return false;
        *width = le16(c + 6) & 0x3FFF;
        *height = le16(c + 8) & 0x3FFF;
        return true;
      }
      if (std::memcmp(d + 12, "VP8L", 4) == 0) {
        if (c[0] != 0x2F) return false;
        const uint32_t bits = le32(c + 1);
        *width = 1 + (bits & 0x3FFF);
        *height = 1 + ((bits >> 14) & 0x3FFF);
        return true;
      }
      return false;
    }
    default:
      return false;
  }
}

namespace {

// The Orientation tag (0x0112) of a TIFF structure (EXIF payload): 1..8, or 1 when absent or unreadable.
// Read as PIL reads it, since training turns images with ImageOps.exif_transpose: any numeric TIFF type
// counts when its value is a whole 1..8 (a LONG 6, an SSHORT 6, a FLOAT 6.0, a RATIONAL 12/2; BYTE, ASCII
// and UNDEFINED give PIL bytes or text, which turn nothing), a longer tag gives its first value (held in
// the entry, or beyond 4 bytes at the offset the entry holds), the last of repeated tags wins, an entry
// PIL cannot read (unknown type, no values, values past the end) is skipped, and the entries before a
// cut in the IFD still count.
int tiff_orientation(const uint8_t* tiff, size_t tiff_len) {
  // TIFF header: byte order, 42, offset of IFD0 (relative to the TIFF header).
  if (tiff_len < 8) return 1;
  bool little;
  if (std::memcmp(tiff, "II", 2) == 0) little = true;
  else if (std::memcmp(tiff, "MM", 2) == 0) little = false;
  else return 1;
  auto u16 = [&](uint64_t at) { return little ? le16(tiff + at) : be16(tiff + at); };
  auto u32 = [&](uint64_t at) { return little ? le32(tiff + at) : be32(tiff + at); };
  auto u64 = [&](uint64_t at) { return little ? (uint64_t(u32(at + 4)) << 32) | u32(at) : (uint64_t(u32(at)) << 32) | u32(at + 4); };
  // Bytes per value of each TIFF type PIL reads (0: a type it skips).
  static const uint8_t kValueSize[17] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8};
  if (u16(2) != 42) return 1;
  const uint64_t ifd = u32(4);
  if (ifd + 2 > tiff_len) return 1;
  const size_t entries = u16(ifd);
  int orientation = 1;
  for (size_t i = 0; i < entries; ++i) {
    const uint64_t entry = ifd + 2 + 12 * uint64_t(i);
    if (entry + 12 > tiff_len) break;
    if (u16(entry) != 0x0112) continue;
    const uint32_t type = u16(entry + 2);
    const uint64_t bytes = uint64_t(type < 17 ? kValueSize[type] : 0) * u32(entry + 4);
    if (bytes == 0) continue;
    const uint64_t at = bytes <= 4 ? entry + 8 : u32(entry + 8);
    if (at + bytes > tiff_len) continue;
    double value = 0;  // the first value; 0 for the types that give PIL no number
    switch (type) {
      case 3: value = u16(at); break;
      case 4: case 13: value = u32(at); break;
      case 6: value = int8_t(tiff[at]); break;
      case 8: value = int16_t(u16(at)); break;
      case 9: value = int32_t(u32(at)); break;
      case 16: value = double(u64(at)); break;
      case 11: { const uint32_t bits = u32(at); float f; std::memcpy(&f, &bits, 4); value = f; break; }
      case 12: { const uint64_t bits = u64(at); std::memcpy(&value, &bits, 8); break; }
      case 5: case 10: {  // numerator / denominator; PIL makes x/0 NaN
        const int64_t num = type == 5 ? int64_t(u32(at)) : int64_t(int32_t(u32(at)));
        const int64_t den = type == 5 ? int64_t(u32(at + 4)) : int64_t(int32_t(u32(at + 4)));
        value = den != 0 && num % den == 0 ? double(num / den) : 0;
        break;
      }
      default: break;
    }
    orientation = value >= 1 && value <= 8 && value == double(int(value)) ? int(value) : 1;
  }
  return orientation;
}

}  // namespace

int jpeg_exif_orientation(const uint8_t* d, size_t n) {
  if (!d || n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
  size_t pos = 2;
  // Walk the segments before the first SOS; EXIF lives in an APP1 starting "Exif\0\0".
  while (pos + 4 <= n) {
    if (d[pos] != 0xFF) return 1;
    const uint8_t marker = d[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }
    if (marker == 0xDA || marker == 0xD9) return 1;
    const size_t len = be16(d + pos + 2);
    if (len < 2 || n - pos - 2 < len) return 1;
    const uint8_t* seg = d + pos + 4;
    const size_t seg_len = len - 2;
    pos += 2 + len;
    if (marker != 0xE1 || seg_len < 14 || std::memcmp(seg, "Exif\0\0", 6) != 0) continue;
    return tiff_orientation(seg + 6, seg_len - 6);
  }
  return 1;
}

int png_exif_orientation(const uint8_t* d, size_t n) {
  // PIL (and so training) reads an eXIf chunk wherever it sits before IEND, without an "Exif\0\0" prefix.
  if (!d || n < 8 || sniff_format(d, n) != Format::png) return 1;
  uint64_t pos = 8;
  while (pos + 12 <= n) {
    const uint64_t len = be32(d + pos);
    if (pos + 12 + len > n) return 1;
    if (std::memcmp(d + pos + 4, "IEND", 4) == 0) return 1;
    if (std::memcmp(d + pos + 4, "eXIf", 4) == 0) return tiff_orientation(d + pos + 8, size_t(len));
    pos += 12 + len;
  }
  return 1;
}

size_t png_decode_block_budget(const uint8_t* d, size_t n) {
  uint64_t w = 0, h = 0;
  if (!d || n < 29 || !read_header_size(Format::png, d, n, &w, &h)) return 0;
  const uint64_t depth = d[24];
  static const uint8_t kChannels[7] = {1, 0, 3, 1, 2, 0, 4};  // by colour type: gray, -, RGB, palette, gray+alpha, -, RGBA
  const uint64_t channels = d[25] < 7 && kChannels[d[25]] ? kChannels[d[25]] : 4;
  if (w > (uint64_t(1) << 24) || h > (uint64_t(1) << 24) || depth > 16) return SIZE_MAX;  // stb refuses these itself
  // The inflated data: one filter byte per row, plus Adam7's extra rows (at most 15/8 of h and 7 more);
  // stb's buffer doubling can leave it up to twice that. The pixels stb returns: at most 8 bytes each
  // (16-bit RGBA). The compressed IDAT data it gathers: at most twice the file.
  const uint64_t inflated = ((w * channels * depth + 7) / 8 + 1) * (h * 2 + 8);
  const uint64_t budget = std::max({2 * inflated, w * h * 8, 2 * uint64_t(n)}) + (uint64_t(1) << 20);
  return budget > SIZE_MAX ? SIZE_MAX : size_t(budget);
}

int webp_exif_orientation(const uint8_t* d, size_t n) {
  // Extended (VP8X) files only, and only when VP8X's EXIF flag is set: libwebp's demuxer (which PIL
  // reads EXIF through) ignores an EXIF chunk otherwise.
  if (!d || n < 30 || sniff_format(d, n) != Format::webp || std::memcmp(d + 12, "VP8X", 4) != 0) return 1;
  if (!(d[20] & 0x08)) return 1;
  const uint64_t end = std::min<uint64_t>(n, uint64_t(le32(d + 4)) + 8);
  uint64_t pos = 12;
  while (pos + 8 <= end) {
    const uint64_t len = le32(d + pos + 4);
    if (pos + 8 + len > end) return 1;
    if (std::memcmp(d + pos, "EXIF", 4) == 0) {
      const uint8_t* exif = d + pos + 8;
      // PIL's Exif.load drops an "Exif\0\0" prefix that some writers put before the TIFF header.
      if (len >= 6 && std::memcmp(exif, "Exif\0\0", 6) == 0) return tiff_orientation(exif + 6, size_t(len - 6));
      return tiff_orientation(exif, size_t(len));
    }
    pos += 8 + len + (len & 1);  // chunks are padded to an even size
  }
  return 1;
}

}  // namespace illust
