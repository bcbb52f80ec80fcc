#include "core/hub/fake_hub.h"

#include <chrono>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "hub/sha1.h"
#include "hub/sha256.h"

namespace skyreels::test {
namespace {

using Json = nlohmann::json;

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto sent = ::send(fd, data, size, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

bool send_text(int fd, const std::string& text) { return send_all(fd, text.data(), text.size()); }

void respond(int fd, int status, const std::string& reason, const std::string& headers, const std::string& body, bool head) {
  std::string text = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nConnection: close\r\n" + headers +
                     "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (!head) text += body;
  send_text(fd, text);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

}  // namespace

std::string FakeHub::git_blob_id(const std::string& content) {
  hub::Sha1 hash;
  const auto header = "blob " + std::to_string(content.size());
  hash.update(header.c_str(), header.size() + 1);
  hash.update(content.data(), content.size());
  return hash.hex_digest();
}

std::string FakeHub::lfs_pointer(const std::string& content) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256_hex(content) + "\nsize " +
         std::to_string(content.size()) + "\n";
}

std::string FakeHub::sha256_hex(const std::string& content) {
  hub::Sha256 hash;
  hash.update(content.data(), content.size());
  return hash.hex_digest();
}

FakeHub::FakeHub(std::vector<FakeRepo> repos) : repos_(std::move(repos)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fake hub: socket() failed");
  int yes = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("fake hub: cannot listen on 127.0.0.1");
  socklen_t length = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeHub::~FakeHub() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string FakeHub::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeHub::cut_after(const std::string& path, std::size_t stop_at, int times) {
  std::lock_guard<std::mutex> lock(mutex_);
  cuts_[path] = {stop_at, times};
}

void FakeHub::corrupt(const std::string& path, bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  corrupt_[path] = on;
}

std::vector<RecordedRequest> FakeHub::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void FakeHub::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    handle(fd);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
}

const FakeFile* FakeHub::find_file(const std::string& repo, const std::string& path) const {
  for (const auto& r : repos_)
    if (r.id == repo)
      for (const auto& f : r.files)
        if (f.path == path) return &f;
  return nullptr;
}

void FakeHub::handle(int fd) {
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    const auto got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return;
    request.append(buffer, static_cast<std::size_t>(got));
  }
  const auto lines = split(request.substr(0, request.find("\r\n\r\n")), '\n');
  const auto first = split(lines[0], ' ');
  if (first.size() < 2) return;
  RecordedRequest recorded{first[0], first[1], ""};
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto line = lines[i];
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > 6 && strncasecmp(line.c_str(), "range:", 6) == 0) {
      recorded.range = line.substr(6);
      recorded.range.erase(0, recorded.range.find_first_not_of(' '));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(recorded);
  }
  const bool head = recorded.method == "HEAD";
  auto target = recorded.target;
  if (const auto q = target.find('?'); q != std::string::npos) target = target.substr(0, q);
  const auto parts = split(target.substr(1), '/');

