#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "skyreels/error.h"

// The model manager's public API (issue 25, point 5): the official SkyReels-V2 DF checkpoints, finding
// model folders on disk (a models folder and the Hugging Face cache), naming each and saying whether it
// is complete, and downloading the official checkpoints into the Hugging Face cache layout. No LibTorch
// and no Qt: library skyreels_hub (core/hub), reached through skyreels_api.

namespace skyreels {

// One of the checkpoints Skywork publishes on the Hugging Face Hub.
struct OfficialModel {
  std::string name;         // "DF-1.3B-540P"
  std::string repo;         // "Skywork/SkyReels-V2-DF-1.3B-540P"
  std::string description;  // one line for a list
  std::uint64_t download_bytes = 0;  // about how much a full download is
};

// DF-1.3B-540P, DF-14B-540P, DF-14B-720P.
const std::vector<OfficialModel>& official_models();
// By name ("DF-14B-720P", any case), by repository id or by the repository's name
// ("SkyReels-V2-DF-14B-720P"); nullptr when none matches.
const OfficialModel* find_official_model(const std::string& name);

// A model folder found on disk.
struct FoundModel {
  enum class Source { Folder = 1, HubCache };

  std::string name;      // "DF-1.3B-540P", "DF-14B-540P", "DF-14B-720P", "DF-14B" (resolution not known),
                         // "demo" (a small model in the official layout), or "unknown"
  std::string path;      // the folder to load (in the Hub cache: snapshots/<commit>)
  Source source = Source::Folder;
  std::string repo;      // ORG/NAME in the Hub cache, else empty
  std::string revision;  // the snapshot's commit in the Hub cache, else empty
  std::string layout;    // "official" or "diffusers"
  bool complete = false;
  // Why it is not complete, one line each, naming the file: "missing Wan2.1_VAE.pth (or .safetensors)",
  // "model-00003-of-00012.safetensors is truncated (1.2 GB of 4.9 GB)".
  std::vector<std::string> problems;
  std::uint64_t bytes = 0;  // the files' sizes added up
};

// Where the Hugging Face cache is: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::string hub_cache_dir();
// $SKYREELS_MODELS_DIR, else ~/models.
std::string default_models_dir();

// Looks at one folder: names the model in it and checks it is complete (every part present, each
// safetensors file as long as its header says, the .pth archives whole, sizes plausible for the model's
// config). A folder that holds no model part at all is reported with name "unknown" and problems.
FoundModel inspect_model_folder(const std::string& folder);

// Every model under `models_dirs` (each folder itself when it is a model, its sub-folders that are, and
// any Hub-cache repositories `models--ORG--NAME` in it) and in the Hub cache `hub_cache` (empty: none;
// only repositories that hold a video model are listed). An official repository with a download
// under way but no snapshot yet is listed too, incomplete. Sorted by name, then path; no duplicates.
std::vector<FoundModel> find_models(const std::vector<std::string>& models_dirs, const std::string& hub_cache);

// ---------------------------------------------------------------------------------------------------
// Downloads. Needs a build with libcurl (download_available()); without it download_model throws
// Error(Unsupported).

struct DownloadOptions {
  std::string endpoint;            // empty: $HF_ENDPOINT, else https://huggingface.co
  std::string cache_dir;           // the Hub-cache root to download into; empty: hub_cache_dir()
  std::string revision = "main";   // a branch, tag or commit
  std::string token;               // empty: $HF_TOKEN, if set (for gated repositories)
  int max_attempts = 5;            // per file: a dropped connection resumes with a Range request
};

struct DownloadProgress {
  std::string file;              // the file being fetched, as in the repository
  int file_index = 0;            // 0-based
  int file_count = 0;
  std::uint64_t file_bytes_done = 0, file_bytes_total = 0;
  std::uint64_t bytes_done = 0, bytes_total = 0;  // the whole download (files already there count as done)
  double bytes_per_second = 0;
  enum class Stage { Listing = 1, Downloading, Verifying, Done } stage = Stage::Listing;
};
// Called on the downloading thread, often (every buffer); keep it cheap.
using DownloadProgressFn = std::function<void(const DownloadProgress&)>;

struct DownloadResult {
  std::string snapshot;  // <cache>/models--ORG--NAME/snapshots/<commit>, the folder to load
  std::string commit;
  int files_downloaded = 0, files_already_there = 0;
  std::uint64_t bytes_downloaded = 0;
};

bool download_available();

// Downloads every file of `repo` (ORG/NAME) at options.revision into the Hub cache layout: each file to
// blobs/<sha256 or etag>.incomplete, resumed with an HTTP Range request when it is already partly there
// (from an interrupted run, or within this call after a dropped connection), checked against the
// published sha256 (the listing's lfs oid, else the X-Linked-Etag header), then moved to
// blobs/<sha256> with snapshots/<commit>/<file> a relative symlink to it and refs/<revision> holding
// the commit. Files already complete are not fetched again.
// Throws Error: Cancelled when *cancel became true (partial files are kept for a resume), CorruptFile
// on a sha256 or size mismatch (the partial file is deleted), NotFound for an unknown repository or
// file, Runtime for network and disk failures, naming the URL or file.
DownloadResult download_model(const std::string& repo, const DownloadOptions& options,
                              const DownloadProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr);

// "1.4 GB", "812 MB", "12 KB", "17 B" (powers of 1000).
std::string format_bytes(std::uint64_t bytes);

}  // namespace skyreels
