// core_internal.h: helpers shared by the core's .cpp files but not part of the public API in
// illust_core.h (structure scanning is an implementation detail of how we classify failures).
#pragma once

#include "illust_core.h"

namespace illust {

// Result of walking a file's container structure (markers, chunks, blocks) without decoding pixels.
enum class Structure { complete, truncated, unknown };
Structure scan_structure(Format format, const uint8_t* data, size_t size);

// True when 0 < size < magic length and the bytes are a prefix of a decodable format's magic.
bool is_truncated_magic(const uint8_t* data, size_t size);

}  // namespace illust
