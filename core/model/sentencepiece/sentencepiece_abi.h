#pragma once

// The C interface of the SentencePiece plug-in (libskyreels_sentencepiece.so).
//
// Why a plug-in: Debian's libsentencepiece carries its own copy of protobuf-lite and exports those
// symbols, while Debian's LibTorch loads the system libprotobuf (through ONNX). Linked into one
// process, the two copies interpose each other and protobuf crashes while the program starts. The
// plug-in is opened with RTLD_LOCAL | RTLD_DEEPBIND, so libsentencepiece binds to its own copy and
// the rest of the process never sees it. Only plain C types cross this line.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SKYREELS_SPM_ABI_VERSION 1

typedef struct skyreels_spm skyreels_spm;

// Every function that can fail writes a NUL-terminated message into error[0 .. error_size).
int skyreels_spm_abi_version(void);
skyreels_spm* skyreels_spm_load(const char* model_path, char* error, size_t error_size);
void skyreels_spm_free(skyreels_spm* model);
int skyreels_spm_piece_size(const skyreels_spm* model);
int skyreels_spm_eos_id(const skyreels_spm* model);
int skyreels_spm_pad_id(const skyreels_spm* model);
// The ids of text (no special tokens added). Returns how many there are, which may exceed capacity
// (call again with a larger buffer), or -1 on failure.
long skyreels_spm_encode(const skyreels_spm* model, const char* text, size_t text_size, int* ids, size_t capacity,
                         char* error, size_t error_size);
// SentencePieceTrainer::Train with a flag string. Returns 0 on success, -1 on failure (also when the
// plug-in was built without libsentencepiece_train).
int skyreels_spm_train(const char* flags, char* error, size_t error_size);

#ifdef __cplusplus
}
#endif
