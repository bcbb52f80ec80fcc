#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace skyreels::hub {

// The Hugging Face cache layout (huggingface_hub's): <cache>/models--ORG--NAME/{blobs,snapshots,refs}.
// blobs/<etag> holds each file once (the sha256 for LFS files), snapshots/<commit>/<path> is a relative
// symlink to its blob, refs/<branch> holds the commit the branch pointed at.

// "Skywork/SkyReels-V2-DF-1.3B-540P" -> "models--Skywork--SkyReels-V2-DF-1.3B-540P".
std::string repo_folder_name(const std::string& repo);
// The inverse; nullopt for a name that is not a model repository's folder.
std::optional<std::string> repo_from_folder_name(const std::string& folder_name);

// An ETag as the Hub sends it (`W/"abc"`, `"abc"`) without the weak marker and quotes.
std::string normalize_etag(std::string etag);

// A string that is a 40-digit hex git commit.
bool is_commit_hash(const std::string& text);

// A repository id ORG/NAME made of letters, digits and - _ . (no "..", no more slashes).
bool is_valid_repo_id(const std::string& repo);

// The symlink target of snapshots/<commit>/<path> to blobs/<blob>, relative to the link's folder.
std::filesystem::path relative_blob_link(const std::string& path_in_repo, const std::string& blob);

}  // namespace skyreels::hub
