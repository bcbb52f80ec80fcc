// The SentencePiece plug-in: libsentencepiece behind a C interface (see sentencepiece_abi.h for why).
// Built as a MODULE library with hidden visibility; only the skyreels_spm_* functions are exported.

#include "model/sentencepiece/sentencepiece_abi.h"

#include <cstdio>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>
#if defined(SKYREELS_SPM_WITH_TRAINER)
#include <sentencepiece_trainer.h>
#endif

#define SKYREELS_SPM_EXPORT extern "C" __attribute__((visibility("default")))

struct skyreels_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void set_error(char* error, size_t error_size, const std::string& message) {
  if (error && error_size > 0) std::snprintf(error, error_size, "%s", message.c_str());
}

}  // namespace

SKYREELS_SPM_EXPORT int skyreels_spm_abi_version(void) { return SKYREELS_SPM_ABI_VERSION; }

SKYREELS_SPM_EXPORT skyreels_spm* skyreels_spm_load(const char* model_path, char* error, size_t error_size) {
  try {
    auto model = new skyreels_spm;
    const auto status = model->processor.Load(model_path);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      delete model;
      return nullptr;
    }
    return model;
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return nullptr;
  }
}

SKYREELS_SPM_EXPORT void skyreels_spm_free(skyreels_spm* model) { delete model; }

SKYREELS_SPM_EXPORT int skyreels_spm_piece_size(const skyreels_spm* model) { return model->processor.GetPieceSize(); }
SKYREELS_SPM_EXPORT int skyreels_spm_eos_id(const skyreels_spm* model) { return model->processor.eos_id(); }
SKYREELS_SPM_EXPORT int skyreels_spm_pad_id(const skyreels_spm* model) { return model->processor.pad_id(); }

SKYREELS_SPM_EXPORT long skyreels_spm_encode(const skyreels_spm* model, const char* text, size_t text_size, int* ids,
                                             size_t capacity, char* error, size_t error_size) {
  try {
    std::vector<int> out;
    const auto status = model->processor.Encode(std::string(text, text_size), &out);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return -1;
    }
    for (size_t i = 0; i < out.size() && i < capacity; ++i) ids[i] = out[i];
    return static_cast<long>(out.size());
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return -1;
  }
}

SKYREELS_SPM_EXPORT int skyreels_spm_train(const char* flags, char* error, size_t error_size) {
#if defined(SKYREELS_SPM_WITH_TRAINER)
  try {
    const auto status = sentencepiece::SentencePieceTrainer::Train(flags);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return -1;
  }
#else
  (void)flags;
  set_error(error, error_size, "the SentencePiece plug-in was built without libsentencepiece_train");
  return -1;
#endif
}
