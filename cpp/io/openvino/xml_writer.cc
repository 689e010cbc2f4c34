#include "io/openvino/xml_writer.h"

#include <map>

namespace irforge::ov {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// Tensor names are comma-separated in `names`; a comma inside a name is escaped.
std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ",";
    for (char c : names[i]) {
      if (c == ',') out += "\\,";
      else out += c;
    }
  }
  return escape(out);
}

class XmlWriter {
 public:
  std::string out;
  uint64_t layers = 0;

  void graph(const OvGraph& g, int indent) {
    // Decompression Converts whose constant stayed f32 are left out; users read the Const.
    std::vector<PortRef> alias(g.layers.size());
    std::vector<bool> skip(g.layers.size(), false);
    for (const Layer& l : g.layers) {
      if (!l.decompression_convert) continue;
      const Layer& src = g.layers[l.inputs[0].layer];
      if (src.constant && src.constant->stored_type != ElemType::kF16) {
        skip[l.id] = true;
        alias[l.id] = l.inputs[0];
      }
    }
    auto resolve = [&](PortRef p) {
      while (skip[p.layer]) p = alias[p.layer];
      return p;
    };
    std::string pad(indent, '\t');
    out += pad + "<layers>\n";
    for (const Layer& l : g.layers) {
      if (skip[l.id]) continue;
      ++layers;
      out += pad + "\t<layer id=\"" + std::to_string(l.id) + "\" name=\"" + escape(l.name) + "\" type=\"" + escape(l.type) +
             "\" version=\"" + escape(l.version) + "\">\n";
      if (!l.data.empty()) {
        out += pad + "\t\t<data";
        for (const auto& [k, v] : l.data) out += " " + k + "=\"" + escape(v) + "\"";
        out += " />\n";
      }
      if (!l.rt_info.empty()) {
        out += pad + "\t\t<rt_info>\n";
        for (const auto& a : l.rt_info) out += pad + "\t\t\t" + a + "\n";
        out += pad + "\t\t</rt_info>\n";
      }
      if (!l.inputs.empty()) {
        out += pad + "\t\t<input>\n";
        for (size_t k = 0; k < l.inputs.size(); ++k) {
          PortRef src = resolve(l.inputs[k]);
          port(g.port(src), static_cast<int>(k), indent + 3, false);
        }
        out += pad + "\t\t</input>\n";
      }
      if (!l.outputs.empty()) {
        out += pad + "\t\t<output>\n";
        for (size_t k = 0; k < l.outputs.size(); ++k) port(l.outputs[k], static_cast<int>(l.inputs.size() + k), indent + 3, true);
        out += pad + "\t\t</output>\n";
      }
      for (size_t b = 0; b < l.bodies.size(); ++b) {
        out += pad + "\t\t<" + l.body_tags[b] + ">\n";
        graph(*l.bodies[b], indent + 3);
        out += pad + "\t\t</" + l.body_tags[b] + ">\n";
        port_map(l, b, indent + 2);
      }
      out += pad + "\t</layer>\n";
    }
    out += pad + "</layers>\n";
    out += pad + "<edges>\n";
    for (const Layer& l : g.layers) {
      if (skip[l.id]) continue;
      for (size_t k = 0; k < l.inputs.size(); ++k) {
        PortRef src = resolve(l.inputs[k]);
        int from_port = static_cast<int>(g.layers[src.layer].inputs.size()) + src.port;
        out += pad + "\t<edge from-layer=\"" + std::to_string(src.layer) + "\" from-port=\"" + std::to_string(from_port) +
               "\" to-layer=\"" + std::to_string(l.id) + "\" to-port=\"" + std::to_string(k) + "\" />\n";
      }
    }
    out += pad + "</edges>\n";
  }

 private:
  void port(const OutPort& p, int id, int indent, bool is_output) {
    std::string pad(indent, '\t');
    out += pad + "<port id=\"" + std::to_string(id) + "\" precision=\"" + elem_precision(p.type) + "\"";
    if (is_output && !p.names.empty()) out += " names=\"" + join_names(p.names) + "\"";
    if (p.shape && !p.shape->empty()) {
      out += ">\n";
      for (int64_t d : *p.shape) out += pad + "\t<dim>" + std::to_string(d) + "</dim>\n";
      out += pad + "</port>\n";
    } else {
      out += " />\n";
    }
  }

