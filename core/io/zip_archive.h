#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/mapped_file.h"

namespace skyreels::io {

// A read-only view of a ZIP archive whose members are stored uncompressed (what torch.save writes).
// Supports ZIP64 (checkpoints over 4 GiB). Bounds-checked: a corrupt archive throws skyreels::Error
// naming the file and the member; compressed members throw Unsupported.
class ZipArchive {
public:
  struct Member {
    std::string name;
    std::uint64_t data_offset = 0;  // of the member's bytes inside the file
    std::uint64_t size = 0;
  };

  explicit ZipArchive(const std::string& path);
  // Reads an archive that is already mapped (e.g. after sniffing its first bytes).
  explicit ZipArchive(std::shared_ptr<const MappedFile> file);

  const std::string& path() const noexcept { return file_->path(); }
  const std::vector<Member>& members() const noexcept { return members_; }
  const Member* find(const std::string& name) const;  // nullptr if absent
  // Pointer to a member's bytes inside the mapping (valid while the archive or `mapping()` lives).
  const unsigned char* data(const Member& member) const { return file_->data() + member.data_offset; }
  const std::shared_ptr<const MappedFile>& mapping() const noexcept { return file_; }

private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<Member> members_;
  std::unordered_map<std::string, std::size_t> index_;  // name -> position in members_
};

}  // namespace skyreels::io
