#include "io/zip_archive.h"

#include <algorithm>
#include <utility>

#include "skyreels/error.h"

namespace skyreels::io {
namespace {

// Record signatures and fixed sizes from the PKWARE APPNOTE.
constexpr std::uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr std::uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr std::uint32_t kEocdSignature = 0x06054b50;
constexpr std::uint32_t kZip64EocdSignature = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr std::uint64_t kLocalHeaderSize = 30;
constexpr std::uint64_t kCentralHeaderSize = 46;
constexpr std::uint64_t kEocdSize = 22;
constexpr std::uint64_t kZip64LocatorSize = 20;
constexpr std::uint64_t kZip64EocdSize = 56;
constexpr std::uint64_t kMaxCommentSize = 0xFFFF;
constexpr std::uint16_t kZip64ExtraId = 0x0001;
constexpr std::uint16_t kMethodStored = 0;
constexpr std::uint16_t kFlagEncrypted = 0x0001;
constexpr std::uint16_t kSaturated16 = 0xFFFF;
constexpr std::uint32_t kSaturated32 = 0xFFFFFFFF;

std::uint16_t read_u16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

std::uint32_t read_u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::uint64_t read_u64(const unsigned char* p) {
  return static_cast<std::uint64_t>(read_u32(p)) | (static_cast<std::uint64_t>(read_u32(p + 4)) << 32);
}

// True when [offset, offset + length) lies inside [0, size), without overflowing.
bool range_fits(std::uint64_t size, std::uint64_t offset, std::uint64_t length) {
  return offset <= size && length <= size - offset;
}

// Where the central directory is, from the (ZIP64) end-of-central-directory record.
struct DirectoryLocation {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint64_t entry_count = 0;
};

// One central-directory entry, before its local header is read.
struct CentralEntry {
  std::string name;
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;
  std::uint32_t disk_start = 0;
};

// Parses the archive structure of one mapped file; every read is checked against the file size.
class ZipParser {
public:
  explicit ZipParser(const MappedFile& file) : file_(file), size_(file.size()) {}

  std::vector<ZipArchive::Member> parse() {
    const std::uint64_t eocd = find_eocd();
    const DirectoryLocation directory = locate_directory(eocd);
    std::vector<ZipArchive::Member> members;
    for (CentralEntry& entry : read_central_directory(directory)) {
      members.push_back(to_member(std::move(entry)));
    }
    return members;
  }

private:
  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw Error(code, file_.path() + ": " + what);
  }
  [[noreturn]] void fail_member(ErrorCode code, const std::string& member, const std::string& what) const {
    throw Error(code, file_.path() + ": member \"" + member + "\": " + what);
  }

  const unsigned char* at(std::uint64_t offset) const { return file_.data() + offset; }

  // The EOCD record sits at the end, followed only by its comment (at most 64 KiB). Scanning
  // backwards, prefer a record whose comment ends exactly at the end of the file, so that a
  // signature inside a comment is not mistaken for the record.
  std::uint64_t find_eocd() const {
    if (size_ < kEocdSize) fail(ErrorCode::CorruptFile, "not a ZIP archive (too short for an end-of-central-directory record)");
    const std::uint64_t last = size_ - kEocdSize;
    const std::uint64_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
    bool have_candidate = false;
    std::uint64_t candidate = 0;
    for (std::uint64_t pos = last + 1; pos-- > first;) {
      if (read_u32(at(pos)) != kEocdSignature) continue;
      const std::uint64_t comment_size = read_u16(at(pos + 20));
      const std::uint64_t record_end = pos + kEocdSize + comment_size;
      if (record_end == size_) return pos;
      if (record_end < size_ && !have_candidate) {
        have_candidate = true;
        candidate = pos;
      }
    }
    if (!have_candidate) fail(ErrorCode::CorruptFile, "not a ZIP archive (no end-of-central-directory record)");
    return candidate;
  }

  DirectoryLocation locate_directory(std::uint64_t eocd) const {
    const unsigned char* record = at(eocd);
    const std::uint16_t disk = read_u16(record + 4);
    const std::uint16_t directory_disk = read_u16(record + 6);
    const std::uint16_t entries_on_disk = read_u16(record + 8);
    DirectoryLocation location;
    location.entry_count = read_u16(record + 10);
    location.size = read_u32(record + 12);
    location.offset = read_u32(record + 16);

    const bool saturated = disk == kSaturated16 || directory_disk == kSaturated16 ||
                           entries_on_disk == kSaturated16 || location.entry_count == kSaturated16 ||
                           location.size == kSaturated32 || location.offset == kSaturated32;
    const bool has_locator = eocd >= kZip64LocatorSize &&
                             read_u32(at(eocd - kZip64LocatorSize)) == kZip64LocatorSignature;
    if (has_locator) return locate_zip64_directory(eocd - kZip64LocatorSize);
    if (saturated) fail(ErrorCode::CorruptFile, "end-of-central-directory fields need ZIP64 but there is no ZIP64 locator");
    if (disk != 0 || directory_disk != 0 || entries_on_disk != location.entry_count) {
      fail(ErrorCode::Unsupported, "multi-disk (spanned) ZIP archives are not supported");
    }
    check_directory_bounds(location, eocd);
    return location;
  }