  void port_map(const Layer& l, size_t b, int indent) {
    std::string pad(indent, '\t');
    const std::string& tag = l.port_map_tags[b];
    out += pad + "<" + tag + ">\n";
    for (const PortMapEntry& e : l.port_maps[b]) {
      // external_port_id is the layer's port id: outputs are numbered after the inputs.
      int external = e.external_port < 0 || e.is_input ? e.external_port : e.external_port + static_cast<int>(l.inputs.size());
      out += pad + "\t<" + std::string(e.is_input ? "input" : "output") + " external_port_id=\"" + std::to_string(external) +
             "\" internal_layer_id=\"" + std::to_string(e.internal_layer_id) + "\"";
      if (e.axis >= 0) {
        out += " axis=\"" + std::to_string(e.axis) + "\" start=\"" + std::to_string(e.start) + "\" end=\"" + std::to_string(e.end) +
               "\" stride=\"" + std::to_string(e.stride) + "\" part_size=\"" + std::to_string(e.part_size) + "\"";
      }
      if (e.purpose == 1) out += " purpose=\"current_iteration\"";
      if (e.purpose == 2) out += " purpose=\"execution_condition\"";
      out += " />\n";
    }
    out += pad + "</" + tag + ">\n";
    if (b < l.back_edges.size() && !l.back_edges[b].empty()) {
      out += pad + "<back_edges>\n";
      for (const BackEdge& e : l.back_edges[b])
        out += pad + "\t<edge from-layer=\"" + std::to_string(e.from_layer) + "\" from-port=\"" + std::to_string(e.from_port) +
               "\" to-layer=\"" + std::to_string(e.to_layer) + "\" to-port=\"0\" />\n";
      out += pad + "</back_edges>\n";
    }
  }
};

void rt_info_xml(std::string& out, const std::vector<std::pair<std::string, std::string>>& entries) {
  // Keys "a/b/name" nest <name> inside <b> inside <a>; consecutive entries share open groups.
  out += "\t<rt_info>\n";
  std::vector<std::string> open;
  auto indent = [&](size_t depth) { return std::string(depth + 2, '\t'); };
  for (const auto& [key, value] : entries) {
    std::vector<std::string> path;
    for (size_t begin = 0;;) {
      size_t slash = key.find('/', begin);
      path.push_back(key.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin));
      if (slash == std::string::npos) break;
      begin = slash + 1;
    }
    std::string name = path.back();
    path.pop_back();
    size_t common = 0;
    while (common < open.size() && common < path.size() && open[common] == path[common]) ++common;
    while (open.size() > common) {
      out += indent(open.size() - 1) + "</" + open.back() + ">\n";
      open.pop_back();
    }
    for (size_t i = common; i < path.size(); ++i) {
      out += indent(open.size()) + "<" + path[i] + ">\n";
      open.push_back(path[i]);
    }
    out += indent(open.size()) + "<" + name + " value=\"" + escape(value) + "\" />\n";
  }
  while (!open.empty()) {
    out += indent(open.size() - 1) + "</" + open.back() + ">\n";
    open.pop_back();
  }
  out += "\t</rt_info>\n";
}

}  // namespace

std::string write_xml(const OvGraph& graph, const std::string& model_name,
                      const std::vector<std::pair<std::string, std::string>>& rt_info, uint64_t* layer_count) {
  XmlWriter w;
  w.out = "<?xml version=\"1.0\"?>\n<net name=\"" + escape(model_name) + "\" version=\"11\">\n";
  w.graph(graph, 1);
  if (!rt_info.empty()) rt_info_xml(w.out, rt_info);
  w.out += "</net>\n";
  if (layer_count) *layer_count = w.layers;
  return std::move(w.out);
}

}  // namespace irforge::ov
