#include "io/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skyreels/error.h"

namespace skyreels::io {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Closes the descriptor on every path out of open().
class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const noexcept { return fd_; }

private:
  int fd_;
};

// Only regular files: a directory or a FIFO would fail later in confusing ways (or block).
void require_regular_file(const std::string& path, const struct stat& info) {
  if (S_ISDIR(info.st_mode)) throw Error(ErrorCode::BadArgument, path + ": is a directory, expected a file");
  if (!S_ISREG(info.st_mode)) throw Error(ErrorCode::BadArgument, path + ": is not a regular file");
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const int error = errno;
    throw Error(ErrorCode::NotFound, path + ": cannot open: " + errno_text(error));
  }
  require_regular_file(path, info);

  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    throw Error(ErrorCode::NotFound, path + ": cannot open: " + errno_text(error));
  }
  // Stat the open descriptor too: the path may have been replaced since the first check.
  if (::fstat(fd.get(), &info) != 0) {
    const int error = errno;
    throw Error(ErrorCode::NotFound, path + ": cannot stat: " + errno_text(error));
  }
  require_regular_file(path, info);

  const auto size = static_cast<std::size_t>(info.st_size);
  if (size == 0) return std::shared_ptr<const MappedFile>(new MappedFile(path, nullptr, 0));

  // MAP_PRIVATE + PROT_WRITE: copy-on-write, so in-place tensor ops never reach the file.
  void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(), 0);
  if (mapping == MAP_FAILED) {
    const int error = errno;
    throw Error(ErrorCode::Runtime, path + ": cannot memory-map " + std::to_string(size) + " bytes: " +
                                        errno_text(error));
  }
  return std::shared_ptr<const MappedFile>(new MappedFile(path, static_cast<unsigned char*>(mapping), size));
}

MappedFile::MappedFile(std::string path, unsigned char* data, std::size_t size)
    : path_(std::move(path)), data_(data), size_(size) {}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace skyreels::io
