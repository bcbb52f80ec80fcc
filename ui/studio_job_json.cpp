#include "studio_job_json.h"

#include <nlohmann/json.hpp>

namespace skyreels::ui {

std::string loraListJson(const std::vector<StudioLora>& list) {
  GenerationSettings all;
  for (const auto& l : list) all.loras.push_back(l.lora);
  auto loras = to_json(all).at("loras");
  for (std::size_t i = 0; i < list.size(); ++i) loras[i]["enabled"] = list[i].enabled;
  return loras.dump();
}

std::vector<StudioLora> loraListFromJson(const std::string& text) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (text.empty() || !json.is_array()) return {};
  const auto loras = settings_from_json(nlohmann::json{{"loras", json}}).loras;
  std::vector<StudioLora> list;
  for (std::size_t i = 0; i < loras.size(); ++i) {
    const auto& enabled = json[i]["enabled"];
    list.push_back({loras[i], !enabled.is_boolean() || enabled.get<bool>()});
  }
  return list;
}

nlohmann::json jobToJson(const StudioJob& job) {
  return {{"settings", to_json(job.settings)},
          {"model_folder", job.modelFolder.toStdString()},
          {"device", job.device.toStdString()},
          {"random_seed", job.randomSeed},
          {"start_image", job.startImage.toStdString()},
          {"end_image", job.endImage.toStdString()},
          {"extend_video", job.extendVideo.toStdString()},
          {"output_folder", job.outputFolder.toStdString()},
          {"codec", job.codec == OutputCodec::Ffv1Mkv ? "ffv1" : "h264"},
          {"crf", job.crf},
          {"lora_list", loraListJson(job.loraList)}};
}

StudioJob jobFromJson(const nlohmann::json& json) {
  auto text = [&](const char* key) { return QString::fromStdString(json.value(key, std::string())); };
  StudioJob job;
  job.settings = settings_from_json(json.at("settings"));
  job.modelFolder = text("model_folder");
  job.device = json.contains("device") ? text("device") : job.device;
  job.randomSeed = json.value("random_seed", false);
  job.startImage = text("start_image");
  job.endImage = text("end_image");
  job.extendVideo = text("extend_video");
  job.outputFolder = text("output_folder");
  job.codec = json.value("codec", std::string()) == "ffv1" ? OutputCodec::Ffv1Mkv : OutputCodec::H264Mp4;
  job.crf = json.value("crf", job.crf);
  job.loraList = loraListFromJson(json.value("lora_list", std::string()));
  return job;
}

}  // namespace skyreels::ui
