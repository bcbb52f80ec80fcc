// Default output names: the first words of the prompt, then date, time and seed (api::output_file_stem),
// as the CLI and the app both name their videos.

#include <ctime>

#include <gtest/gtest.h>

#include "api/output_file.h"
#include "test_support.h"

namespace {

using namespace skyreels::api;

TEST(OutputName, StartsWithTheFirstWordsOfThePrompt) {
  EXPECT_EQ(prompt_words_for_name("A red circle moves right on a black background"), "a-red-circle-moves");
  EXPECT_EQ(prompt_words_for_name("  Two   cats, 3 dogs!"), "two-cats-3-dogs");
  EXPECT_EQ(prompt_words_for_name("short"), "short");
}

TEST(OutputName, KeepsOnlyAsciiLettersDigitsAndHyphens) {
  EXPECT_EQ(prompt_words_for_name("../../etc/passwd; rm -rf"), "etc-passwd-rm-rf");
  EXPECT_EQ(prompt_words_for_name("café au lait"), "caf-au-lait");
  EXPECT_EQ(prompt_words_for_name("una_niña\tcorre\n"), "una-ni-a-corre");
  // Nothing usable (another script, only punctuation, empty): a neutral word.
  EXPECT_EQ(prompt_words_for_name("一只猫在跑"), "skyreels");
  EXPECT_EQ(prompt_words_for_name("?!"), "skyreels");
  EXPECT_EQ(prompt_words_for_name(""), "skyreels");
}

TEST(OutputName, StaysShort) {
  // Long words end the name before the limit instead of being cut; a single long first word is cut.
  EXPECT_EQ(prompt_words_for_name("extraordinarily magnificent panoramic landscapes"), "extraordinarily-magnificent");
  EXPECT_LE(prompt_words_for_name(std::string(100, 'x')).size(), kNameWordChars);
}

TEST(OutputName, KeepsDateTimeAndSeed) {
  std::tm local{};
  local.tm_year = 2026 - 1900;
  local.tm_mon = 11;
  local.tm_mday = 6;
  local.tm_hour = 21;
  local.tm_min = 30;
  local.tm_sec = 0;
  local.tm_isdst = -1;
  const std::time_t when = std::mktime(&local);
  EXPECT_EQ(output_file_stem("a red circle moves right", 42, when), "a-red-circle-moves-20261206-213000-42");
}

TEST(OutputName, NewNameInFolderAvoidsExistingFiles) {
  skyreels::test::TempDir dir;
  const auto first = new_output_name(dir.path(), "a red circle", 7, ".mp4");
  EXPECT_EQ(first.parent_path(), dir.path());
  EXPECT_EQ(first.extension(), ".mp4");
  EXPECT_EQ(first.filename().string().rfind("a-red-circle-", 0), 0u) << first;
  skyreels::test::write_file(first, "taken");
  const auto second = new_output_name(dir.path(), "a red circle", 7, ".mp4");
  EXPECT_NE(second, first);
  EXPECT_EQ(second.filename().string().rfind("a-red-circle-", 0), 0u) << second;
}

}  // namespace