  // /api/models/ORG/NAME/{revision,tree}/REV
  if (parts.size() >= 6 && parts[0] == "api" && parts[1] == "models") {
    const auto repo_id = parts[2] + "/" + parts[3];
    for (const auto& repo : repos_) {
      if (repo.id != repo_id || (parts[5] != "main" && parts[5] != repo.commit)) continue;
      Json body;
      if (parts[4] == "revision") {
        body = {{"id", repo.id}, {"sha", repo.commit}, {"siblings", Json::array()}};
        for (const auto& f : repo.files) body["siblings"].push_back({{"rfilename", f.path}});
      } else {
        body = Json::array();
        for (const auto& f : repo.files) {
          Json entry = {{"type", "file"}, {"path", f.path}, {"size", f.content.size()}, {"oid", git_blob_id(f.lfs ? lfs_pointer(f.content) : f.content)}};
          if (f.lfs) entry["lfs"] = {{"oid", sha256_hex(f.content)}, {"size", f.content.size()}, {"pointerSize", 134}};
          body.push_back(entry);
        }
      }
      respond(fd, 200, "OK", "Content-Type: application/json\r\n", body.dump(), head);
      return;
    }
    respond(fd, 404, "Not Found", "", "{\"error\":\"Repository not found\"}", head);
    return;
  }
  // /ORG/NAME/resolve/REV/PATH...
  if (parts.size() >= 5 && parts[2] == "resolve") {
    const auto repo_id = parts[0] + "/" + parts[1];
    std::string path;
    for (std::size_t i = 4; i < parts.size(); ++i) path += (i > 4 ? "/" : "") + parts[i];
    for (const auto& repo : repos_) {
      if (repo.id != repo_id || (parts[3] != "main" && parts[3] != repo.commit)) continue;
      const auto* file = find_file(repo_id, path);
      if (!file) break;
      const auto sha = sha256_hex(file->content);
      if (file->lfs) {
        const auto headers = "X-Repo-Commit: " + repo.commit + "\r\nX-Linked-Etag: \"" + sha + "\"\r\nX-Linked-Size: " +
                             std::to_string(file->content.size()) + "\r\nETag: W/\"" + sha.substr(0, 40) +
                             "\"\r\nLocation: " + endpoint() + "/cdn/" + repo_id + "/" + path + "\r\n";
        respond(fd, 302, "Found", headers, "", head);
      } else {
        send_body(fd, *file, recorded.range, head,
                  "X-Repo-Commit: " + repo.commit + "\r\nETag: \"" + git_blob_id(file->content) + "\"\r\n");
      }
      return;
    }
    respond(fd, 404, "Not Found", "X-Error-Code: EntryNotFound\r\n", "Entry not found", head);
    return;
  }
  // /cdn/ORG/NAME/PATH...: the storage an LFS file redirects to.
  if (parts.size() >= 4 && parts[0] == "cdn") {
    std::string path;
    for (std::size_t i = 3; i < parts.size(); ++i) path += (i > 3 ? "/" : "") + parts[i];
    if (const auto* file = find_file(parts[1] + "/" + parts[2], path)) {
      send_body(fd, *file, recorded.range, head, "ETag: \"storage-etag\"\r\n");
      return;
    }
  }
  respond(fd, 404, "Not Found", "", "not found", head);
}

void FakeHub::send_body(int fd, const FakeFile& file, const std::string& range, bool head, const std::string& extra_headers) {
  const auto size = file.content.size();
  std::size_t start = 0;
  if (!range.empty()) {  // "bytes=N-"
    if (range.compare(0, 6, "bytes=") != 0) return respond(fd, 400, "Bad Request", "", "bad range", head);
    start = std::stoull(range.substr(6));
    if (start >= size)
      return respond(fd, 416, "Range Not Satisfiable", "Content-Range: bytes */" + std::to_string(size) + "\r\n", "", head);
  }
  std::string content = file.content;
  std::size_t stop_at = size;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (corrupt_[file.path] && !content.empty()) content[content.size() / 2] ^= 0x5a;
    auto cut = cuts_.find(file.path);
    if (!head && cut != cuts_.end() && cut->second.second > 0 && cut->second.first > start) {
      stop_at = cut->second.first;
      --cut->second.second;
    }
  }
  std::string text = range.empty() ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 206 Partial Content\r\n";
  text += "Connection: close\r\nAccept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n" + extra_headers;
  if (!range.empty()) text += "Content-Range: bytes " + std::to_string(start) + "-" + std::to_string(size - 1) + "/" + std::to_string(size) + "\r\n";
  text += "Content-Length: " + std::to_string(size - start) + "\r\n\r\n";
  if (!send_text(fd, text) || head) return;
  for (std::size_t at = start; at < stop_at;) {
    const auto piece = std::min<std::size_t>(65536, stop_at - at);
    if (!send_all(fd, content.data() + at, piece)) return;
    at += piece;
    if (piece_delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(piece_delay_ms_.load()));
    if (stop_) return;
  }
}

}  // namespace skyreels::test
