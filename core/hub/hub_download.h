#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skyreels::hub {

// A file of a repository as the Hub's listing gives it.
struct RepoFile {
  std::string path;           // "google/umt5-xxl/spiece.model"
  std::uint64_t size = 0;     // 0: not listed
  std::string sha256;         // the LFS object id (sha256), empty for a file kept in git itself
  std::string git_oid;        // the git blob id (sha1) of a file kept in git, empty for an LFS file
};

// A path from a listing that is safe to write under a snapshot folder: relative, no "." or ".."
// parts, no backslash or control character.
bool is_safe_repo_path(const std::string& path);

// The resolve URL of a file: {endpoint}/{repo}/resolve/{revision}/{path}, each part percent-encoded.
std::string resolve_url(const std::string& endpoint, const std::string& repo, const std::string& revision,
                        const std::string& path);

}  // namespace skyreels::hub
