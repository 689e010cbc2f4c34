// Text-format GraphDef (.pbtxt) -> binary GraphDef: the text is parsed against the same schema
// subset the binary decoder knows (proto.h) and re-encoded as protobuf wire bytes, so one
// decoder serves both. Text is a copying format anyway (tensor_content is an escaped string);
// unknown fields are skipped, as protobuf's own text parser would refuse only in strict mode.
#pragma once

#include <cstdint>
#include <string>

namespace irforge::tf {

// Throws kInvalidModel naming `what`, the line and the problem.
std::string text_graph_def_to_binary(const char* data, size_t size, const std::string& what);

}  // namespace irforge::tf