  DirectoryLocation locate_zip64_directory(std::uint64_t locator) const {
    const unsigned char* record = at(locator);
    const std::uint32_t eocd_disk = read_u32(record + 4);
    const std::uint64_t eocd = read_u64(record + 8);
    const std::uint32_t disk_count = read_u32(record + 16);
    if (eocd_disk != 0 || disk_count > 1) fail(ErrorCode::Unsupported, "multi-disk (spanned) ZIP archives are not supported");
    if (!range_fits(locator, eocd, kZip64EocdSize)) fail(ErrorCode::CorruptFile, "ZIP64 end-of-central-directory record out of bounds");
    const unsigned char* eocd64 = at(eocd);
    if (read_u32(eocd64) != kZip64EocdSignature) fail(ErrorCode::CorruptFile, "bad ZIP64 end-of-central-directory signature");
    const std::uint32_t disk = read_u32(eocd64 + 16);
    const std::uint32_t directory_disk = read_u32(eocd64 + 20);
    const std::uint64_t entries_on_disk = read_u64(eocd64 + 24);
    DirectoryLocation location;
    location.entry_count = read_u64(eocd64 + 32);
    location.size = read_u64(eocd64 + 40);
    location.offset = read_u64(eocd64 + 48);
    if (disk != 0 || directory_disk != 0 || entries_on_disk != location.entry_count) {
      fail(ErrorCode::Unsupported, "multi-disk (spanned) ZIP archives are not supported");
    }
    check_directory_bounds(location, eocd);
    return location;
  }

  // The central directory must end before the record that points at it.
  void check_directory_bounds(const DirectoryLocation& location, std::uint64_t directory_end_limit) const {
    if (!range_fits(directory_end_limit, location.offset, location.size)) {
      fail(ErrorCode::CorruptFile, "central directory out of bounds (offset " + std::to_string(location.offset) +
                                       ", size " + std::to_string(location.size) + ")");
    }
  }

  std::vector<CentralEntry> read_central_directory(const DirectoryLocation& location) const {
    std::vector<CentralEntry> entries;
    // Each entry takes at least kCentralHeaderSize bytes, so a forged count cannot make us reserve much.
    entries.reserve(static_cast<std::size_t>(std::min(location.entry_count, location.size / kCentralHeaderSize)));
    const std::uint64_t end = location.offset + location.size;
    std::uint64_t pos = location.offset;
    for (std::uint64_t i = 0; i < location.entry_count; ++i) {
      entries.push_back(read_central_entry(pos, end, i));
    }
    return entries;
  }

  // Reads the entry at `pos` (inside the directory ending at `end`) and advances `pos` past it.
  CentralEntry read_central_entry(std::uint64_t& pos, std::uint64_t end, std::uint64_t index) const {
    const std::string where = "central directory entry " + std::to_string(index);
    if (!range_fits(end, pos, kCentralHeaderSize)) fail(ErrorCode::CorruptFile, where + " runs past the directory");
    const unsigned char* header = at(pos);
    if (read_u32(header) != kCentralHeaderSignature) fail(ErrorCode::CorruptFile, where + " has a bad signature");
    CentralEntry entry;
    entry.flags = read_u16(header + 8);
    entry.method = read_u16(header + 10);
    entry.compressed_size = read_u32(header + 20);
    entry.uncompressed_size = read_u32(header + 24);
    const std::uint64_t name_size = read_u16(header + 28);
    const std::uint64_t extra_size = read_u16(header + 30);
    const std::uint64_t comment_size = read_u16(header + 32);
    entry.disk_start = read_u16(header + 34);
    entry.local_header_offset = read_u32(header + 42);

    const std::uint64_t variable_size = name_size + extra_size + comment_size;  // < 3 * 64 KiB
    if (!range_fits(end, pos + kCentralHeaderSize, variable_size)) fail(ErrorCode::CorruptFile, where + " runs past the directory");
    const unsigned char* name = header + kCentralHeaderSize;
    entry.name.assign(reinterpret_cast<const char*>(name), static_cast<std::size_t>(name_size));
    apply_zip64_extra(name + name_size, extra_size, entry);
    pos += kCentralHeaderSize + variable_size;
    return entry;
  }

