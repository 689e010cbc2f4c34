#include "io/openvino/writer.h"

#include <set>

#include "io/openvino/bin_writer.h"
#include "io/openvino/lowering.h"
#include "io/openvino/xml_writer.h"
#include "support/atomic_file.h"
#include "support/error.h"
#include "support/mapped_file.h"

namespace irforge {

namespace {
std::string bin_path_for(const std::string& xml_path) {
  size_t slash = xml_path.rfind('/');
  size_t dot = xml_path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return xml_path + ".bin";
  return xml_path.substr(0, dot) + ".bin";
}
// Lowering reads small constants (shapes, axes, scalars) to decide what to emit, and each read
// faults in the whole 2 MiB page-cache folio around it: on BERT-base that left ~150 MB of the
// model file resident until the .bin writer passed by. Hand every mapped page back at once
// before writing; the writer faults in only what it is streaming.
void release_mappings(const ov::OvGraph& g, std::set<const MappedFile*>& done) {
  for (const ov::Layer& l : g.layers) {
    if (l.constant && l.constant->tensor && l.constant->tensor->is_mapped()) {
      const MappedFile* m = l.constant->tensor->storage()->mapping();
      if (done.insert(m).second) m->release(m->data(), m->size());
    }
    for (const auto& body : l.bodies) release_mappings(*body, done);
  }
}

}  // namespace

OvWriteStats write_openvino(const Model& model, const std::string& xml_path, const OvWriteOptions& options) {
  if (!model.graph) fail(ErrorKind::kInternal, "model has no graph");
  ov::LowerOptions lo;
  lo.compress_to_fp16 = options.compress_to_fp16;
  std::unique_ptr<ov::OvGraph> graph = ov::lower_model(model, lo);
  std::set<const MappedFile*> released;
  release_mappings(*graph, released);

  AtomicFile bin(bin_path_for(xml_path));
  ov::BinStats bs = ov::write_bin(*graph, bin.fd(), bin.path(), options.progress);
  OvWriteStats stats;
  std::string xml = ov::write_xml(*graph, model.graph->name().empty() ? "Model" : model.graph->name(), options.rt_info, &stats.layers);
  AtomicFile xf(xml_path);
  xf.write_all(xml.data(), xml.size());
  // The .xml names offsets into this .bin: both appear, or neither changes.
  commit_together({&bin, &xf});
  stats.constants = bs.constants;
  stats.deduplicated = bs.deduplicated;
  stats.compressed = bs.compressed;
  stats.kept_f32 = bs.kept_f32;
  stats.bin_bytes = bs.bytes;
  return stats;
}

}  // namespace irforge
