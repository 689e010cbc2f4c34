// A request the caller got wrong (pipeline text, an option value out of range), as opposed to a
// model irforge cannot handle. Python sees it as irforge.UsageError (a ConversionError and a
// ValueError). It is a subclass rather than a new ErrorKind so C++ code that switches on kinds
// keeps working: its kind is kUnsupported (the request cannot be carried out as given).
#pragma once

#include <string>

#include "support/error.h"

namespace irforge {

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ErrorKind::kUnsupported, message) {}
};

[[noreturn]] inline void fail_usage(const std::string& message) { throw UsageError(message); }

}  // namespace irforge
