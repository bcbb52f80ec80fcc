#pragma once

#include <filesystem>
#include <string_view>

namespace skyreels::io {

// Writes `bytes` to `path` through a temporary file beside it, renamed into place: a reader (or a run
// that stops halfway) sees the old file or the new one whole, never part of one. The temporary name is
// unique and created exclusively, so a file planted at a predictable name is never written through.
// Errors (skyreels::Error) name the path.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace skyreels::io
