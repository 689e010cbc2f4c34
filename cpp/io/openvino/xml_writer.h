// Serializes an OvGraph (after the .bin writer filled in constant offsets) as IR v11 XML.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "io/openvino/ov_graph.h"

namespace irforge::ov {

std::string write_xml(const OvGraph& graph, const std::string& model_name,
                      const std::vector<std::pair<std::string, std::string>>& rt_info, uint64_t* layer_count);

}  // namespace irforge::ov
