// core/hub: downloads from a local fake of the Hugging Face Hub (tests/core/hub/fake_hub.h) into the
// Hub cache layout: a whole download the finder then finds, a dropped connection resumed with a Range
// request, a corrupt file rejected, a cancel.

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/hub/tiny_model_files.h"
#include "skyreels/models.h"

namespace skyreels {
namespace {

namespace fs = std::filesystem;

const std::string kRepo = "Test/Tiny-DF";
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

class HubDownload : public ::testing::Test {
protected:
  void SetUp() override {
    if (!download_available()) GTEST_SKIP() << "built without libcurl";
    cache_ = fs::temp_directory_path() / ("skyreels-hub-dl-" + std::to_string(::getpid()) + "-" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(cache_);
    hub_ = std::make_unique<test::FakeHub>(std::vector<test::FakeRepo>{{kRepo, kCommit, test::tiny_model_files()}});
    options_.endpoint = hub_->endpoint();
    options_.cache_dir = cache_.string();
  }
  void TearDown() override { fs::remove_all(cache_); }

  fs::path repo_dir() const { return cache_ / "models--Test--Tiny-DF"; }
  std::string dit_sha() const { return test::FakeHub::sha256_hex(test::tiny_model_files()[1].content); }
  std::uint64_t dit_size() const { return test::tiny_model_files()[1].content.size(); }

  // The GETs of the model's weights at the storage URL, with their Range headers.
  std::vector<std::string> dit_ranges() const {
    std::vector<std::string> ranges;
    for (const auto& r : hub_->requests())
      if (r.method == "GET" && r.target == "/cdn/" + kRepo + "/model.safetensors") ranges.push_back(r.range);
    return ranges;
  }

  fs::path cache_;
  std::unique_ptr<test::FakeHub> hub_;
  DownloadOptions options_;
};

TEST_F(HubDownload, WholeDownloadLandsInTheHubLayoutAndIsFoundComplete) {
  std::vector<DownloadProgress> seen;
  const auto result = download_model(kRepo, options_, [&](const DownloadProgress& p) { seen.push_back(p); });

  EXPECT_EQ(result.commit, kCommit);
  EXPECT_EQ(result.snapshot, (repo_dir() / "snapshots" / kCommit).string());
  EXPECT_EQ(result.files_downloaded, 6);
  std::ifstream ref(repo_dir() / "refs" / "main");
  std::string ref_text;
  ref >> ref_text;
  EXPECT_EQ(ref_text, kCommit);
  // snapshots/<commit>/<file> are relative links to blobs/<sha256>.
  const auto link = repo_dir() / "snapshots" / kCommit / "model.safetensors";
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), fs::path("../../blobs") / dit_sha());
  EXPECT_EQ(fs::read_symlink(repo_dir() / "snapshots" / kCommit / "google/umt5-xxl/spiece.model").string().substr(0, 12),
            "../../../../");
  EXPECT_EQ(fs::file_size(repo_dir() / "blobs" / dit_sha()), dit_size());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().stage, DownloadProgress::Stage::Done);
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const DownloadProgress& p) {
    return p.stage == DownloadProgress::Stage::Downloading && p.file == "model.safetensors" && p.file_bytes_done > 0;
  }));

  const auto found = find_models({}, cache_.string());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].name, "demo");
  EXPECT_EQ(found[0].repo, kRepo);
  EXPECT_EQ(found[0].revision, kCommit);
  EXPECT_EQ(found[0].source, FoundModel::Source::HubCache);
  EXPECT_TRUE(found[0].complete) << (found[0].problems.empty() ? "" : found[0].problems[0]);

  // A second run fetches nothing.
  const auto again = download_model(kRepo, options_);
  EXPECT_EQ(again.files_downloaded, 0);
  EXPECT_EQ(again.files_already_there, 6);
  EXPECT_EQ(dit_ranges().size(), 1u);
}

