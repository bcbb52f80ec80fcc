#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <c10/core/ScalarType.h>

namespace skyreels::io {

// Element types of checkpoint files (safetensors names). Independent of the LibTorch version:
// LibTorch 1.13 has no float8 types, so F8 tensors are widened on load there (see to_torch_dtype).
enum class DType {
  Invalid = 0,
  F64, F32, F16, BF16, F8_E4M3, F8_E5M2,
  I64, I32, I16, I8, U8, BOOL,
};

// "F32" -> DType::F32; nullopt for names this reader does not know.
std::optional<DType> dtype_from_name(std::string_view name);
const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

// The LibTorch type a tensor of this dtype loads as. F8 types map to their float8 scalar types where
// LibTorch has them (2.1+); otherwise nullopt, and loaders widen the bytes to float32.
std::optional<c10::ScalarType> to_torch_dtype(DType dtype);
// The checkpoint dtype for a LibTorch type; throws skyreels::Error(Unsupported) for types with no name.
DType from_torch_dtype(c10::ScalarType type);

// Decode one float8 byte (IEEE-like layouts of the OCP FP8 spec; E4M3 has no infinities).
float f8_e4m3_to_float(unsigned char byte);
float f8_e5m2_to_float(unsigned char byte);

}  // namespace skyreels::io
