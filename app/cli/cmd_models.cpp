// `skyreels-cli models list|download`: the model manager (skyreels/models.h) on the command line.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "skyreels/engine.h"
#include "skyreels/models.h"

namespace skyreels::cli {
namespace {

std::atomic<bool> g_cancel{false};

void on_interrupt(int) { g_cancel = true; }

void print_models_usage() {
  std::fprintf(stderr,
               "usage: skyreels-cli models list [--models-dir DIR]... [--no-hub-cache] [--json]\n"
               "       skyreels-cli models download NAME [--models-dir DIR] [--endpoint URL] [--revision REV]\n"
               "\n"
               "list      every model found in the models folders (default: $SKYREELS_MODELS_DIR or ~/models), the\n"
               "          Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub) and the demo\n"
               "          model: its name, whether it is complete (else what is missing) and its folder\n"
               "download  an official checkpoint (NAME: DF-1.3B-540P, DF-14B-540P, DF-14B-720P, or a repository\n"
               "          ORG/NAME) into the Hugging Face cache layout (--models-dir DIR: under DIR instead); an\n"
               "          interrupted download resumes, every file is checked against its published sha256.\n"
               "          --endpoint (or $HF_ENDPOINT) replaces https://huggingface.co; $HF_TOKEN is sent if set\n");
}

const char* source_text(const FoundModel& model) {
  return model.source == FoundModel::Source::HubCache ? "hub-cache" : "folder";
}

int run_list(const std::vector<std::string>& args) {
  std::vector<std::string> dirs;
  bool json = false, hub_cache = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--models-dir" && i + 1 < args.size()) dirs.push_back(args[++i]);
    else if (args[i] == "--json") json = true;
    else if (args[i] == "--no-hub-cache") hub_cache = false;
    else {
      std::fprintf(stderr, "models list: unexpected argument \"%s\"\n", args[i].c_str());
      print_models_usage();
      return kExitBadInput;
    }
  }
  if (dirs.empty()) dirs.push_back(default_models_dir());
  if (const auto demo = demo_model_folder(); !demo.empty()) dirs.push_back(demo);
  const auto found = find_models(dirs, hub_cache ? hub_cache_dir() : std::string());

  if (json) {
    auto list = nlohmann::json::array();
    for (const auto& m : found)
      list.push_back({{"name", m.name}, {"path", m.path}, {"source", source_text(m)}, {"repo", m.repo},
                      {"revision", m.revision}, {"layout", m.layout}, {"complete", m.complete},
                      {"problems", m.problems}, {"bytes", m.bytes}});
    std::printf("%s\n", list.dump(2).c_str());
    return kExitOk;
  }
  if (found.empty()) std::printf("no model found\n");
  for (const auto& m : found) {
    std::printf("%-14s %-10s %s", m.name.c_str(), m.complete ? "complete" : "incomplete", m.path.c_str());
    if (!m.repo.empty()) std::printf("  (%s)", m.repo.c_str());
    std::printf("  %s\n", format_bytes(m.bytes).c_str());
    for (const auto& problem : m.problems) std::printf("    - %s\n", problem.c_str());
  }
  bool header = false;
  for (const auto& official : official_models()) {
    bool have = false;
    for (const auto& m : found) have = have || (m.name == official.name && m.complete);
    if (have) continue;
    if (!header) std::printf("\nnot downloaded (skyreels-cli models download NAME):\n");
    header = true;
    std::printf("  %-14s about %-8s %s\n", official.name.c_str(), format_bytes(official.download_bytes).c_str(),
                official.description.c_str());
  }
  return kExitOk;
}

// One progress line, redrawn in place on a terminal, else a line per file.
class DownloadPrinter {
public:
  DownloadPrinter() : terminal_(isatty(fileno(stderr)) != 0) {}

  void operator()(const DownloadProgress& p) {
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    const bool new_file = p.file != file_;
    if (p.stage == DownloadProgress::Stage::Downloading && !new_file && now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    if (p.stage == DownloadProgress::Stage::Listing) {
      std::fprintf(stderr, "listing the repository...\n");
      return;
    }
    if (!terminal_ && !new_file && p.stage != DownloadProgress::Stage::Done) return;
    file_ = p.file;
    const int percent = p.bytes_total > 0 ? static_cast<int>(100.0 * p.bytes_done / p.bytes_total) : 0;
    const char* what = p.stage == DownloadProgress::Stage::Verifying ? "verifying" : p.stage == DownloadProgress::Stage::Done ? "done" : "";
    std::fprintf(stderr, "%s[%d/%d] %s %s  %s of %s (%d%%)  %s/s   %s", terminal_ ? "\r\033[K" : "", p.file_index + 1,
                 p.file_count, p.file.c_str(), what, format_bytes(p.bytes_done).c_str(), format_bytes(p.bytes_total).c_str(),
                 percent, format_bytes(static_cast<std::uint64_t>(p.bytes_per_second)).c_str(), terminal_ ? "" : "\n");
    if (p.stage == DownloadProgress::Stage::Done && terminal_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

private:
  bool terminal_;
  std::string file_;
  std::chrono::steady_clock::time_point last_{};
};

int run_download(const std::vector<std::string>& args) {
  std::string name;
  DownloadOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--models-dir" && i + 1 < args.size()) options.cache_dir = args[++i];
    else if (args[i] == "--endpoint" && i + 1 < args.size()) options.endpoint = args[++i];
    else if (args[i] == "--revision" && i + 1 < args.size()) options.revision = args[++i];
    else if (!args[i].empty() && args[i][0] != '-' && name.empty()) name = args[i];
    else {
      std::fprintf(stderr, "models download: unexpected argument \"%s\"\n", args[i].c_str());
      print_models_usage();
      return kExitBadInput;
    }
  }
  if (name.empty()) {
    print_models_usage();
    return kExitBadInput;
  }
  std::string repo = name;
  if (const auto* official = find_official_model(name)) repo = official->repo;
  else if (name.find('/') == std::string::npos) {
    std::string known;
    for (const auto& m : official_models()) known += " " + m.name;
    std::fprintf(stderr, "models download: unknown model \"%s\" (known:%s; or a repository ORG/NAME)\n", name.c_str(), known.c_str());
    return kExitBadInput;
  }
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  DownloadPrinter printer;
  try {
    const auto result = download_model(repo, options, std::ref(printer), &g_cancel);
    std::printf("%s\n", result.snapshot.c_str());
    std::fprintf(stderr, "%s: %d file(s) downloaded (%s), %d already there; commit %s\n", repo.c_str(), result.files_downloaded,
                 format_bytes(result.bytes_downloaded).c_str(), result.files_already_there, result.commit.c_str());
    return kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "\nmodels download: %s\n", e.what());
    if (e.code() == ErrorCode::Cancelled) {
      std::fprintf(stderr, "models download: the partial files are kept; run the same command again to resume\n");
      return kExitCancelled;
    }
    return e.code() == ErrorCode::BadArgument || e.code() == ErrorCode::Unsupported ? kExitBadInput : kExitFailed;
  }
}

}  // namespace

int run_models(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    print_models_usage();
    return args.empty() ? kExitBadInput : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "list") return run_list(rest);
  if (args[0] == "download") return run_download(rest);
  std::fprintf(stderr, "models: unknown subcommand \"%s\"\n", args[0].c_str());
  print_models_usage();
  return kExitBadInput;
}

}  // namespace skyreels::cli
