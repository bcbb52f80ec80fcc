#include "skyreels/error.h"

namespace skyreels {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::Invalid: return "invalid";
    case ErrorCode::BadArgument: return "bad argument";
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::CorruptFile: return "corrupt file";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::ShapeMismatch: return "shape mismatch";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Runtime: return "runtime";
  }
  return "unknown";
}

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

}  // namespace skyreels
