#include "io/safetensors.h"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "skyreels/error.h"

// Tensor bytes are copied to and from files as they lie in memory; safetensors data is little-endian.
#if defined(__BYTE_ORDER__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");
#endif

namespace skyreels::io {

namespace {

std::string tensor_label(const std::string& file, const std::string& name) {
  return file + ": tensor \"" + name + "\"";
}

std::vector<std::int64_t> shape_of(const at::Tensor& tensor) {
  return std::vector<std::int64_t>(tensor.sizes().begin(), tensor.sizes().end());
}

// --- reading --------------------------------------------------------------------------------------

using F8Table = std::array<float, 256>;

F8Table make_f8_table(float (*decode)(unsigned char)) {
  F8Table table{};
  for (int byte = 0; byte < 256; ++byte) table[static_cast<std::size_t>(byte)] = decode(static_cast<unsigned char>(byte));
  return table;
}

// float8 bytes widened to float32, for LibTorch versions without float8 types.
at::Tensor widen_f8(const SafetensorsEntry& entry, const unsigned char* data) {
  static const F8Table e4m3 = make_f8_table(f8_e4m3_to_float);
  static const F8Table e5m2 = make_f8_table(f8_e5m2_to_float);
  const F8Table& table = entry.dtype == DType::F8_E4M3 ? e4m3 : e5m2;
  at::Tensor out = at::empty(entry.shape, at::TensorOptions().dtype(at::kFloat));
  float* values = out.data_ptr<float>();
  const std::size_t count = entry.end - entry.begin;
  for (std::size_t i = 0; i < count; ++i) values[i] = table[data[i]];
  return out;
}

bool bytes_are_bool(const unsigned char* data, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    if (data[i] > 1) return false;
  }
  return true;
}

// A bool tensor whose bytes are not all 0/1 would break LibTorch's assumptions: normalize a copy.
at::Tensor normalized_bool_copy(const SafetensorsEntry& entry, const unsigned char* data) {
  at::Tensor out = at::empty(entry.shape, at::TensorOptions().dtype(at::kBool));
  bool* values = out.data_ptr<bool>();
  const std::size_t count = entry.end - entry.begin;
  for (std::size_t i = 0; i < count; ++i) values[i] = data[i] != 0;
  return out;
}

// --- writing --------------------------------------------------------------------------------------

struct PlannedTensor {
  const std::string* name;
  const at::Tensor* tensor;
  DType dtype;
  std::uint64_t nbytes;
};

std::vector<PlannedTensor> plan_tensors(const std::string& path,
                                        const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::vector<PlannedTensor> planned;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") {
      throw Error(ErrorCode::BadArgument, tensor_label(path, name) + ": the name is reserved for metadata");
    }
    if (!seen.insert(name).second) {
      throw Error(ErrorCode::BadArgument, tensor_label(path, name) + ": name given twice");
    }
    if (!tensor.defined()) throw Error(ErrorCode::BadArgument, tensor_label(path, name) + ": tensor is undefined");
    DType dtype = DType::Invalid;
    try {
      dtype = from_torch_dtype(tensor.scalar_type());
    } catch (const Error& e) {
      throw Error(e.code(), tensor_label(path, name) + ": " + e.what());
    }
    const auto nbytes = static_cast<std::uint64_t>(tensor.numel()) * dtype_size(dtype);
    planned.push_back({&name, &tensor, dtype, nbytes});
  }
  return planned;
}

// The header JSON, padded with spaces so the data section starts at a multiple of 8.
std::string header_text(const std::string& path, const std::vector<PlannedTensor>& planned,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& item : planned) {
    header[*item.name] = {{"dtype", dtype_name(item.dtype)},
                          {"shape", shape_of(*item.tensor)},
                          {"data_offsets", {offset, offset + item.nbytes}}};
    offset += item.nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadArgument, path + ": a tensor name or metadata string is not valid UTF-8 (" +
                                            std::string(e.what()) + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxSafetensorsHeaderBytes) {
    throw Error(ErrorCode::BadArgument, path + ": header of " + std::to_string(text.size()) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(kMaxSafetensorsHeaderBytes));
  }
  return text;
}

