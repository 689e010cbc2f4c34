// A protobuf text-format parser for Caffe's .prototxt files, generic over the schema: it yields a
// tree of named fields (scalars keep their token text; messages nest) that the Caffe reader
// interprets by field name. Text format needs no field numbers, so the schema lives in one place
// (the translator). Every error names the source and the line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace irforge::caffe {

struct TextMessage;

struct TextField {
  std::string name;
  int line = 0;
  std::string scalar;   // token text; strings unquoted and unescaped
  bool quoted = false;  // the scalar was a string literal
  std::shared_ptr<TextMessage> message;  // set for message fields
};

struct TextMessage {
  std::vector<TextField> fields;
  int line = 0;

  // The first field named `name`, or nullptr.
  const TextField* find(std::string_view name) const;
  const TextMessage* child(std::string_view name) const;
  std::vector<const TextField*> all(std::string_view name) const;
};

// Parses `text`; throws Error(kInvalidModel) "<source>:<line>: ..." on a syntax error and
// Error(kResourceLimit) when messages nest deeper than 64 levels.
std::shared_ptr<TextMessage> parse_prototxt(std::string_view text, const std::string& source);

}  // namespace irforge::caffe
