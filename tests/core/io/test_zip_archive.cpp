#include "io/zip_archive.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "skyreels/error.h"
#include "test_support.h"

namespace skyreels::test {
namespace {

using io::ZipArchive;

// ---- a small ZIP writer for crafted archives (stored members only; no compression needed) ----------

void put_u16(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u32(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct ZipMember {
  std::string name;
  std::string data;
  std::uint16_t method = 0;
  std::uint64_t declared_size_delta = 0;  // added to the central sizes (to forge "data past the end")
};

struct ZipLayout {
  bool zip64 = false;              // saturate the 32-bit fields and write ZIP64 records
  std::uint64_t alignment = 1;     // pad each local header's extra field so data starts aligned...
  std::uint64_t shift = 0;         // ...plus this many bytes (to force unaligned data)
  std::string comment;
};

class ZipBuilder {
public:
  explicit ZipBuilder(ZipLayout layout = {}) : layout_(std::move(layout)) {}

  ZipBuilder& add(ZipMember member) {
    members_.push_back(std::move(member));
    return *this;
  }

  std::string build() const {
    std::string out;
    std::vector<std::uint64_t> local_offsets;
    for (const ZipMember& member : members_) {
      local_offsets.push_back(out.size());
      write_local(out, member);
    }
    const std::uint64_t directory_offset = out.size();
    for (std::size_t i = 0; i < members_.size(); ++i) write_central(out, members_[i], local_offsets[i]);
    const std::uint64_t directory_size = out.size() - directory_offset;
    if (layout_.zip64) write_zip64_end(out, directory_offset, directory_size);
    write_end(out, directory_offset, directory_size);
    return out;
  }

private:
  // Local extra = one padding field (id 0x4246, like torch.save's "FB" alignment padding).
  std::string local_extra(std::uint64_t header_start, const ZipMember& member) const {
    if (layout_.alignment <= 1 && layout_.shift == 0) return {};
    const std::uint64_t unpadded = header_start + 30 + member.name.size() + 4;
    std::uint64_t target = (unpadded + layout_.alignment - 1) / layout_.alignment * layout_.alignment + layout_.shift;
    std::string extra;
    put_u16(extra, 0x4246);
    put_u16(extra, target - unpadded);
    extra.append(static_cast<std::size_t>(target - unpadded), 'Z');
    return extra;
  }

  void write_local(std::string& out, const ZipMember& member) const {
    const std::string extra = local_extra(out.size(), member);
    put_u32(out, 0x04034b50);
    put_u16(out, layout_.zip64 ? 45 : 20);
    put_u16(out, 0x0800);  // UTF-8 names
    put_u16(out, member.method);
    put_u16(out, 0);
    put_u16(out, 0x21);
    put_u32(out, crc32(member.data));
    put_u32(out, member.data.size());
    put_u32(out, member.data.size());
    put_u16(out, member.name.size());
    put_u16(out, extra.size());
    out += member.name;
    out += extra;
    out += member.data;
  }

  void write_central(std::string& out, const ZipMember& member, std::uint64_t local_offset) const {
    const std::uint64_t size = member.data.size() + member.declared_size_delta;
    std::string extra;
    if (layout_.zip64) {
      put_u16(extra, 0x0001);
      put_u16(extra, 24);
      put_u64(extra, size);          // uncompressed
      put_u64(extra, size);          // compressed
      put_u64(extra, local_offset);  // local header
    }
    put_u32(out, 0x02014b50);
    put_u16(out, 0x031e);
    put_u16(out, layout_.zip64 ? 45 : 20);
    put_u16(out, 0x0800);
    put_u16(out, member.method);
    put_u16(out, 0);
    put_u16(out, 0x21);
    put_u32(out, crc32(member.data));
    put_u32(out, layout_.zip64 ? 0xFFFFFFFFu : size);
    put_u32(out, layout_.zip64 ? 0xFFFFFFFFu : size);
    put_u16(out, member.name.size());
    put_u16(out, extra.size());
    put_u16(out, 0);  // comment
    put_u16(out, 0);  // disk
    put_u16(out, 0);  // internal attributes
    put_u32(out, 0);  // external attributes
    put_u32(out, layout_.zip64 ? 0xFFFFFFFFu : local_offset);
    out += member.name;
    out += extra;
  }

  void write_zip64_end(std::string& out, std::uint64_t directory_offset, std::uint64_t directory_size) const {
    const std::uint64_t record_offset = out.size();
    put_u32(out, 0x06064b50);
    put_u64(out, 44);  // size of the rest of the record
    put_u16(out, 45);
    put_u16(out, 45);
    put_u32(out, 0);
    put_u32(out, 0);
    put_u64(out, members_.size());
    put_u64(out, members_.size());
    put_u64(out, directory_size);
    put_u64(out, directory_offset);
    put_u32(out, 0x07064b50);  // locator
    put_u32(out, 0);
    put_u64(out, record_offset);
    put_u32(out, 1);
  }

  void write_end(std::string& out, std::uint64_t directory_offset, std::uint64_t directory_size) const {
    const bool z = layout_.zip64;
    put_u32(out, 0x06054b50);
    put_u16(out, 0);
    put_u16(out, 0);
    put_u16(out, z ? 0xFFFF : members_.size());
    put_u16(out, z ? 0xFFFF : members_.size());
    put_u32(out, z ? 0xFFFFFFFFu : directory_size);
    put_u32(out, z ? 0xFFFFFFFFu : directory_offset);
    put_u16(out, layout_.comment.size());
    out += layout_.comment;
  }

  ZipLayout layout_;
  std::vector<ZipMember> members_;
};

// Runs `action`, expecting a skyreels::Error with this code whose message contains every fragment.
void expect_error(const std::function<void()>& action, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected skyreels::Error(" << to_string(code) << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& fragment : fragments) EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

std::string member_bytes(const ZipArchive& archive, const ZipArchive::Member& member) {
  return std::string(reinterpret_cast<const char*>(archive.data(member)), static_cast<std::size_t>(member.size));
}

std::vector<ZipMember> sample_members() {
  return {{"top/data.pkl", "pickle bytes"}, {"top/data/0", std::string(100, '\x01')}, {"top/empty", ""},
          {"top/version", "3\n"}};
}

std::string sample_archive(ZipLayout layout = {}) {
  ZipBuilder builder(std::move(layout));
  for (ZipMember& member : sample_members()) builder.add(std::move(member));
  return builder.build();
}

void expect_sample_members(const ZipArchive& archive) {
  const std::vector<ZipMember> expected = sample_members();
  ASSERT_EQ(archive.members().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const ZipArchive::Member& member = archive.members()[i];
    EXPECT_EQ(member.name, expected[i].name);
    EXPECT_EQ(member.size, expected[i].data.size());
    EXPECT_EQ(member_bytes(archive, member), expected[i].data);
    EXPECT_EQ(archive.find(expected[i].name), &member);
  }
  EXPECT_EQ(archive.find("top/missing"), nullptr);
}

TEST(ZipArchive, ListsStoredMembers) {
  TempDir dir;
  const std::string bytes = sample_archive();
  write_file(dir / "a.zip", bytes);
  const ZipArchive archive((dir / "a.zip").string());
  expect_sample_members(archive);
  // First member: 30-byte local header + name, no extra.
  EXPECT_EQ(archive.members()[0].data_offset, 30 + std::string("top/data.pkl").size());
  EXPECT_EQ(archive.path(), (dir / "a.zip").string());
}

TEST(ZipArchive, UsesLocalHeaderExtraLength) {
  TempDir dir;
  ZipLayout layout;
  layout.alignment = 64;
  write_file(dir / "a.zip", sample_archive(layout));
  const ZipArchive archive((dir / "a.zip").string());
  expect_sample_members(archive);
  for (const ZipArchive::Member& member : archive.members()) EXPECT_EQ(member.data_offset % 64, 0u) << member.name;
}

TEST(ZipArchive, ReadsZip64Records) {
  TempDir dir;
  ZipLayout layout;
  layout.zip64 = true;
  layout.alignment = 64;
  write_file(dir / "a.zip", sample_archive(layout));
  const ZipArchive archive((dir / "a.zip").string());
  expect_sample_members(archive);
}

TEST(ZipArchive, ReadsArchiveWithComment) {
  TempDir dir;
  ZipLayout layout;
  // A comment that itself holds an end-of-central-directory signature must not fool the search.
  layout.comment = std::string("note PK\x05\x06 inside", 16) + std::string(40, '.');
  write_file(dir / "a.zip", sample_archive(layout));
  expect_sample_members(ZipArchive((dir / "a.zip").string()));
}

TEST(ZipArchive, ReadsEmptyArchive) {
  TempDir dir;
  write_file(dir / "a.zip", ZipBuilder().build());
  EXPECT_TRUE(ZipArchive((dir / "a.zip").string()).members().empty());
}

TEST(ZipArchive, ReadsTorchSaveFixture) {
  const std::string path = (fixture_case("vae_fp32") / "weights.pth").string();
  const ZipArchive archive(path);
  const ZipArchive::Member* order = archive.find("vae_fp32.weights/byteorder");
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(member_bytes(archive, *order), "little");
  const ZipArchive::Member* pickle = archive.find("vae_fp32.weights/data.pkl");
  ASSERT_NE(pickle, nullptr);
  EXPECT_EQ(archive.data(*pickle)[0], 0x80);  // PROTO
  for (const ZipArchive::Member& member : archive.members()) {
    if (member.name.find("/data/") == std::string::npos) continue;
    EXPECT_EQ(member.data_offset % 64, 0u) << member.name;
  }
}

TEST(ZipArchive, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = (dir / "absent.zip").string();
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::NotFound, {path});
}

TEST(ZipArchive, EveryTruncationIsCorruptFile) {
  TempDir dir;
  const std::string bytes = sample_archive();
  const std::string path = (dir / "cut.zip").string();
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    write_file(path, bytes.substr(0, length));
    expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path});
  }
}

TEST(ZipArchive, NotAZipIsCorruptFile) {
  TempDir dir;
  const std::string path = (dir / "text.zip").string();
  write_file(path, std::string(1000, 'x'));
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "not a ZIP archive"});
}

