// webp_decode.cpp: WebP through libwebp's decoder (Debian's 1.2.4 source, see CMakeLists.txt), the
// only file that includes libwebp. It decodes exactly what PIL's WebP plugin shows the training
// pipeline: PIL goes through WebPAnimDecoder, i.e. the demuxer's first frame decoded with default
// options (fancy upsampling) onto a canvas that starts fully transparent (0,0,0,0), straight alpha,
// with alpha only when the demuxer's ALPHA flag says so. We do the same steps for frame 1 only, so
// an animation costs one frame of pixels whatever its frame count.
#include <cstring>

#include <webp/decode.h>
#include <webp/demux.h>

#include "core_internal.h"

namespace illust {

namespace {

// libwebp's status as text: what went wrong, then the enum name for searching libwebp's sources.
std::string status_text(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_OK: return "ok (VP8_STATUS_OK)";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory (VP8_STATUS_OUT_OF_MEMORY)";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter (VP8_STATUS_INVALID_PARAM)";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error (VP8_STATUS_BITSTREAM_ERROR)";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature (VP8_STATUS_UNSUPPORTED_FEATURE)";
    case VP8_STATUS_SUSPENDED: return "suspended (VP8_STATUS_SUSPENDED)";
    case VP8_STATUS_USER_ABORT: return "aborted (VP8_STATUS_USER_ABORT)";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data (VP8_STATUS_NOT_ENOUGH_DATA)";
  }
  return "unknown status " + std::to_string(int(status));
}

// By the time libwebp runs, scan_structure has checked that the RIFF container holds all the bytes it
// claims, so "not enough data" here means a chunk or partition claims more than the file holds:
// damage, not a cut file.
Status status_for(VP8StatusCode status) {
  return status == VP8_STATUS_OUT_OF_MEMORY ? Status::out_of_memory : Status::corrupt;
}

struct DemuxDeleter {
  void operator()(WebPDemuxer* demux) const { WebPDemuxDelete(demux); }
};
using Demuxer = std::unique_ptr<WebPDemuxer, DemuxDeleter>;

// Owns a frame iterator (WebPDemuxReleaseIterator frees nothing today, but the API asks for it).
struct FrameIterator {
  WebPIterator iter{};
  bool valid = false;
  ~FrameIterator() {
    if (valid) WebPDemuxReleaseIterator(&iter);
  }
};

// Owns a decoder config's output buffer; ours is external memory, so this frees only what libwebp
// might have attached to it.
struct DecoderConfig {
  WebPDecoderConfig config{};
  ~DecoderConfig() { WebPFreeDecBuffer(&config.output); }
};

}  // namespace

Status webp_features(const uint8_t* data, size_t size, WebpFeatures* features, std::string* reason) {
  WebPBitstreamFeatures f;
  const VP8StatusCode status = WebPGetFeatures(data, size, &f);
  if (status != VP8_STATUS_OK) {
    *reason = status_text(status);
    return status_for(status);
  }
  features->width = f.width;
  features->height = f.height;
  features->has_alpha = f.has_alpha != 0;
  features->animated = f.has_animation != 0;
  return Status::ok;
}

Status webp_decode_first_frame(const uint8_t* data, size_t size, const Limits& limits, WebpImage* out,
                               std::string* reason) {
  // The demuxer walks the chunks (for an animation: one small record per frame, no pixels).
  const WebPData input = {data, size};
  WebPDemuxState state = WEBP_DEMUX_PARSE_ERROR;
  const Demuxer demux(WebPDemuxPartial(&input, &state));
  if (!demux || state == WEBP_DEMUX_PARSE_ERROR) {
    *reason = "invalid chunk layout (libwebp's demuxer refused it)";
    return Status::corrupt;
  }
  if (state != WEBP_DEMUX_DONE) {
    *reason = "data ends before the image does (libwebp's demuxer wants more)";
    return Status::truncated;
  }
  const uint32_t canvas_w = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH);
  const uint32_t canvas_h = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT);
  if (canvas_w == 0 || canvas_h == 0) {
    *reason = "zero-sized canvas";
    return Status::corrupt;
  }
  // The caller checked the header's size; the demuxer read it again, so check what it read.
  if (uint64_t(canvas_w) * canvas_h > limits.max_pixels) {
    *reason = std::to_string(canvas_w) + "x" + std::to_string(canvas_h);
    return Status::too_large;
  }
  FrameIterator frame;
  frame.valid = WebPDemuxGetFrame(demux.get(), 1, &frame.iter) != 0;
  const WebPIterator& it = frame.iter;
  if (!frame.valid || !it.complete || it.width <= 0 || it.height <= 0 || it.x_offset < 0 || it.y_offset < 0 ||
      uint64_t(it.x_offset) + uint64_t(it.width) > canvas_w || uint64_t(it.y_offset) + uint64_t(it.height) > canvas_h) {
    *reason = "the first frame is missing or lies outside the canvas";
    return Status::corrupt;
  }

  // A fully transparent canvas, as WebPAnimDecoder starts every key frame (frame 1 always is one).
  // A frame that covers the whole canvas (every still image) overwrites all of it: no need to clear.
  const size_t stride = size_t(canvas_w) * 4;
  const size_t bytes = stride * canvas_h;
  const bool covers_canvas = it.x_offset == 0 && it.y_offset == 0 && uint32_t(it.width) == canvas_w &&
                             uint32_t(it.height) == canvas_h;
  PixelBuffer canvas(static_cast<uint8_t*>(covers_canvas ? std::malloc(bytes) : std::calloc(bytes, 1)));
  if (!canvas) {
    *reason = "out of memory for a " + std::to_string(canvas_w) + "x" + std::to_string(canvas_h) + " canvas";
    return Status::out_of_memory;
  }
  DecoderConfig decoder;
  if (!WebPInitDecoderConfig(&decoder.config)) {
    *reason = "libwebp version mismatch";
    return Status::corrupt;
  }
  const size_t offset = size_t(it.y_offset) * stride + size_t(it.x_offset) * 4;
  WebPDecBuffer& output = decoder.config.output;
  output.colorspace = MODE_RGBA;  // straight (not premultiplied) alpha, like PIL's RGBA
  output.is_external_memory = 1;
  output.u.RGBA.rgba = canvas.get() + offset;
  output.u.RGBA.stride = int(stride);
  output.u.RGBA.size = bytes - offset;
  const VP8StatusCode status = WebPDecode(it.fragment.bytes, it.fragment.size, &decoder.config);
  if (status != VP8_STATUS_OK) {
    *reason = status_text(status);
    return status_for(status);
  }
  out->width = int(canvas_w);
  out->height = int(canvas_h);
  out->has_alpha = (WebPDemuxGetI(demux.get(), WEBP_FF_FORMAT_FLAGS) & ALPHA_FLAG) != 0;
  out->rgba = std::move(canvas);
  return Status::ok;
}

}  // namespace illust
