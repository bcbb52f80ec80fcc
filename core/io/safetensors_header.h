#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace skyreels::io {

// One tensor's entry in a safetensors header, validated against the file.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::Invalid;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // offsets into the data section (after the header)
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::uint64_t data_offset = 0;                  // 8 + header length: where the data section starts
  std::vector<SafetensorsEntry> entries;          // in file order of their data offsets
  std::map<std::string, std::string> metadata;    // "__metadata__" (string values only)
};

// Parses and validates the header of a safetensors file held in [bytes, bytes + size).
// Never reads outside that range. Any defect (truncation, header length past the end, bad JSON,
// unknown dtype, offsets out of range or overlapping, byte size not equal to dtype size x shape)
// throws skyreels::Error(CorruptFile / Unsupported) whose message names `file_label` and the tensor.
SafetensorsHeader parse_safetensors_header(const unsigned char* bytes, std::size_t size,
                                           const std::string& file_label);

// The largest header this reader accepts (the format's own limit is 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1024 * 1024;

}  // namespace skyreels::io
