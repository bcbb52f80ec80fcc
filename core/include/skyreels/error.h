#pragma once

#include <stdexcept>
#include <string>

namespace skyreels {

// What went wrong, so a front end can tell bad input from a runtime failure.
enum class ErrorCode {
  Invalid = 0,      // never raised; a default-constructed code
  BadArgument,      // impossible or inconsistent settings
  NotFound,         // a file, key or tensor that should exist does not
  CorruptFile,      // a file exists but its contents are malformed
  Unsupported,      // well-formed input this engine does not handle
  ShapeMismatch,    // tensors whose shapes disagree with the model
  Cancelled,        // the user stopped the work
  Runtime,          // a failure while running (device, out of memory, ...)
};

const char* to_string(ErrorCode code);

// The one exception type the engine throws; messages name the file, key or setting at fault.
class Error : public std::runtime_error {
public:
  Error(ErrorCode code, const std::string& message);

  ErrorCode code() const noexcept { return code_; }

private:
  ErrorCode code_;
};

}  // namespace skyreels
