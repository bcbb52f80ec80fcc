#include "hub/hub_download.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>
#include "skyreels/log.h"

#include "hub/hub_cache.h"
#include "hub/sha1.h"
#include "hub/sha256.h"
#include "skyreels/models.h"

#ifdef SKYREELS_WITH_CURL
#include <curl/curl.h>
#include <unistd.h>
#endif

namespace skyreels {
namespace {

std::string percent_encode(const std::string& text, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string trim_slashes(std::string text) {
  while (!text.empty() && text.back() == '/') text.pop_back();
  return text;
}

}  // namespace

namespace hub {

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  for (const char c : path)
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}


std::string resolve_url(const std::string& endpoint, const std::string& repo, const std::string& revision,
                        const std::string& path) {
  return trim_slashes(endpoint) + "/" + repo + "/resolve/" + percent_encode(revision, false) + "/" +
         percent_encode(path, true);
}

}  // namespace hub

#ifndef SKYREELS_WITH_CURL

bool download_available() { return false; }

DownloadResult download_model(const std::string& repo, const DownloadOptions&, const DownloadProgressFn&,
                              const std::atomic<bool>*) {
  throw Error(ErrorCode::Unsupported,
              "this build cannot download models: it was built without libcurl (Debian: libcurl4-openssl-dev, then "
              "rebuild). Download https://huggingface.co/" + repo + " with another tool (huggingface-cli download " +
                  repo + ") and point the model folder at it");
}

#else  // SKYREELS_WITH_CURL

bool download_available() { return true; }

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

void curl_global() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The headers of the last response of a transfer (a redirect's are dropped when the next one starts).
struct HeaderMap {
  long status = 0;
  std::map<std::string, std::string> fields;
  std::string get(const std::string& key) const {
    const auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  }
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& headers = *static_cast<HeaderMap*>(user);
  std::string line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.compare(0, 5, "HTTP/") == 0) {
    headers.fields.clear();
    const auto space = line.find(' ');
    headers.status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    auto value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    value = first == std::string::npos ? std::string() : value.substr(first);
    headers.fields[lower(line.substr(0, colon))] = value;
  }
  return size * count;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, ListDeleter>;

class HubClient {
public:
  HubClient(std::string endpoint, std::string token, const std::atomic<bool>* cancel)
      : endpoint_(std::move(endpoint)), token_(std::move(token)), cancel_(cancel) {
    curl_global();
  }

  const std::string& endpoint() const { return endpoint_; }
  bool cancelled() const { return cancel_ && cancel_->load(); }

  // A GET whose body is text (the API's JSON), redirects followed; at most 32 MiB.
  HeaderMap get_text(const std::string& url, std::string& body) const {
    auto h = easy(url);
    HeaderMap headers;
    HeaderList list(request_headers({}));
    curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &headers);
    curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, +[](char* data, std::size_t size, std::size_t count, void* user) {
      auto& text = *static_cast<std::string*>(user);
      if (text.size() + size * count > (std::size_t{32} << 20)) return std::size_t{0};
      text.append(data, size * count);
      return size * count;
    });
    curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &body);
    perform(h.get(), url);
    return headers;
  }

  // A HEAD of a resolve URL: the Hub's own answer (its X-Repo-Commit, ETag, X-Linked-Etag and
  // X-Linked-Size), following only redirects within the Hub (relative ones, as for a renamed repo),
  // never the one to the file's storage.
  HeaderMap head(std::string url) const {
    for (int hop = 0; hop < 5; ++hop) {
      auto h = easy(url);
      HeaderMap headers;
      HeaderList list(request_headers({}));
      curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, list.get());
      curl_easy_setopt(h.get(), CURLOPT_NOBODY, 1L);
      curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, on_header);
      curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &headers);
      perform(h.get(), url);
      const auto location = headers.get("location");
      if (headers.status >= 300 && headers.status < 400 && !location.empty() && location.front() == '/' &&
          headers.get("x-linked-etag").empty()) {
        const auto scheme_end = url.find("://");
        const auto host_end = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
        url = url.substr(0, host_end) + location;
        continue;
      }
      return headers;
    }
    throw Error(ErrorCode::Runtime, url + ": too many redirects");
  }

  EasyHandle easy(const std::string& url) const {
    EasyHandle h(curl_easy_init());
    if (!h) throw Error(ErrorCode::Runtime, "libcurl could not start a transfer");
    curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(h.get(), CURLOPT_USERAGENT, "skyreels-studio/0.1 (model manager)");
    curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    // A transfer that moves less than 1 byte/s for 60 s is dropped (and resumed by the caller).
    curl_easy_setopt(h.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h.get(), CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h.get(), CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h.get(), CURLOPT_XFERINFOFUNCTION, +[](void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
      const auto* cancel = static_cast<const std::atomic<bool>*>(user);
      return cancel && cancel->load() ? 1 : 0;
    });
    curl_easy_setopt(h.get(), CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel_));
    return h;
  }

  curl_slist* request_headers(const std::string& range) const {
    curl_slist* list = nullptr;
    if (!token_.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token_).c_str());
    if (!range.empty()) list = curl_slist_append(list, ("Range: bytes=" + range).c_str());
    return list;
  }

  // Runs a transfer whose failure is final (listings, HEAD): a cancel or a network error throws.
  void perform(CURL* h, const std::string& url) const {
    const auto code = curl_easy_perform(h);
    if (code == CURLE_ABORTED_BY_CALLBACK && cancelled()) throw Error(ErrorCode::Cancelled, "download cancelled");
    if (code != CURLE_OK) throw Error(ErrorCode::Runtime, url + ": " + curl_easy_strerror(code));
  }

