#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace skyreels::hub {

// What a safetensors file's header says of it: its full size (8 + header + data) and its data bytes.
// nullopt when the header cannot be read (too short, not JSON, offsets out of order).
struct SafetensorsExtent {
  std::uint64_t file_bytes = 0, data_bytes = 0;
};
std::optional<SafetensorsExtent> read_safetensors_extent(const std::filesystem::path& file);

// A .pth (zip) archive whose end-of-central-directory record is in its last 64 KiB: a whole file, not
// a truncated one.
bool zip_archive_is_whole(const std::filesystem::path& file);

}  // namespace skyreels::hub
