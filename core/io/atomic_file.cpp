#include "io/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "skyreels/error.h"

namespace skyreels::io {

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  std::string temp = path.string() + ".XXXXXX.tmp";
  const int fd = ::mkstemps(temp.data(), 4);
  if (fd < 0) {
    const int error = errno;
    throw Error(error == ENOENT ? ErrorCode::NotFound : ErrorCode::Runtime,
                path.string() + ": cannot create a file beside it: " + std::strerror(error));
  }
  // mkstemps makes the file private (0600); the result gets the usual permissions.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);

  int error = 0;
  for (std::size_t done = 0; done < bytes.size();) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errno;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && std::rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    std::remove(temp.c_str());
    throw Error(ErrorCode::Runtime, path.string() + ": cannot write: " + std::strerror(error));
  }
}

}  // namespace skyreels::io
