#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace skyreels::io {

// A private (copy-on-write) memory map of a whole file. Shared so tensors viewing the bytes keep it
// alive. The pages are mapped writable but private: a tensor that views them may be modified in place
// without crashing and without ever changing the file. An empty file has size 0 and no mapping.
class MappedFile {
public:
  // Throws skyreels::Error(NotFound) if the file cannot be opened, naming the path;
  // (BadArgument) if the path is a directory or not a regular file.
  static std::shared_ptr<const MappedFile> open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

  // The same bytes, writable: writes go to private copies of the pages, never to the file.
  // For tensors that view the mapping (LibTorch wants a non-const pointer).
  unsigned char* copy_on_write_data() const noexcept { return data_; }

private:
  MappedFile(std::string path, unsigned char* data, std::size_t size);

  std::string path_;
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace skyreels::io
