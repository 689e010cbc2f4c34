// "std::out_of_range: stoi": an unexpected exception described for an InternalError message,
// so a bug report says what was thrown, not only its what() text.
#pragma once

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>

namespace irforge {

inline std::string exception_type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

inline std::string exception_text(const std::exception& e) {
  std::string what = e.what() ? e.what() : "";
  std::string type = exception_type_name(typeid(e));
  return what.empty() || what == type ? type : type + ": " + what;
}

}  // namespace irforge