TEST(ZipArchive, BadDirectoryOffsetIsCorruptFile) {
  TempDir dir;
  std::string bytes = sample_archive();
  const std::size_t eocd = bytes.size() - 22;
  bytes[eocd + 16] = '\xF0';  // central directory offset now points far past the file
  bytes[eocd + 19] = '\x7F';
  const std::string path = (dir / "bad.zip").string();
  write_file(path, bytes);
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "central directory"});
}

TEST(ZipArchive, BadEntryCountIsCorruptFile) {
  TempDir dir;
  std::string bytes = sample_archive();
  const std::size_t eocd = bytes.size() - 22;
  bytes[eocd + 8] = bytes[eocd + 10] = 9;  // more entries than the directory holds
  const std::string path = (dir / "bad.zip").string();
  write_file(path, bytes);
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "central directory entry 4"});
}

TEST(ZipArchive, SaturatedFieldsWithoutZip64IsCorruptFile) {
  TempDir dir;
  std::string bytes = sample_archive();
  const std::size_t eocd = bytes.size() - 22;
  for (int i = 12; i < 20; ++i) bytes[eocd + i] = '\xFF';
  const std::string path = (dir / "bad.zip").string();
  write_file(path, bytes);
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "ZIP64"});
}

TEST(ZipArchive, MemberDataPastEndIsCorruptFile) {
  TempDir dir;
  ZipMember big{"top/data/0", "1234", 0, 1000};
  const std::string path = (dir / "past.zip").string();
  write_file(path, ZipBuilder().add({"top/data.pkl", "x"}).add(big).build());
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "top/data/0", "past the end"});
}