  // The ZIP64 extra field holds, in this order, only the fields saturated in the fixed header.
  void apply_zip64_extra(const unsigned char* extra, std::uint64_t extra_size, CentralEntry& entry) const {
    const bool need_uncompressed = entry.uncompressed_size == kSaturated32;
    const bool need_compressed = entry.compressed_size == kSaturated32;
    const bool need_offset = entry.local_header_offset == kSaturated32;
    const bool need_disk = entry.disk_start == kSaturated16;
    if (!need_uncompressed && !need_compressed && !need_offset && !need_disk) return;

    std::uint64_t pos = 0;
    while (pos + 4 <= extra_size) {
      const std::uint16_t id = read_u16(extra + pos);
      const std::uint64_t size = read_u16(extra + pos + 2);
      pos += 4;
      if (size > extra_size - pos) break;
      if (id == kZip64ExtraId) {
        read_zip64_fields(extra + pos, size, need_uncompressed, need_compressed, need_offset, need_disk, entry);
        return;
      }
      pos += size;
    }
    fail_member(ErrorCode::CorruptFile, entry.name, "sizes or offset need ZIP64 but there is no ZIP64 extra field");
  }

  void read_zip64_fields(const unsigned char* field, std::uint64_t size, bool need_uncompressed, bool need_compressed,
                         bool need_offset, bool need_disk, CentralEntry& entry) const {
    std::uint64_t pos = 0;
    auto take_u64 = [&](std::uint64_t& out) {
      if (size - pos < 8) fail_member(ErrorCode::CorruptFile, entry.name, "ZIP64 extra field too short");
      out = read_u64(field + pos);
      pos += 8;
    };
    if (need_uncompressed) take_u64(entry.uncompressed_size);
    if (need_compressed) take_u64(entry.compressed_size);
    if (need_offset) take_u64(entry.local_header_offset);
    if (need_disk) {
      if (size - pos < 4) fail_member(ErrorCode::CorruptFile, entry.name, "ZIP64 extra field too short");
      entry.disk_start = read_u32(field + pos);
    }
  }

  // Checks what this reader supports and finds the data behind the local header, whose name and
  // extra lengths may differ from the central directory's.
  ZipArchive::Member to_member(CentralEntry entry) const {
    if (entry.flags & kFlagEncrypted) fail_member(ErrorCode::Unsupported, entry.name, "encrypted members are not supported");
    if (entry.method != kMethodStored) {
      fail_member(ErrorCode::Unsupported, entry.name,
                  "compression method " + std::to_string(entry.method) + " is not supported (only stored members)");
    }
    if (entry.disk_start != 0) fail(ErrorCode::Unsupported, "multi-disk (spanned) ZIP archives are not supported");
    if (entry.compressed_size != entry.uncompressed_size) {
      fail_member(ErrorCode::CorruptFile, entry.name, "stored member with different compressed and uncompressed sizes");
    }

    const std::uint64_t local = entry.local_header_offset;
    if (!range_fits(size_, local, kLocalHeaderSize)) fail_member(ErrorCode::CorruptFile, entry.name, "local header out of bounds");
    const unsigned char* header = at(local);
    if (read_u32(header) != kLocalHeaderSignature) fail_member(ErrorCode::CorruptFile, entry.name, "bad local header signature");
    const std::uint64_t name_size = read_u16(header + 26);
    const std::uint64_t extra_size = read_u16(header + 28);
    const std::uint64_t data_offset = local + kLocalHeaderSize + name_size + extra_size;  // no overflow: local < size_
    if (!range_fits(size_, local + kLocalHeaderSize, name_size + extra_size)) {
      fail_member(ErrorCode::CorruptFile, entry.name, "local header out of bounds");
    }
    const std::string local_name(reinterpret_cast<const char*>(header + kLocalHeaderSize), static_cast<std::size_t>(name_size));
    if (local_name != entry.name) fail_member(ErrorCode::CorruptFile, entry.name, "local header names a different member");
    if (!range_fits(size_, data_offset, entry.compressed_size)) {
      fail_member(ErrorCode::CorruptFile, entry.name,
                  "data (offset " + std::to_string(data_offset) + ", size " + std::to_string(entry.compressed_size) +
                      ") runs past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    ZipArchive::Member member;
    member.name = std::move(entry.name);
    member.data_offset = data_offset;
    member.size = entry.compressed_size;
    return member;
  }

  const MappedFile& file_;
  std::uint64_t size_;
};

}  // namespace

ZipArchive::ZipArchive(const std::string& path) : ZipArchive(MappedFile::open(path)) {}

ZipArchive::ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  if (!file_) throw Error(ErrorCode::BadArgument, "ZipArchive: no file");
  members_ = ZipParser(*file_).parse();
  index_.reserve(members_.size());
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (!index_.emplace(members_[i].name, i).second) {
      throw Error(ErrorCode::CorruptFile, path() + ": member \"" + members_[i].name + "\" appears twice");
    }
  }
}

const ZipArchive::Member* ZipArchive::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &members_[it->second];
}

}  // namespace skyreels::io