private:
  std::string endpoint_, token_;
  const std::atomic<bool>* cancel_;
};

void throw_for_status(long status, const std::string& what, const std::string& url) {
  if (status == 401 || status == 403)
    throw Error(ErrorCode::NotFound, what + ": access refused (HTTP " + std::to_string(status) + " from " + url +
                                         "); a gated or private repository needs a token in HF_TOKEN");
  if (status == 404) throw Error(ErrorCode::NotFound, what + ": not found (HTTP 404 from " + url + ")");
  throw Error(ErrorCode::Runtime, what + ": HTTP " + std::to_string(status) + " from " + url);
}

struct Listing {
  std::string commit;
  std::vector<hub::RepoFile> files;
};

Listing list_repo(const HubClient& client, const std::string& repo, const std::string& revision) {
  Listing listing;
  const auto base = trim_slashes(client.endpoint()) + "/api/models/" + repo;
  std::string body;
  const auto url = base + "/revision/" + percent_encode(revision, false);
  const auto headers = client.get_text(url, body);
  if (headers.status != 200) throw_for_status(headers.status, repo + " at revision " + revision, url);
  const auto info = Json::parse(body, nullptr, false);
  if (!info.is_object()) throw Error(ErrorCode::CorruptFile, url + ": the answer is not a JSON object");
  if (info.contains("sha") && info["sha"].is_string()) listing.commit = info["sha"].get<std::string>();
  std::map<std::string, hub::RepoFile> files;
  if (info.contains("siblings") && info["siblings"].is_array())
    for (const auto& sibling : info["siblings"])
      if (sibling.is_object() && sibling.contains("rfilename") && sibling["rfilename"].is_string()) {
        const auto path = sibling["rfilename"].get<std::string>();
        files[path].path = path;
      }
  // The tree gives sizes and LFS sha256s (paged for large repositories; ours hold a few dozen files).
  std::string tree_body;
  const auto tree_url = base + "/tree/" + percent_encode(listing.commit.empty() ? revision : listing.commit, false) + "?recursive=true";
  const auto tree_headers = client.get_text(tree_url, tree_body);
  const auto tree = Json::parse(tree_body, nullptr, false);
  if (tree_headers.status == 200 && tree.is_array()) {
    for (const auto& entry : tree) {
      if (!entry.is_object() || entry.value("type", "") != "file" || !entry.contains("path") || !entry["path"].is_string())
        continue;
      auto& file = files[entry["path"].get<std::string>()];
      file.path = entry["path"].get<std::string>();
      if (entry.contains("size") && entry["size"].is_number_unsigned()) file.size = entry["size"].get<std::uint64_t>();
      if (entry.contains("oid") && entry["oid"].is_string()) file.git_oid = entry["oid"].get<std::string>();
      if (entry.contains("lfs") && entry["lfs"].is_object()) {
        file.git_oid.clear();  // the oid of the pointer file, not of the content
        const auto& lfs = entry["lfs"];
        if (lfs.contains("oid") && lfs["oid"].is_string()) file.sha256 = lfs["oid"].get<std::string>();
        if (lfs.contains("size") && lfs["size"].is_number_unsigned()) file.size = lfs["size"].get<std::uint64_t>();
      }
    }
  } else {
    skyreels::logger("hub")->warn("{} gave no file tree (HTTP {}); sizes and checksums come from each file's headers", tree_url,
                 tree_headers.status);
  }
  for (auto& [path, file] : files) {
    if (!hub::is_safe_repo_path(path))
      throw Error(ErrorCode::CorruptFile, url + ": the listing names an unsafe path \"" + path + "\"");
    listing.files.push_back(file);
  }
  if (listing.files.empty()) throw Error(ErrorCode::NotFound, repo + " at revision " + revision + " lists no file (" + url + ")");
  return listing;
}

