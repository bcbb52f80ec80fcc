#include "hub/hub_cache.h"

#include <algorithm>
#include <cctype>

namespace skyreels::hub {

std::string repo_folder_name(const std::string& repo) {
  std::string name = "models--";
  for (const char c : repo) {
    if (c == '/') name += "--";
    else name += c;
  }
  return name;
}

std::optional<std::string> repo_from_folder_name(const std::string& folder_name) {
  const std::string prefix = "models--";
  if (folder_name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const auto rest = folder_name.substr(prefix.size());
  const auto split = rest.find("--");
  if (split == std::string::npos || split == 0 || split + 2 >= rest.size()) return std::nullopt;
  return rest.substr(0, split) + "/" + rest.substr(split + 2);
}

std::string normalize_etag(std::string etag) {
  while (!etag.empty() && std::isspace(static_cast<unsigned char>(etag.back()))) etag.pop_back();
  if (etag.compare(0, 2, "W/") == 0) etag.erase(0, 2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

bool is_commit_hash(const std::string& text) {
  return text.size() == 40 && std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

bool is_valid_repo_id(const std::string& repo) {
  const auto slash = repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= repo.size()) return false;
  if (repo.find('/', slash + 1) != std::string::npos || repo.find("..") != std::string::npos) return false;
  return std::all_of(repo.begin(), repo.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

std::filesystem::path relative_blob_link(const std::string& path_in_repo, const std::string& blob) {
  // snapshots/<commit>/a/b/file -> ../../../../blobs/<blob>: one ".." per folder of the path, two more
  // for <commit> and snapshots.
  std::filesystem::path link = "..";
  link /= "..";
  for (const char c : path_in_repo)
    if (c == '/') link /= "..";
  return link / "blobs" / blob;
}

}  // namespace skyreels::hub
