#include "video/video_metadata.h"

#include "skyreels/error.h"
#include "skyreels/version.h"
#include "video/video_reader.h"

namespace skyreels::video {

using Json = nlohmann::json;

Json make_video_metadata(const Json& settings, const Json& extra) {
  if (!settings.is_object() && !settings.is_null()) {
    throw Error(ErrorCode::BadArgument,
                std::string("video metadata: the settings must be a JSON object, got ") + settings.type_name());
  }
  Json document = Json::object();
  document["generator"] = kMetadataGenerator;
  document["metadata_format"] = kMetadataFormat;
  document["engine_version"] = kVersion;
  document["settings"] = settings.is_null() ? Json::object() : settings;
  if (extra.is_object())
    for (const auto& [key, value] : extra.items())
      if (!document.contains(key)) document[key] = value;
  return document;
}

std::string metadata_to_text(const Json& document) {
  return document.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<Json> parse_video_metadata(const std::string& text, const std::string& label) {
  const Json document = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object() || document.value("generator", std::string()) != kMetadataGenerator) {
    return std::nullopt;
  }
  const auto format = document.find("metadata_format");
  if (format == document.end() || !format->is_number_integer()) {
    throw Error(ErrorCode::CorruptFile, label + ": SkyReels metadata without a \"metadata_format\"");
  }
  if (format->get<int>() > kMetadataFormat) {
    throw Error(ErrorCode::Unsupported, label + ": SkyReels metadata format " + std::to_string(format->get<int>()) +
                                            " is newer than this engine reads (" + std::to_string(kMetadataFormat) +
                                            ")");
  }
  const auto settings = document.find("settings");
  if (settings == document.end() || !settings->is_object()) {
    throw Error(ErrorCode::CorruptFile, label + ": SkyReels metadata without a \"settings\" object");
  }
  return document;
}

Json read_video_metadata(const std::filesystem::path& path) {
  const VideoInfo info = probe_video(path);
  const auto tag = info.tags.find(kMetadataTag);
  if (tag == info.tags.end()) {
    throw Error(ErrorCode::NotFound, path.string() + ": no SkyReels metadata (the file has no comment tag)");
  }
  auto document = parse_video_metadata(tag->second, path.string());
  if (!document) {
    throw Error(ErrorCode::NotFound,
                path.string() + ": no SkyReels metadata (its comment tag was not written by SkyReels Studio)");
  }
  return *document;
}

Json read_generation_settings(const std::filesystem::path& path) { return read_video_metadata(path)["settings"]; }

}  // namespace skyreels::video
