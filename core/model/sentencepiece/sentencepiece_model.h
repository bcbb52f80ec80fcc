#pragma once

#include <string>
#include <vector>

struct skyreels_spm;

namespace skyreels::model {

// A SentencePiece model, run by the SentencePiece plug-in (sentencepiece_abi.h says why it is a
// plug-in). The plug-in is found at first use: $SKYREELS_SENTENCEPIECE_MODULE, then
// <executable>/../lib/skyreels/, then the build tree. Without it, constructing throws
// skyreels::Error(Unsupported) with the places searched.
class SentencePieceModel {
public:
  explicit SentencePieceModel(const std::string& model_path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  // Ids of the text as given (SentencePiece's own normaliser only, no special tokens).
  std::vector<int> encode(const std::string& text) const;
  int piece_size() const;
  int eos_id() const;  // -1 when the model has none
  int pad_id() const;

private:
  skyreels_spm* model_ = nullptr;
  std::string path_;
};

// True when the plug-in loads; otherwise *why says what was tried.
bool sentencepiece_available(std::string* why = nullptr);

// SentencePieceTrainer::Train(flags) through the plug-in (tests train tiny models with it).
void train_sentencepiece(const std::string& flags);

}  // namespace skyreels::model
