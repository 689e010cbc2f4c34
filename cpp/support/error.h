// Error values the user can act on. Every error that leaves the core is one of these; the
// Python binding maps each kind to a subclass of irforge.ConversionError.
#pragma once

#include <stdexcept>
#include <string>

namespace irforge {

enum class ErrorKind {
  kInvalidModel,   // the input is malformed: bad protobuf, undefined names, cycles, bad tensors
  kFile,           // a file cannot be opened, read, written or is outside the allowed folder
  kUnsupported,    // valid input we do not handle (yet)
  kResourceLimit,  // declared sizes beyond what we accept (absurd dims, overflow, nesting depth)
  kInternal,       // a bug in irforge: a verifier failure or a broken invariant
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }
[[noreturn]] inline void fail_invalid(const std::string& message) { fail(ErrorKind::kInvalidModel, message); }

}  // namespace irforge
