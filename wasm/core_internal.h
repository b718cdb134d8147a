// core_internal.h: helpers shared by the core's .cpp files but not part of the public API in
// illust_core.h (structure scanning is an implementation detail of how we classify failures).
#pragma once

#include <string>

#include "illust_core.h"

namespace illust {

// Result of walking a file's container structure (markers, chunks, blocks) without decoding pixels.
// `invalid`: the structure holds something known to break stb_image 2.27 (Debian 12's copy; fixed
// upstream later), which we refuse before stb sees it; *problem then says what.
enum class Structure { complete, truncated, unknown, invalid };
Structure scan_structure(Format format, const uint8_t* data, size_t size, std::string* problem = nullptr);

// True when 0 < size < magic length and the bytes are a prefix of a decodable format's magic.
bool is_truncated_magic(const uint8_t* data, size_t size);

// Image size from the header alone (PNG IHDR, GIF logical screen, BMP info header, JPEG SOFn),
// before stb_image runs, so the pixel cap can refuse an image with its size in the message even when
// the rest of the header is unreadable. False when the header is too short or has no size.
bool read_header_size(Format format, const uint8_t* data, size_t size, uint64_t* width, uint64_t* height);

// stb_image's header reader for one known format (keeps its failure reason; stb_image_impl.cpp).
int stb_info_for_format(Format format, const uint8_t* data, int len, int* x, int* y, int* comp);

}  // namespace illust