TEST_F(HubDownload, DroppedConnectionResumesWithARangeRequest) {
  const auto half = dit_size() / 2;
  hub_->cut_after("model.safetensors", half);
  const auto result = download_model(kRepo, options_);
  EXPECT_EQ(result.files_downloaded, 6);
  const auto ranges = dit_ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(half) + "-");
  EXPECT_EQ(fs::file_size(repo_dir() / "blobs" / dit_sha()), dit_size());
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / (dit_sha() + ".incomplete")));
}

TEST_F(HubDownload, InterruptedRunIsResumedByTheNextOne) {
  const auto half = dit_size() / 2;
  hub_->cut_after("model.safetensors", half);
  options_.max_attempts = 1;
  try {
    download_model(kRepo, options_);
    FAIL() << "a dropped connection with no retry left must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Runtime);
    EXPECT_NE(std::string(e.what()).find("resume"), std::string::npos) << e.what();
  }
  const auto part = repo_dir() / "blobs" / (dit_sha() + ".incomplete");
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), half);
  // The finder shows the interrupted download as incomplete.
  const auto found = find_models({cache_.string()}, {});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].complete);

  const auto result = download_model(kRepo, options_);
  EXPECT_EQ(dit_ranges().back(), "bytes=" + std::to_string(half) + "-");
  EXPECT_EQ(fs::file_size(repo_dir() / "blobs" / dit_sha()), dit_size());
  EXPECT_TRUE(inspect_model_folder(result.snapshot).complete);
}

TEST_F(HubDownload, CorruptFileIsRejectedAndItsPartialRemoved) {
  hub_->corrupt("model.safetensors");
  try {
    download_model(kRepo, options_);
    FAIL() << "a corrupt file must fail verification";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
    const std::string message = e.what();
    EXPECT_NE(message.find("model.safetensors failed verification: sha256"), std::string::npos) << message;
    EXPECT_NE(message.find(dit_sha()), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / (dit_sha() + ".incomplete")));
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / dit_sha()));
  // Fixed on the server, the next run succeeds.
  hub_->corrupt("model.safetensors", false);
  EXPECT_TRUE(inspect_model_folder(download_model(kRepo, options_).snapshot).complete);
}

TEST_F(HubDownload, CorruptFileKeptInGitFailsItsBlobId) {
  hub_->corrupt("config.json");
  try {
    download_model(kRepo, options_);
    FAIL() << "a corrupt config.json must fail verification";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::CorruptFile);
    EXPECT_NE(std::string(e.what()).find("config.json failed verification: git blob id"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(repo_dir() / "snapshots" / kCommit / "config.json"));
}

TEST_F(HubDownload, CancelKeepsThePartialFile) {
  hub_->set_piece_delay_ms(20);
  std::atomic<bool> cancel{false};
  try {
    download_model(kRepo, options_, [&](const DownloadProgress& p) {
      if (p.file == "model.safetensors" && p.file_bytes_done > 0) cancel = true;
    }, &cancel);
    FAIL() << "cancel must stop the download";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled) << e.what();
  }
  const auto part = repo_dir() / "blobs" / (dit_sha() + ".incomplete");
  ASSERT_TRUE(fs::exists(part));
  EXPECT_LT(fs::file_size(part), dit_size());
}

TEST_F(HubDownload, UnknownRepositoryIsNotFound) {
  try {
    download_model("Test/Nothing-Here", options_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_NE(std::string(e.what()).find("Test/Nothing-Here"), std::string::npos) << e.what();
  }
  EXPECT_THROW(download_model("../etc", options_), Error);
}

}  // namespace
}  // namespace skyreels

namespace skyreels {
namespace {

TEST(HubDownloadUnavailable, WithoutLibcurlDownloadSaysSo) {
  if (download_available()) GTEST_SKIP() << "built with libcurl";
  try {
    download_model("Skywork/SkyReels-V2-DF-1.3B-540P", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("libcurl"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace skyreels
