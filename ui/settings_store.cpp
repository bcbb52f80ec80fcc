#include "settings_store.h"

#include <QSettings>

#include <nlohmann/json.hpp>

#include "studio_job_json.h"

namespace skyreels::ui {
namespace {

constexpr const char* kGroup = "form";

QString codecName(OutputCodec codec) { return codec == OutputCodec::Ffv1Mkv ? "ffv1" : "h264"; }

}  // namespace

void saveJob(QSettings& store, const StudioJob& job) {
  store.beginGroup(kGroup);
  store.setValue("settings_json", QString::fromStdString(to_json(job.settings).dump()));
  store.setValue("model_folder", job.modelFolder);
  store.setValue("device", job.device);
  store.setValue("random_seed", job.randomSeed);
  store.setValue("start_image", job.startImage);
  store.setValue("end_image", job.endImage);
  store.setValue("extend_video", job.extendVideo);
  store.setValue("output_folder", job.outputFolder);
  store.setValue("codec", codecName(job.codec));
  store.setValue("crf", job.crf);
  store.setValue("lora_list_json", QString::fromStdString(loraListJson(job.loraList)));
  store.endGroup();
  store.sync();
}

std::optional<StudioJob> loadJob(QSettings& store) {
  store.beginGroup(kGroup);
  const auto text = store.value("settings_json").toString().toStdString();
  std::optional<StudioJob> job;
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!text.empty() && !json.is_discarded()) {
    try {
      StudioJob j;
      j.settings = settings_from_json(json);
      j.modelFolder = store.value("model_folder").toString();
      j.device = store.value("device", j.device).toString();
      j.randomSeed = store.value("random_seed", false).toBool();
      j.startImage = store.value("start_image").toString();
      j.endImage = store.value("end_image").toString();
      j.extendVideo = store.value("extend_video").toString();
      j.outputFolder = store.value("output_folder").toString();
      j.codec = store.value("codec").toString() == "ffv1" ? OutputCodec::Ffv1Mkv : OutputCodec::H264Mp4;
      j.crf = store.value("crf", j.crf).toInt();
      j.loraList = loraListFromJson(store.value("lora_list_json").toString().toStdString());
      job = j;
    } catch (const std::exception&) {  // wrongly typed settings: start from the model's defaults instead
    }
  }
  store.endGroup();
  return job;
}

}  // namespace skyreels::ui