// A file written under a temporary name and renamed into place by commit(); removed if never committed.
// The temporary name is unique and created exclusively (mkstemps): a file or link planted at a
// predictable name is never written through.
class AtomicFileWriter {
public:
  explicit AtomicFileWriter(std::string path) : path_(std::move(path)) {
    std::string name = path_ + ".XXXXXX.tmp";
    const int fd = ::mkstemps(name.data(), 4);
    if (fd < 0) {
      const int error = errno;
      throw Error(error == ENOENT ? ErrorCode::NotFound : ErrorCode::Runtime,
                  path_ + ": cannot create a file beside it: " + std::strerror(error));
    }
    temp_path_ = name;
    // mkstemps makes the file private (0600); the result gets the usual permissions.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd, 0666 & ~mask);
    file_ = ::fdopen(fd, "wb");
    if (file_ == nullptr) {
      const int error = errno;
      ::close(fd);
      std::remove(temp_path_.c_str());
      throw Error(ErrorCode::Runtime, temp_path_ + ": cannot open: " + std::strerror(error));
    }
  }
  ~AtomicFileWriter() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) std::remove(temp_path_.c_str());
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, std::size_t size) {
    if (size > 0 && std::fwrite(data, 1, size, file_) != size) fail("cannot write");
  }

  void commit() {
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) fail("cannot write");
    if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      const int error = errno;
      throw Error(ErrorCode::Runtime, path_ + ": cannot rename " + temp_path_ + " into place: " + std::strerror(error));
    }
    committed_ = true;
  }

private:
  [[noreturn]] void fail(const char* what) {
    const int error = errno;
    throw Error(ErrorCode::Runtime, temp_path_ + ": " + what + ": " + std::strerror(error));
  }

  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

void write_header_length(AtomicFileWriter& out, std::uint64_t length) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(length >> (8 * i));
  out.write(bytes, sizeof bytes);
}

}  // namespace

// --- SafetensorsFile ------------------------------------------------------------------------------

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(MappedFile::open(path)), header_(parse_safetensors_header(file_->data(), file_->size(), path)) {
  for (std::size_t i = 0; i < header_.entries.size(); ++i) index_.emplace(header_.entries[i].name, i);
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) throw Error(ErrorCode::NotFound, path() + ": no tensor \"" + name + "\"");
  return header_.entries[it->second];
}

namespace {

// A CPU tensor of the entry: a view of the mapping when LibTorch has the type and the bytes are
// aligned for it, otherwise a copy (unaligned, non-0/1 bools) or a widened copy (float8 on old LibTorch).
at::Tensor load_tensor(const std::shared_ptr<const MappedFile>& file, std::uint64_t data_offset,
                       const SafetensorsEntry& e) {
  // The parser checked that [data_offset + begin, data_offset + end) lies inside the mapping.
  unsigned char* data = file->copy_on_write_data() + data_offset + e.begin;
  const std::size_t nbytes = e.end - e.begin;

  const auto torch_type = to_torch_dtype(e.dtype);
  if (!torch_type) return widen_f8(e, data);
  const auto options = at::TensorOptions().dtype(*torch_type).device(at::kCPU);
  if (nbytes == 0) return at::empty(e.shape, options);
  if (e.dtype == DType::BOOL && !bytes_are_bool(data, nbytes)) return normalized_bool_copy(e, data);

  // Entries start wherever the writer put them: view the mapping only where the pointer is aligned.
  if (reinterpret_cast<std::uintptr_t>(data) % dtype_size(e.dtype) == 0) {
    std::shared_ptr<const MappedFile> keep_alive = file;
    return at::from_blob(data, e.shape, [keep_alive](void*) {}, options);
  }
  at::Tensor copy = at::empty(e.shape, options);
  std::memcpy(copy.data_ptr(), data, nbytes);
  return copy;
}

}  // namespace

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  try {
    return load_tensor(file_, header_.data_offset, e);
  } catch (const c10::Error& error) {  // e.g. out of memory for a copy
    throw Error(ErrorCode::Runtime, tensor_label(path(), name) + ": cannot load: " + error.what_without_backtrace());
  }
}

// --- write_safetensors ----------------------------------------------------------------------------

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<PlannedTensor> planned = plan_tensors(path, tensors);
  const std::string header = header_text(path, planned, metadata);

  AtomicFileWriter out(path);
  write_header_length(out, header.size());
  out.write(header.data(), header.size());
  for (const auto& item : planned) {
    // One CPU copy at a time, so writing a model from the GPU needs memory for one tensor only.
    at::Tensor cpu;
    try {
      cpu = item.tensor->detach().to(at::kCPU).contiguous();
    } catch (const c10::Error& error) {  // e.g. a device error while copying from the GPU
      throw Error(ErrorCode::Runtime, tensor_label(path, *item.name) + ": cannot copy to the CPU: " +
                                          error.what_without_backtrace());
    }
    out.write(cpu.data_ptr(), static_cast<std::size_t>(item.nbytes));
  }
  out.commit();
}

}  // namespace skyreels::io
