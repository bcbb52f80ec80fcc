#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace skyreels::train {

// One logged optimiser step.
struct LossRow {
  std::string stage;  // the training stage as the trainer names it ("pretrain", "finetune", ...)
  std::int64_t step = 0;
  double loss = 0;
  double learning_rate = 0;
  double seconds = 0;  // wall-clock time the trainer reports with the step
};

enum class LossLogMode {
  Fresh,   // start the file anew (a new run)
  Resume,  // keep the rows there (a run resumed from a checkpoint); a missing file starts anew
};

// A training run's loss curve as CSV, a row a step:
//   stage,step,loss,learning_rate,seconds
// Numbers are written in their shortest exact form, so they read back bit for bit (nan and inf too).
// Each row is flushed as it is appended: a run that crashes or is killed loses no row it logged.
class LossLog {
public:
  // Errors (skyreels::Error) name the file: one that cannot be written, or, when resuming, a row that does
  // not parse. When resuming, an unfinished last line (the run stopped while writing it) is dropped.
  LossLog(std::filesystem::path csv, LossLogMode mode);

  // The first row a resumed run appends to a stage drops that stage's rows at this step and after: they
  // were logged after the checkpoint the run resumed from, and are logged again. A stage is non-empty
  // text without ',', '"' or line breaks; a step is non-negative (skyreels::Error BadArgument otherwise).
  void append(const std::string& stage, std::int64_t step, double loss, double learning_rate, double seconds);

  // Rewrites the file (beside it, renamed into place) keeping the rows of other stages and those of
  // `stage` up to and including `step`.
  void truncate_after(const std::string& stage, std::int64_t step);

  const std::filesystem::path& path() const noexcept { return path_; }

private:
  void open_for_append();

  std::filesystem::path path_;
  std::ofstream out_;
  // The last step each stage reached in the file as it was opened, until the stage's first append.
  std::map<std::string, std::int64_t> resumed_last_step_;
};

// The rows of a loss log, in file order. Errors (skyreels::Error): NotFound for a missing file, CorruptFile
// naming the file and line for a wrong header or a malformed row.
std::vector<LossRow> read_loss_log(const std::filesystem::path& csv);

}  // namespace skyreels::train
