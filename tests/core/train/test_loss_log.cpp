// The training loss log: rows read back exactly, a resumed run logs each step once, and a damaged file
// is an error naming its line.

#include <cmath>
#include <filesystem>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "skyreels/error.h"
#include "test_support.h"
#include "train/loss_log.h"

namespace {

namespace train = skyreels::train;
using skyreels::ErrorCode;
using skyreels::test::error_text;
using skyreels::test::read_file;
using skyreels::test::TempDir;
using skyreels::test::write_file;

// The (stage, step, loss) of each row, the part these tests compare.
using Steps = std::vector<std::tuple<std::string, std::int64_t, double>>;

Steps steps_of(const std::vector<train::LossRow>& rows) {
  Steps out;
  for (const auto& r : rows) out.emplace_back(r.stage, r.step, r.loss);
  return out;
}

TEST(LossLog, RowsReadBackExactly) {
  TempDir dir;
  const auto csv = dir / "loss.csv";
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<train::LossRow> written = {
      {"pretrain", 0, 0.1, 1e-4, 0.5},
      {"pretrain", 1, 0.1 + 0.2, 3e-4 / 7, 1.0 / 3},  // no short decimal form
      {"pretrain", 2, 4.9e-324, 1e300, 12345.678},    // the smallest double, a huge one
      {"finetune_2", 100, inf, 0, 7},
  };
  {
    train::LossLog log(csv, train::LossLogMode::Fresh);
    for (const auto& r : written) log.append(r.stage, r.step, r.loss, r.learning_rate, r.seconds);
    log.append("finetune_2", 101, std::nan(""), -inf, 8);
  }
  EXPECT_EQ(read_file(csv).substr(0, 38), "stage,step,loss,learning_rate,seconds\n");

  const auto rows = train::read_loss_log(csv);
  ASSERT_EQ(rows.size(), written.size() + 1);
  for (std::size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ(rows[i].stage, written[i].stage) << i;
    EXPECT_EQ(rows[i].step, written[i].step) << i;
    EXPECT_EQ(rows[i].loss, written[i].loss) << i;  // bit for bit, not approximately
    EXPECT_EQ(rows[i].learning_rate, written[i].learning_rate) << i;
    EXPECT_EQ(rows[i].seconds, written[i].seconds) << i;
  }
  EXPECT_TRUE(std::isnan(rows[4].loss));
  EXPECT_EQ(rows[4].learning_rate, -inf);
}

TEST(LossLog, AFreshLogReplacesAnOldOne) {
  TempDir dir;
  const auto csv = dir / "loss.csv";
  train::LossLog(csv, train::LossLogMode::Fresh).append("a", 1, 1, 1, 1);
  train::LossLog(csv, train::LossLogMode::Fresh).append("b", 5, 2, 1, 1);
  EXPECT_EQ(steps_of(train::read_loss_log(csv)), (Steps{{"b", 5, 2.0}}));
}

TEST(LossLog, AResumedRunLogsTheStepsAfterItsCheckpointOnce) {
  TempDir dir;
  const auto csv = dir / "loss.csv";
  {  // The first run: a pretrain stage, then finetune up to step 8; its last checkpoint was at step 6.
    train::LossLog log(csv, train::LossLogMode::Fresh);
    for (int step = 1; step <= 3; ++step) log.append("pretrain", step, 1.0, 1e-3, step);
    for (int step = 1; step <= 8; ++step) log.append("finetune", step, 1.0, 1e-4, 10 + step);
  }
  {  // Resumed from step 6: steps 7 and 8 are logged again (loss 2 marks this run's rows).
    train::LossLog log(csv, train::LossLogMode::Resume);
    for (int step = 7; step <= 9; ++step) log.append("finetune", step, 2.0, 1e-4, 20 + step);
  }
  const Steps expected = {
      {"pretrain", 1, 1.0}, {"pretrain", 2, 1.0}, {"pretrain", 3, 1.0}, {"finetune", 1, 1.0},
      {"finetune", 2, 1.0}, {"finetune", 3, 1.0}, {"finetune", 4, 1.0}, {"finetune", 5, 1.0},
      {"finetune", 6, 1.0}, {"finetune", 7, 2.0}, {"finetune", 8, 2.0}, {"finetune", 9, 2.0}};
  EXPECT_EQ(steps_of(train::read_loss_log(csv)), expected);

  // A resumed run that goes on past the last logged step drops nothing.
  {
    train::LossLog log(csv, train::LossLogMode::Resume);
    log.append("finetune", 10, 3.0, 1e-4, 31);
    log.append("pretrain", 4, 3.0, 1e-4, 32);  // a stage it returns to, also past its last step
  }
  const auto rows = train::read_loss_log(csv);
  ASSERT_EQ(rows.size(), expected.size() + 2);
  EXPECT_EQ(steps_of(rows).back(), std::make_tuple(std::string("pretrain"), std::int64_t{4}, 3.0));
}

TEST(LossLog, TruncateAfterKeepsOtherStagesAndEarlierSteps) {
  TempDir dir;
  const auto csv = dir / "loss.csv";
  train::LossLog log(csv, train::LossLogMode::Fresh);
  for (int step = 0; step < 4; ++step) {
    log.append("a", step, 1.0, 0, 0);
    log.append("b", step, 2.0, 0, 0);
  }
  log.truncate_after("a", 1);
  log.append("a", 2, 3.0, 0, 0);  // the log goes on writing to the rewritten file
  const Steps expected = {{"a", 0, 1.0}, {"b", 0, 2.0}, {"a", 1, 1.0}, {"b", 1, 2.0},
                          {"b", 2, 2.0}, {"b", 3, 2.0}, {"a", 2, 3.0}};
  EXPECT_EQ(steps_of(train::read_loss_log(csv)), expected);
  using std::filesystem::directory_iterator;
  EXPECT_EQ(std::distance(directory_iterator(dir.path()), directory_iterator()), 1) << "a temporary file was left";
}

TEST(LossLog, AResumedLogDropsARowLeftUnfinished) {
  TempDir dir;
  const auto csv = dir / "loss.csv";
  write_file(csv, "stage,step,loss,learning_rate,seconds\nbase,1,0.5,0.001,1\nbase,2,0.4");
  {
    train::LossLog log(csv, train::LossLogMode::Resume);
    log.append("base", 2, 0.25, 0.001, 2);
  }
  EXPECT_EQ(steps_of(train::read_loss_log(csv)), (Steps{{"base", 1, 0.5}, {"base", 2, 0.25}}));
}

TEST(LossLog, AMalformedRowIsAnErrorNamingTheFileAndLine) {
  TempDir dir;
  const auto csv = dir / "loss.csv";
  const std::string header = "stage,step,loss,learning_rate,seconds\n";
  const std::pair<std::string, std::string> cases[] = {
      {header + "base,1,0.5,0.001,1\nbase,two,0.4,0.001,2\n", ":3: step \"two\""},
      {header + "base,1,0.5,0.001,1\nbase,2,0.4,0.001\n", ":3: expected 5 fields"},
      {header + "base,1,0.5,0.001,1,9\n", ":2: expected 5 fields"},
      {header + "base,1,0.5x,0.001,1\n", ":2: loss \"0.5x\""},
      {header + "base,-1,0.5,0.001,1\n", ":2: step \"-1\""},
      {header + ",1,0.5,0.001,1\n", ":2: no stage name"},
      {header + "\nbase,1,0.5,0.001,1\n", ":2: expected 5 fields"},
      {"step,loss\n1,0.5\n", ":1: not a loss log"},
      {"", ":1: not a loss log"},
  };
  for (const auto& [text, where] : cases) {
    write_file(csv, text);
    ErrorCode code{};
    const auto message = error_text([&] { train::read_loss_log(csv); }, &code);
    EXPECT_EQ(code, ErrorCode::CorruptFile) << text;
    EXPECT_NE(message.find(csv.string() + where), std::string::npos) << message;
    // Resuming a damaged log fails the same way rather than appending to it (an empty file is a new log).
    if (!text.empty()) {
      EXPECT_NE(error_text([&] { train::LossLog(csv, train::LossLogMode::Resume); }).find(where), std::string::npos)
          << text;
    }
  }
  ErrorCode code{};
  error_text([&] { train::read_loss_log(dir / "missing.csv"); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound);
}

TEST(LossLog, StageNamesThatWouldBreakTheCsvAreRefused) {
  TempDir dir;
  train::LossLog log(dir / "loss.csv", train::LossLogMode::Fresh);
  for (const std::string stage : {"", "a,b", "a\nb", "\"a\""}) {
    ErrorCode code{};
    error_text([&] { log.append(stage, 1, 1, 1, 1); }, &code);
    EXPECT_EQ(code, ErrorCode::BadArgument) << stage;
  }
  ErrorCode code{};
  error_text([&] { log.append("a", -1, 1, 1, 1); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument);
  EXPECT_TRUE(train::read_loss_log(dir / "loss.csv").empty());
}

}  // namespace
