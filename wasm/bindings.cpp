// bindings.cpp: the one file that includes Emscripten. It is the JS boundary of the core: JS passes a
// Uint8Array (copied into wasm memory), gets back a plain object, {ok:true, ...} or
// {ok:false, code, message}. Results are COPIED into JS-owned typed arrays before the C++ buffers are
// freed, because a typed_memory_view becomes detached when wasm memory grows. Nothing throws: the core
// returns statuses and this file turns them into objects. Argument shapes are checked by web/lib/core.js
// before it calls in (embind itself throws a TypeError on wrongly typed fields).
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cstdlib>
#include <string>

#include "illust_core.h"

using emscripten::val;

namespace {

// What JS passes to toTensor / decode (web/lib/core.js builds it from model/contract.json).
struct JsTensorOptions {
  int width = 224;
  int height = 224;
  std::string resize = "squash";
  std::array<int, 3> pad_color{{0, 0, 0}};
  std::array<int, 3> alpha_background{{255, 255, 255}};
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean{{0, 0, 0}};
  std::array<float, 3> std{{1, 1, 1}};
  double max_pixels = 50e6;
};

struct JsDecodeOptions {
  std::array<int, 3> alpha_background{{255, 255, 255}};
  double max_pixels = 50e6;
};

val error_object(illust::Status status, const std::string& message) {
  val out = val::object();
  out.set("ok", false);
  out.set("code", std::string(illust::status_name(status)));
  out.set("message", message);
  return out;
}

// Copies a JS Uint8Array into a malloc'ed wasm buffer. Null on allocation failure.
illust::PixelBuffer copy_in(const val& bytes, size_t* size) {
  *size = bytes["length"].as<size_t>();
  illust::PixelBuffer buffer(static_cast<uint8_t*>(std::malloc(*size ? *size : 1)));
  if (buffer && *size) val(emscripten::typed_memory_view(*size, buffer.get())).call<void>("set", bytes);
  return buffer;
}

template <typename T>
val copy_out(const char* js_type, const T* data, size_t count) {
  val array = val::global(js_type).new_(count);
  array.call<void>("set", val(emscripten::typed_memory_view(count, data)));
  return array;
}

illust::Limits limits_from(double max_pixels) {
  illust::Limits limits;
  if (max_pixels >= 1 && max_pixels < 1e15) limits.max_pixels = uint64_t(max_pixels);
  return limits;
}

std::array<uint8_t, 3> rgb_from(const std::array<int, 3>& c) {
  auto clamp = [](int v) { return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v)); };
  return {{clamp(c[0]), clamp(c[1]), clamp(c[2])}};
}

// The fields every successful result starts with: {ok: true, width, height, format}.
template <typename Result>
val image_object(const Result& r) {
  val out = val::object();
  out.set("ok", true);
  out.set("width", r.width);
  out.set("height", r.height);
  out.set("format", std::string(illust::format_name(r.format)));
  return out;
}

val js_probe(val bytes, double max_pixels) {
  size_t size = 0;
  illust::PixelBuffer data = copy_in(bytes, &size);
  if (!data) return error_object(illust::Status::out_of_memory, "out of memory copying the input");
  const illust::ProbeResult r = illust::probe(data.get(), size, limits_from(max_pixels));
  if (r.status != illust::Status::ok) return error_object(r.status, r.message);
  val out = image_object(r);
  out.set("orientation", r.orientation);
  return out;
}

val js_decode(val bytes, JsDecodeOptions options) {
  size_t size = 0;
  illust::PixelBuffer data = copy_in(bytes, &size);
  if (!data) return error_object(illust::Status::out_of_memory, "out of memory copying the input");
  illust::DecodeOptions decode_options;
  decode_options.limits = limits_from(options.max_pixels);
  decode_options.alpha_background = rgb_from(options.alpha_background);
  illust::DecodeResult r = illust::decode_rgb(data.get(), size, decode_options);
  data.reset();
  if (r.status != illust::Status::ok) return error_object(r.status, r.message);
  val out = image_object(r);
  out.set("channels", 3);
  out.set("pixels", copy_out("Uint8Array", r.rgb.get(), size_t(r.width) * size_t(r.height) * 3));
  return out;
}

val js_to_tensor(val bytes, JsTensorOptions options) {
  illust::PreprocessParams params;
  params.width = options.width;
  params.height = options.height;
  if (options.resize == "squash") params.resize = illust::ResizeMode::squash;
  else if (options.resize == "letterbox") params.resize = illust::ResizeMode::letterbox;
  else return error_object(illust::Status::bad_argument, "bad argument: unknown resize mode '" + options.resize + "'");
  params.pad_color = rgb_from(options.pad_color);
  params.alpha_background = rgb_from(options.alpha_background);
  params.scale = options.scale;
  params.mean = options.mean;
  params.std = options.std;
  std::string message;
  if (illust::validate_params(params, &message) != illust::Status::ok)
    return error_object(illust::Status::bad_argument, message);

  size_t size = 0;
  illust::PixelBuffer data = copy_in(bytes, &size);
  if (!data) return error_object(illust::Status::out_of_memory, "out of memory copying the input");
  illust::TensorResult r = illust::to_tensor(data.get(), size, params, limits_from(options.max_pixels));
  data.reset();
  if (r.status != illust::Status::ok) return error_object(r.status, r.message);
  val out = image_object(r);
  out.set("tensor", copy_out("Float32Array", r.tensor.get(), r.tensor_size));
  val dims = val::array();
  dims.call<void>("push", 1);
  dims.call<void>("push", 3);
  dims.call<void>("push", params.height);
  dims.call<void>("push", params.width);
  out.set("dims", dims);
  return out;
}

}  // namespace

EMSCRIPTEN_BINDINGS(illust_core) {
  emscripten::value_array<std::array<int, 3>>("Int3")
      .element(emscripten::index<0>())
      .element(emscripten::index<1>())
      .element(emscripten::index<2>());
  emscripten::value_array<std::array<float, 3>>("Float3")
      .element(emscripten::index<0>())
      .element(emscripten::index<1>())
      .element(emscripten::index<2>());
  emscripten::value_object<JsTensorOptions>("TensorOptions")
      .field("width", &JsTensorOptions::width)
      .field("height", &JsTensorOptions::height)
      .field("resize", &JsTensorOptions::resize)
      .field("padColor", &JsTensorOptions::pad_color)
      .field("alphaBackground", &JsTensorOptions::alpha_background)
      .field("scale", &JsTensorOptions::scale)
      .field("mean", &JsTensorOptions::mean)
      .field("std", &JsTensorOptions::std)
      .field("maxPixels", &JsTensorOptions::max_pixels);
  emscripten::value_object<JsDecodeOptions>("DecodeOptions")
      .field("alphaBackground", &JsDecodeOptions::alpha_background)
      .field("maxPixels", &JsDecodeOptions::max_pixels);
  emscripten::function("probe", &js_probe);
  emscripten::function("decode", &js_decode);
  emscripten::function("toTensor", &js_to_tensor);
}
