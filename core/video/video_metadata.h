#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace skyreels::video {

// Generation settings travel inside the video, as JSON in the container's "comment" tag (the MP4 ©cmt
// atom, which players and ffprobe show; a Matroska COMMENT tag), so a produced file restores its settings.
inline constexpr const char* kMetadataTag = "comment";
inline constexpr const char* kMetadataGenerator = "SkyReels Studio";
inline constexpr int kMetadataFormat = 1;

// The stored document: {"generator": "SkyReels Studio", "metadata_format": 1, "engine_version": "0.1.0",
// "settings": <the caller's settings: prompt, negative prompt, seed, every generation setting>}.
// `settings` must be a JSON object or null; throws skyreels::Error(BadArgument) otherwise. The keys of
// `extra` (an object, or null) are added beside them: the job runner adds "model" (which model made the
// video) and "output" (the frames planned, so a reader can tell a partial file).
nlohmann::json make_video_metadata(const nlohmann::json& settings, const nlohmann::json& extra = nullptr);

// The tag text: compact UTF-8 JSON (invalid UTF-8 in strings is replaced, never thrown on).
std::string metadata_to_text(const nlohmann::json& document);

// The document in a tag's text, or nullopt when the text is not SkyReels metadata (for example a comment
// written by another program). Throws skyreels::Error(CorruptFile) for SkyReels metadata that is damaged.
std::optional<nlohmann::json> parse_video_metadata(const std::string& text, const std::string& label);

// The document stored in a produced video. Throws skyreels::Error: NotFound (no file, or a video without
// SkyReels metadata), CorruptFile (not a readable media file, or damaged metadata).
nlohmann::json read_video_metadata(const std::filesystem::path& path);
// Just its "settings".
nlohmann::json read_generation_settings(const std::filesystem::path& path);

}  // namespace skyreels::video
