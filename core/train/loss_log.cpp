#include "train/loss_log.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>
#include <string_view>
#include <utility>

#include "io/atomic_file.h"
#include "skyreels/error.h"

namespace skyreels::train {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHeader = "stage,step,loss,learning_rate,seconds";
constexpr std::size_t kFields = 5;

std::string read_text(const fs::path& csv) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, csv.string() + ": cannot open the loss log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The lines of `text`; a last line without its line end counts too.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::size_t begin = 0; begin < text.size();) {
    const auto end = std::min(text.find('\n', begin), text.size());
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

void check_header(const std::vector<std::string_view>& lines, const fs::path& csv) {
  if (lines.empty() || lines[0] != kHeader)
    throw Error(ErrorCode::CorruptFile,
                csv.string() + ":1: not a loss log (the first line should be \"" + std::string(kHeader) + "\")");
}

// Line `number` (1-based, as an editor shows it) of `csv`.
LossRow parse_row(std::string_view line, const fs::path& csv, std::size_t number) {
  const auto corrupt = [&](const std::string& what) {
    return Error(ErrorCode::CorruptFile, csv.string() + ":" + std::to_string(number) + ": " + what);
  };
  std::array<std::string_view, kFields> fields;
  std::size_t count = 0;
  for (std::size_t begin = 0;; ++count) {
    const auto comma = line.find(',', begin);
    if (count < kFields) fields[count] = line.substr(begin, comma == std::string_view::npos ? comma : comma - begin);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  if (++count != kFields)
    throw corrupt("expected " + std::to_string(kFields) + " fields (" + std::string(kHeader) + "), found " +
                  std::to_string(count));

  LossRow row;
  row.stage = fields[0];
  if (row.stage.empty()) throw corrupt("no stage name");
  const auto [step_end, step_error] = std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), row.step);
  if (step_error != std::errc() || step_end != fields[1].data() + fields[1].size() || row.step < 0)
    throw corrupt("step \"" + std::string(fields[1]) + "\" is not a non-negative integer");
  const std::array<std::pair<const char*, double*>, 3> numbers = {
      {{"loss", &row.loss}, {"learning_rate", &row.learning_rate}, {"seconds", &row.seconds}}};
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    const auto field = fields[2 + i];
    const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), *numbers[i].second);
    if (error != std::errc() || end != field.data() + field.size())
      throw corrupt(std::string(numbers[i].first) + " \"" + std::string(field) + "\" is not a number");
  }
  return row;
}

// The shortest text that reads back as the same double (std::to_chars), so the log loses nothing.
void append_number(std::string& out, double value) {
  std::array<char, 32> buffer;
  const auto result = std::to_chars(buffer.begin(), buffer.end(), value);
  out.append(buffer.begin(), result.ptr);
}

}  // namespace

LossLog::LossLog(fs::path csv, LossLogMode mode) : path_(std::move(csv)) {
  std::string text;
  std::error_code ec;
  if (mode == LossLogMode::Resume && fs::exists(path_, ec)) text = read_text(path_);
  // A last line without its line end was being written when the run stopped: the row never finished.
  const bool unfinished = !text.empty() && text.back() != '\n';
  if (unfinished) {
    const auto end = text.rfind('\n');
    text.erase(end == std::string::npos ? 0 : end + 1);
  }
  if (text.empty()) {
    io::write_file_atomically(path_, std::string(kHeader) + "\n");
  } else {
    const auto lines = lines_of(text);
    check_header(lines, path_);
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const auto row = parse_row(lines[i], path_, i + 1);
      const auto [it, inserted] = resumed_last_step_.emplace(row.stage, row.step);
      if (!inserted) it->second = std::max(it->second, row.step);
    }
    if (unfinished) io::write_file_atomically(path_, text);
  }
  open_for_append();
}

void LossLog::append(const std::string& stage, std::int64_t step, double loss, double learning_rate, double seconds) {
  if (stage.empty() || stage.find_first_of(",\"\r\n") != std::string::npos)
    throw Error(ErrorCode::BadArgument, path_.string() + ": stage name \"" + stage +
                                            "\" is empty or holds a comma, quote or line break");
  if (step < 0) throw Error(ErrorCode::BadArgument, path_.string() + ": negative step " + std::to_string(step));
  if (const auto it = resumed_last_step_.find(stage); it != resumed_last_step_.end()) {
    const bool logged_again = it->second >= step;
    resumed_last_step_.erase(it);
    if (logged_again) truncate_after(stage, step - 1);
  }

  std::string line = stage + ',' + std::to_string(step);
  for (const double value : {loss, learning_rate, seconds}) {
    line += ',';
    append_number(line, value);
  }
  line += '\n';
  // One write, flushed at once: the row reaches the file whole even if the process dies right after.
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.flush();
  if (!out_) throw Error(ErrorCode::Runtime, path_.string() + ": cannot write the loss log: " + std::strerror(errno));
}

void LossLog::truncate_after(const std::string& stage, std::int64_t step) {
  out_.flush();
  const auto text = read_text(path_);
  const auto lines = lines_of(text);
  check_header(lines, path_);
  std::string kept = std::string(kHeader) + "\n";
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto row = parse_row(lines[i], path_, i + 1);
    if (row.stage != stage || row.step <= step) (kept += lines[i]) += '\n';
  }
  io::write_file_atomically(path_, kept);
  open_for_append();  // the open stream still writes to the file the rename replaced
  if (const auto it = resumed_last_step_.find(stage); it != resumed_last_step_.end())
    it->second = std::min(it->second, step);
}

void LossLog::open_for_append() {
  out_.close();
  out_.clear();
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error(ErrorCode::Runtime, path_.string() + ": cannot open the loss log: " + std::strerror(errno));
}

std::vector<LossRow> read_loss_log(const fs::path& csv) {
  const auto text = read_text(csv);
  const auto lines = lines_of(text);
  check_header(lines, csv);
  std::vector<LossRow> rows;
  rows.reserve(lines.size() - 1);
  for (std::size_t i = 1; i < lines.size(); ++i) rows.push_back(parse_row(lines[i], csv, i + 1));
  return rows;
}

}  // namespace skyreels::train