// One file's transfer into `part`, appending from its current size.
struct Transfer {
  FILE* out = nullptr;
  CURL* handle = nullptr;
  const HeaderMap* headers = nullptr;
  std::uint64_t offset = 0;     // bytes in the file when the transfer started (after a restart: 0)
  std::uint64_t written = 0;    // bytes written by this transfer
  bool started = false, accepted = false, write_failed = false;
  std::string refused;          // why the body was not taken
  std::function<void(std::uint64_t)> on_bytes;  // bytes now in the file
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const auto bytes = size * count;
  if (!t.started) {
    t.started = true;
    const long status = t.headers->status;
    if (status == 206) {
      // The server resumes where the file ends: "Content-Range: bytes START-END/TOTAL".
      const auto range = t.headers->get("content-range");
      const auto dash = range.find('-');
      const auto start = range.compare(0, 6, "bytes ") == 0 && dash != std::string::npos
                             ? std::strtoull(range.c_str() + 6, nullptr, 10)
                             : ~std::uint64_t{0};
      if (start != t.offset) {
        t.refused = "the server resumed at the wrong offset (" + range + ", wanted " + std::to_string(t.offset) + ")";
        return 0;
      }
      t.accepted = true;
    } else if (status == 200) {
      if (t.offset > 0) {  // the server ignored the Range: start the file over
        if (::ftruncate(::fileno(t.out), 0) != 0) return 0;
        std::fseek(t.out, 0, SEEK_SET);
        t.offset = 0;
      }
      t.accepted = true;
    } else {
      return bytes;  // an error page; the status says what went wrong
    }
  }
  if (!t.accepted) return bytes;
  if (std::fwrite(data, 1, bytes, t.out) != bytes) {
    t.write_failed = true;
    return 0;
  }
  t.written += bytes;
  if (t.on_bytes) t.on_bytes(t.offset + t.written);
  return bytes;
}

std::uint64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  return ec ? 0 : size;
}

void link_snapshot(const fs::path& snapshot, const std::string& path, const std::string& blob) {
  const auto link = snapshot / path;
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  fs::remove(link, ec);
  fs::create_symlink(hub::relative_blob_link(path, blob), link, ec);
  if (ec) throw Error(ErrorCode::Runtime, link.string() + ": cannot create the snapshot's link: " + ec.message());
}

}  // namespace

