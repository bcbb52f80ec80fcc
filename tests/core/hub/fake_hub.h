#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace skyreels::test {

// A file of a fake repository. LFS files are served the Hub's way: the resolve URL answers 302 to a
// storage URL, with X-Linked-Etag / X-Linked-Size / X-Repo-Commit; a file kept in git answers 200.
struct FakeFile {
  std::string path;
  std::string content;
  bool lfs = true;
};

struct FakeRepo {
  std::string id;      // ORG/NAME
  std::string commit;  // 40 hex digits
  std::vector<FakeFile> files;
};

struct RecordedRequest {
  std::string method, target, range;  // range: the Range header's value, or empty
};

// A tiny Hugging Face Hub on 127.0.0.1 (an ephemeral port), for the model manager's tests:
// GET /api/models/ORG/NAME/revision/REV, GET /api/models/ORG/NAME/tree/REV, HEAD and GET
// /ORG/NAME/resolve/REV/PATH, GET /cdn/SHA256 with Range support. One request per connection.
class FakeHub {
public:
  explicit FakeHub(std::vector<FakeRepo> repos);
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const;  // "http://127.0.0.1:PORT"

  // The next `times` GETs of `path`'s bytes stop at byte `stop_at` of the file (the headers announce
  // the whole rest) and close the connection: a dropped download.
  void cut_after(const std::string& path, std::size_t stop_at, int times = 1);
  // Serves `path` with one byte changed; its headers keep the true sha256.
  void corrupt(const std::string& path, bool on = true);
  // Sleeps this long between 64 KiB pieces of a body (so a test sees progress, or cancels).
  void set_piece_delay_ms(int ms) { piece_delay_ms_ = ms; }

  std::vector<RecordedRequest> requests() const;

  static std::string sha256_hex(const std::string& content);
  static std::string git_blob_id(const std::string& content);  // sha1("blob <size>\0" + content)
  static std::string lfs_pointer(const std::string& content);  // the pointer file git holds for an LFS file

private:
  void serve();
  void handle(int fd);
  const FakeFile* find_file(const std::string& repo, const std::string& path) const;
  void send_body(int fd, const FakeFile& file, const std::string& range, bool head, const std::string& extra_headers);

  std::vector<FakeRepo> repos_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> piece_delay_ms_{0};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  std::map<std::string, std::pair<std::size_t, int>> cuts_;  // path -> (stop_at, times left)
  std::map<std::string, bool> corrupt_;
};

}  // namespace skyreels::test
