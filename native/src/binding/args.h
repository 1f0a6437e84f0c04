// Argument checks at the binding boundary. Every failure throws a JS TypeError/RangeError
// whose message names the argument and says what was expected, so bad input never reaches
// the kernels.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>

namespace grwarm::binding {

[[noreturn]] inline void type_error(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] inline void range_error(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

inline std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::string s = std::to_string(d);
    // trim trailing zeros of the fixed notation
    if (s.find('.') != std::string::npos) {
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
    }
    return s;
  }
  if (v.IsString()) return "\"" + v.As<Napi::String>().Utf8Value() + "\"";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "an Int8Array";
      case napi_uint8_array: return "a Uint8Array";
      case napi_uint8_clamped_array: return "a Uint8ClampedArray";
      case napi_int16_array: return "an Int16Array";
      case napi_uint16_array: return "a Uint16Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint32_array: return "a Uint32Array";
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      default: return "a typed array";
    }
  }
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

inline double number_arg(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) type_error(v.Env(), name + ": expected a number, got " + describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

inline int int_arg(const Napi::Value& v, const std::string& name, int lo, int hi) {
  double d = number_arg(v, name);
  if (!(d == std::floor(d)) || d < lo || d > hi)
    range_error(v.Env(), name + ": expected an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got " + describe(v));
  return int(d);
}

// Seeds are JS numbers holding non-negative integers up to 2^53.
inline uint64_t seed_arg(const Napi::Value& v, const std::string& name) {
  double d = number_arg(v, name);
  if (!(d == std::floor(d)) || d < 0 || d > 9007199254740991.0)
    range_error(v.Env(), name + ": expected an integer in [0, 2^53), got " + describe(v));
  return uint64_t(d);
}

inline Napi::Value field(const Napi::Object& o, const char* key) { return o.Get(key); }

inline int int_field(const Napi::Object& o, const char* key, int def, int lo, int hi,
                     const std::string& prefix) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  return int_arg(v, prefix + key, lo, hi);
}

template <class TA>
TA typed_array_arg(const Napi::Value& v, napi_typedarray_type type, const char* type_name,
                   const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    type_error(v.Env(), name + ": expected " + std::string(type_name) + ", got " + describe(v));
  return v.As<TA>();
}

}  // namespace grwarm::binding