DownloadResult download_model(const std::string& repo, const DownloadOptions& options, const DownloadProgressFn& progress,
                              const std::atomic<bool>* cancel) {
  if (!hub::is_valid_repo_id(repo))
    throw Error(ErrorCode::BadArgument, "\"" + repo + "\" is not a repository id (ORG/NAME, e.g. Skywork/SkyReels-V2-DF-1.3B-540P)");
  auto endpoint = options.endpoint.empty() ? env("HF_ENDPOINT") : options.endpoint;
  if (endpoint.empty()) endpoint = "https://huggingface.co";
  const auto token = options.token.empty() ? env("HF_TOKEN") : options.token;
  const fs::path cache = options.cache_dir.empty() ? fs::path(hub_cache_dir()) : fs::path(options.cache_dir);
  const auto revision = options.revision.empty() ? std::string("main") : options.revision;
  HubClient client(endpoint, token, cancel);

  DownloadProgress state;
  state.stage = DownloadProgress::Stage::Listing;
  if (progress) progress(state);
  const auto listing = list_repo(client, repo, revision);

  const auto repo_dir = cache / hub::repo_folder_name(repo);
  std::error_code ec;
  fs::create_directories(repo_dir / "blobs", ec);
  if (ec) throw Error(ErrorCode::Runtime, (repo_dir / "blobs").string() + ": cannot create it: " + ec.message());

  // Room for what is still to come (files already there, and partial ones, count as far as they go).
  std::uint64_t still_needed = 0;
  for (const auto& file : listing.files) {
    const auto blob_name = !file.sha256.empty() ? lower(file.sha256) : lower(file.git_oid);
    std::uint64_t have = 0;
    if (!blob_name.empty() && hub::is_safe_repo_path(blob_name)) {
      const auto blob = repo_dir / "blobs" / blob_name;
      have = fs::is_regular_file(blob, ec) ? file_size_or_zero(blob) : file_size_or_zero(blob.string() + ".incomplete");
    }
    still_needed += file.size > have ? file.size - have : 0;
  }
  const auto space = fs::space(repo_dir, ec);
  if (!ec && still_needed > 0 && space.available < still_needed + (std::uint64_t{64} << 20))
    throw Error(ErrorCode::Runtime, repo + " needs " + format_bytes(still_needed) + " more on " + repo_dir.string() +
                                        ", which has " + format_bytes(space.available) + " free");

  DownloadResult result;
  result.commit = listing.commit;
  state.file_count = static_cast<int>(listing.files.size());
  for (const auto& file : listing.files) state.bytes_total += file.size;
  const auto started_at = Clock::now();
  std::uint64_t finished_bytes = 0;  // of the files done so far

  for (std::size_t i = 0; i < listing.files.size(); ++i) {
    if (client.cancelled()) throw Error(ErrorCode::Cancelled, "download cancelled");
    const auto& file = listing.files[i];
    const auto url = hub::resolve_url(endpoint, repo, listing.commit.empty() ? revision : listing.commit, file.path);
    const auto head = client.head(url);
    if (head.status >= 400) throw_for_status(head.status, repo + ": " + file.path, url);
    const auto linked_etag = hub::normalize_etag(head.get("x-linked-etag"));
    const auto etag = linked_etag.empty() ? hub::normalize_etag(head.get("etag")) : linked_etag;
    if (etag.empty() || !hub::is_safe_repo_path(etag) || etag.find('/') != std::string::npos)
      throw Error(ErrorCode::CorruptFile, url + ": the Hub sent no usable ETag for " + file.path);
    if (result.commit.empty()) result.commit = head.get("x-repo-commit");
    // The published sha256: the listing's LFS oid, else the X-Linked-Etag of an LFS file.
    const auto expected_sha = !file.sha256.empty() ? lower(file.sha256) : linked_etag.size() == 64 ? lower(linked_etag) : "";
    // A file kept in git: its blob id (the listing's oid, else the ETag the Hub sends for it).
    const auto expected_git_oid = !expected_sha.empty() ? std::string()
                                  : !file.git_oid.empty() ? lower(file.git_oid)
                                  : hub::is_commit_hash(etag) ? lower(etag) : std::string();
    std::uint64_t size = file.size;
    if (size == 0 && !head.get("x-linked-size").empty()) size = std::strtoull(head.get("x-linked-size").c_str(), nullptr, 10);
    if (size == 0 && head.status == 200 && !head.get("content-length").empty())
      size = std::strtoull(head.get("content-length").c_str(), nullptr, 10);
    if (file.size == 0) state.bytes_total += size;

    state.file = file.path;
    state.file_index = static_cast<int>(i);
    state.file_bytes_total = size;
    const auto blob = repo_dir / "blobs" / etag;
    if (fs::is_regular_file(blob, ec) && (size == 0 || file_size_or_zero(blob) == size)) {
      ++result.files_already_there;
    } else {
      const fs::path part = blob.string() + ".incomplete";
      int attempts_left = std::max(1, options.max_attempts);
      while (true) {
        auto offset = file_size_or_zero(part);
        if (size > 0 && offset > size) {
          fs::remove(part, ec);
          offset = 0;
        }
        if (size > 0 && offset == size) break;
        std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(part.c_str(), "ab"), &std::fclose);
        if (!out) throw Error(ErrorCode::Runtime, part.string() + ": cannot write the download");
        auto h = client.easy(url);
        HeaderMap headers;
        HeaderList list(client.request_headers(offset > 0 ? std::to_string(offset) + "-" : std::string()));
        Transfer transfer;
        transfer.out = out.get();
        transfer.handle = h.get();
        transfer.headers = &headers;
        transfer.offset = offset;
        state.stage = DownloadProgress::Stage::Downloading;
        transfer.on_bytes = [&](std::uint64_t in_file) {
          state.file_bytes_done = in_file;
          state.bytes_done = finished_bytes + in_file;
          const double seconds = std::chrono::duration<double>(Clock::now() - started_at).count();
          state.bytes_per_second = seconds > 0 ? (result.bytes_downloaded + transfer.written) / seconds : 0;
          if (progress) progress(state);
        };
        curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, list.get());
        curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &headers);
        curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &transfer);
        if (offset > 0) skyreels::logger("hub")->info("resuming {} at byte {} of {}", file.path, offset, size);
        const auto code = curl_easy_perform(h.get());
        result.bytes_downloaded += transfer.written;
        const bool flushed = std::fflush(out.get()) == 0;
        out.reset();
        if (code == CURLE_ABORTED_BY_CALLBACK && client.cancelled())
          throw Error(ErrorCode::Cancelled, "download cancelled; " + format_bytes(file_size_or_zero(part)) + " of " + file.path +
                                                " kept for a resume");
        if (transfer.write_failed || !flushed)
          throw Error(ErrorCode::Runtime, part.string() + ": writing failed (is the disk full?)");
        if (!transfer.refused.empty()) throw Error(ErrorCode::Runtime, url + ": " + transfer.refused);
        if (headers.status == 416 && offset > 0) {  // nothing left past our offset, yet not the size listed
          fs::remove(part, ec);
          if (--attempts_left <= 0) throw Error(ErrorCode::Runtime, url + ": the server refused every range");
          continue;
        }
        if (code == CURLE_OK && headers.status >= 400) throw_for_status(headers.status, repo + ": " + file.path, url);
        const auto now = file_size_or_zero(part);
        if (code == CURLE_OK && (size == 0 || now >= size)) {
          if (size == 0) size = now;
          break;
        }
        // A dropped connection or a short body: resume from what arrived.
        const std::string why = code != CURLE_OK ? curl_easy_strerror(code) : "the connection closed early";
        if (--attempts_left <= 0)
          throw Error(ErrorCode::Runtime, url + ": interrupted (" + why + ") with " + format_bytes(now) + " of " +
                                              format_bytes(size) + "; run the download again to resume");
        skyreels::logger("hub")->warn("{} interrupted at byte {} ({}); resuming", file.path, now, why);
        // The first retry at once (a dropped connection), then 1, 2, 4... s (a network that is down).
        const auto retry = std::max(1, options.max_attempts) - attempts_left;
        const auto wait = std::chrono::milliseconds(retry <= 1 ? 0 : std::min(30000, 500 << std::min(retry - 1, 6)));
        for (const auto until = Clock::now() + wait; Clock::now() < until && !client.cancelled();)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      // Verify, then publish the blob.
      state.stage = DownloadProgress::Stage::Verifying;
      state.file_bytes_done = size;
      if (progress) progress(state);
      const auto actual_size = file_size_or_zero(part);
      if (size > 0 && actual_size != size) {
        fs::remove(part, ec);
        throw Error(ErrorCode::CorruptFile, repo + ": " + file.path + " has " + std::to_string(actual_size) + " bytes, the Hub lists " +
                                                std::to_string(size) + "; the partial download was deleted, run again to fetch it anew");
      }
      if (!expected_sha.empty()) {
        const auto actual_sha = hub::sha256_of_file(part);
        if (actual_sha != expected_sha) {
          fs::remove(part, ec);
          throw Error(ErrorCode::CorruptFile, repo + ": " + file.path + " failed verification: sha256 " + actual_sha +
                                                  ", the Hub publishes " + expected_sha +
                                                  "; the corrupt partial download was deleted, run again to fetch it anew");
        }
      }
      if (!expected_git_oid.empty()) {
        const auto actual_oid = hub::git_blob_id_of_file(part);
        if (actual_oid != expected_git_oid) {
          fs::remove(part, ec);
          throw Error(ErrorCode::CorruptFile, repo + ": " + file.path + " failed verification: git blob id " + actual_oid +
                                                  ", the Hub publishes " + expected_git_oid +
                                                  "; the corrupt partial download was deleted, run again to fetch it anew");
        }
      }
      fs::rename(part, blob, ec);
      if (ec) throw Error(ErrorCode::Runtime, blob.string() + ": cannot move the download into place: " + ec.message());
      ++result.files_downloaded;
    }
    if (result.commit.empty()) throw Error(ErrorCode::CorruptFile, url + ": the Hub sent no commit (X-Repo-Commit)");
    link_snapshot(repo_dir / "snapshots" / result.commit, file.path, etag);
    finished_bytes += size;
    state.file_bytes_done = size;
    state.bytes_done = finished_bytes;
    if (progress) progress(state);
  }
  if (!hub::is_commit_hash(revision) && hub::is_safe_repo_path(revision)) {  // refs/main holds the commit
    const auto ref = repo_dir / "refs" / revision;
    fs::create_directories(ref.parent_path(), ec);
    std::ofstream(ref, std::ios::trunc) << result.commit;
  }
  result.snapshot = (repo_dir / "snapshots" / result.commit).string();
  state.stage = DownloadProgress::Stage::Done;
  state.bytes_done = state.bytes_total = std::max(state.bytes_total, finished_bytes);
  if (progress) progress(state);
  return result;
}

#endif  // SKYREELS_WITH_CURL

}  // namespace skyreels
