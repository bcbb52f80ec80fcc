#include "io/dtype.h"

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "skyreels/error.h"

// LibTorch has float8 scalar types from 2.1 on.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define SKYREELS_TORCH_HAS_FLOAT8 1
#else
#define SKYREELS_TORCH_HAS_FLOAT8 0
#endif

namespace skyreels::io {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8},          {DType::F32, "F32", 4},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},        {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::I64, "I64", 8},          {DType::I32, "I32", 4},         {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},            {DType::U8, "U8", 1},           {DType::BOOL, "BOOL", 1},
};

const DTypeInfo* find_info(DType dtype) {
  for (const auto& info : kDTypes) {
    if (info.dtype == dtype) return &info;
  }
  return nullptr;
}

}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (name == info.name) return info.dtype;
  }
  return std::nullopt;
}

const char* dtype_name(DType dtype) {
  const DTypeInfo* info = find_info(dtype);
  return info ? info->name : "invalid";
}

std::size_t dtype_size(DType dtype) {
  const DTypeInfo* info = find_info(dtype);
  return info ? info->size : 0;
}

std::optional<c10::ScalarType> to_torch_dtype(DType dtype) {
  switch (dtype) {
    case DType::F64: return c10::ScalarType::Double;
    case DType::F32: return c10::ScalarType::Float;
    case DType::F16: return c10::ScalarType::Half;
    case DType::BF16: return c10::ScalarType::BFloat16;
#if SKYREELS_TORCH_HAS_FLOAT8
    case DType::F8_E4M3: return c10::ScalarType::Float8_e4m3fn;
    case DType::F8_E5M2: return c10::ScalarType::Float8_e5m2;
#else
    case DType::F8_E4M3: return std::nullopt;
    case DType::F8_E5M2: return std::nullopt;
#endif
    case DType::I64: return c10::ScalarType::Long;
    case DType::I32: return c10::ScalarType::Int;
    case DType::I16: return c10::ScalarType::Short;
    case DType::I8: return c10::ScalarType::Char;
    case DType::U8: return c10::ScalarType::Byte;
    case DType::BOOL: return c10::ScalarType::Bool;
    case DType::Invalid: return std::nullopt;
  }
  return std::nullopt;
}

DType from_torch_dtype(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Double: return DType::F64;
    case c10::ScalarType::Float: return DType::F32;
    case c10::ScalarType::Half: return DType::F16;
    case c10::ScalarType::BFloat16: return DType::BF16;
#if SKYREELS_TORCH_HAS_FLOAT8
    case c10::ScalarType::Float8_e4m3fn: return DType::F8_E4M3;
    case c10::ScalarType::Float8_e5m2: return DType::F8_E5M2;
#endif
    case c10::ScalarType::Long: return DType::I64;
    case c10::ScalarType::Int: return DType::I32;
    case c10::ScalarType::Short: return DType::I16;
    case c10::ScalarType::Char: return DType::I8;
    case c10::ScalarType::Byte: return DType::U8;
    case c10::ScalarType::Bool: return DType::BOOL;
    default: break;
  }
  throw Error(ErrorCode::Unsupported,
              std::string("LibTorch dtype ") + c10::toString(type) + " has no safetensors equivalent");
}

// OCP FP8 E4M3 ("fn"): bias 7, no infinities; S.1111.111 is the only NaN, so the largest value is 448.
float f8_e4m3_to_float(unsigned char byte) {
  const bool negative = (byte & 0x80) != 0;
  const int exponent = (byte >> 3) & 0x0F;
  const int mantissa = byte & 0x07;
  float magnitude;
  if (exponent == 0x0F && mantissa == 0x07) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m/8 * 2^(1-7)
  } else {
    magnitude = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  }
  return negative ? -magnitude : magnitude;
}

// OCP FP8 E5M2: bias 15, infinities and NaNs as in IEEE half precision.
float f8_e5m2_to_float(unsigned char byte) {
  const bool negative = (byte & 0x80) != 0;
  const int exponent = (byte >> 2) & 0x1F;
  const int mantissa = byte & 0x03;
  float magnitude;
  if (exponent == 0x1F) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -16);  // subnormal: m/4 * 2^(1-15)
  } else {
    magnitude = std::ldexp(1.0f + static_cast<float>(mantissa) / 4.0f, exponent - 15);
  }
  return negative ? -magnitude : magnitude;
}

}  // namespace skyreels::io