TEST(ZipArchive, Zip64MemberDataPastEndIsCorruptFile) {
  TempDir dir;
  ZipLayout layout;
  layout.zip64 = true;
  ZipMember huge{"top/data/0", "1234", 0, std::uint64_t{1} << 62};
  const std::string path = (dir / "past64.zip").string();
  write_file(path, ZipBuilder(layout).add(huge).build());
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "top/data/0"});
}

TEST(ZipArchive, CompressedMemberIsUnsupported) {
  TempDir dir;
  const std::string path = (dir / "deflate.zip").string();
  write_file(path, ZipBuilder().add({"top/data.pkl", "x"}).add({"top/data/3", "\x03\x00", 8}).build());
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::Unsupported, {path, "top/data/3", "compression method 8"});
}

TEST(ZipArchive, MismatchedLocalHeaderIsCorruptFile) {
  TempDir dir;
  std::string bytes = sample_archive();
  bytes[4 * 0 + 30] = 'X';  // first letter of the first local header's name
  const std::string path = (dir / "name.zip").string();
  write_file(path, bytes);
  expect_error([&] { ZipArchive archive(path); }, ErrorCode::CorruptFile, {path, "top/data.pkl", "local header"});
}

// Random byte damage to a plain and a ZIP64 archive: each outcome is a skyreels::Error or members
// whose bytes lie inside the file.
TEST(ZipArchive, RandomMutationsFailCleanly) {
  ZipLayout zip64;
  zip64.zip64 = true;
  zip64.alignment = 64;
  const std::vector<std::string> seeds = {sample_archive(), sample_archive(zip64)};
  TempDir dir;
  const std::string path = (dir / "fuzz.zip").string();
  std::mt19937 rng(1234567);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  int opened = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::string bytes = seeds[iteration % seeds.size()];
    const std::size_t edits = 1 + pick(3);
    for (std::size_t i = 0; i < edits; ++i) {
      const char values[] = {0, 1, '\x7F', '\xFF', static_cast<char>(pick(256))};
      bytes[pick(bytes.size())] = values[pick(sizeof values)];
    }
    write_file(path, bytes);
    try {
      const ZipArchive archive(path);
      for (const ZipArchive::Member& member : archive.members()) {
        ASSERT_LE(member.data_offset, bytes.size()) << "iteration " << iteration;
        ASSERT_LE(member.size, bytes.size() - member.data_offset) << "iteration " << iteration;
      }
      ++opened;
    } catch (const Error&) {
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iteration << ": exception other than skyreels::Error: " << e.what();
    }
  }
  EXPECT_GT(opened, 0);
}

}  // namespace

// Shared with test_torch_pickle.cpp: an archive of stored members whose data offsets are
// `alignment`-aligned plus `shift` bytes (torch.save aligns to 64).
std::string make_stored_zip(const std::vector<std::pair<std::string, std::string>>& members, std::uint64_t alignment,
                            std::uint64_t shift) {
  ZipLayout layout;
  layout.alignment = alignment;
  layout.shift = shift;
  ZipBuilder builder(layout);
  for (const auto& [name, data] : members) builder.add({name, data});
  return builder.build();
}

}  // namespace skyreels::test
