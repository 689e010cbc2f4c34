// libFuzzer target for the whole way a model takes: ONNX reader → the default pass pipeline (as
// `irforge convert` runs it, default fold size limit, IR verified after every pass) → OpenVINO
// lowering and both writers (.xml/.bin and ONNX), all in memory.
//
// Any irforge::Error is a fine rejection, except ErrorKind::kInternal, which irforge reserves for
// its own bugs (a verifier failure between passes is one). Anything else escaping, a crash, a
// sanitizer report or a timeout is a finding. When the model is accepted, the ONNX it becomes
// must re-read cleanly and verify.
//
// The .bin goes to a memfd (an anonymous in-memory file): the bin writer streams to a file
// descriptor and rewinds it (ftruncate/lseek) when a weight stays f32, which a memfd supports,
// so the writer under test is the production one, not a copy. Nothing touches the file system.
//
// The structure-aware mutator lives in ir_mutator.cc. Build and run: scripts/fuzz.sh pipeline
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "io/onnx/reader.h"
#include "io/onnx/writer.h"
#include "io/openvino/bin_writer.h"
#include "io/openvino/lowering.h"
#include "io/openvino/xml_writer.h"
#include "ir/verifier.h"
#include "ir_mutator.h"
#include "passes/legalize/onnx_output.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "support/error.h"
#include "fuzz_support.h"
#include "support/parallel.h"

namespace {

[[noreturn]] void die(const char* stage, const std::string& detail) { irforge::fuzz::die("fuzz_pipeline", stage, detail); }

std::shared_ptr<const irforge::Storage> storage_of(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  return std::make_shared<irforge::OwnedStorage>(std::vector<uint8_t>(p, p + size));
}

// A rejection is fine; an internal error is irforge admitting a bug, so it is a finding.
void allow_rejection(const irforge::Error& e, const char* stage) {
  if (e.kind() == irforge::ErrorKind::kInternal) die(stage, e.what());
}

// One memfd for the whole run, emptied before each use.
int bin_sink() {
  static const int fd = [] {
    int f = memfd_create("fuzz_pipeline.bin", MFD_CLOEXEC);
    if (f < 0) die("memfd_create failed", std::strerror(errno));
    return f;
  }();
  if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) die("cannot empty the memfd", std::strerror(errno));
  return fd;
}

void write_openvino_in_memory(const irforge::Model& model) {
  irforge::ov::LowerOptions options;  // compress_to_fp16 = true, as `irforge convert`
  std::unique_ptr<irforge::ov::OvGraph> graph = irforge::ov::lower_model(model, options);
  irforge::ov::write_bin(*graph, bin_sink(), "<fuzz .bin>", nullptr);
  uint64_t layers = 0;
  std::string xml = irforge::ov::write_xml(*graph, model.graph->name().empty() ? "Model" : model.graph->name(), {}, &layers);
  if (xml.empty()) die("write_xml returned nothing", "");
}

void write_onnx_and_reread(const irforge::Model& model) {
  // As save_model(..., "x.onnx"): fused ops newer than the model's opset are expanded in a copy.
  std::unique_ptr<irforge::Model> legal = irforge::passes::legalize_for_onnx(model, 0);
  std::string written = irforge::write_onnx_bytes(legal ? *legal : model);
  std::unique_ptr<irforge::Model> reread;
  try {
    reread = irforge::read_onnx_bytes(storage_of(written.data(), written.size()), "", "<fuzz output>");
  } catch (const irforge::Error& e) {
    die("the ONNX written for an accepted model does not re-read", e.what());
  }
  std::vector<std::string> problems = irforge::verify(*reread);
  if (!problems.empty()) die("the ONNX written for an accepted model does not verify after re-reading", problems.front());
}

}  // namespace

// One thread (unless IRFORGE_NUM_THREADS says otherwise): a fuzzing job takes one core, and
// libFuzzer's coverage feedback is cleanest without pool threads.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::getenv("IRFORGE_NUM_THREADS")) irforge::set_thread_count(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<irforge::Model> model;
  try {
    // base_dir "" : external data is refused (the fuzzer must not read files).
    model = irforge::read_onnx_bytes(storage_of(data, size), "", "<fuzz>");
  } catch (const irforge::Error& e) {
    allow_rejection(e, "the reader reported an internal error");
    return 0;
  }
  // The verifier is stricter than ONNX in places (fuzz_onnx_reader hunts reader/verifier
  // disagreements); the pipeline is only held to "verifies after every pass" from a clean start.
  if (!irforge::verify(*model).empty()) return 0;

  irforge::passes::PipelineOptions options;  // default fold size limit and target opset
  options.verify = true;
  try {
    irforge::passes::run_pipeline(*model, irforge::passes::default_pipeline(), options);
  } catch (const irforge::Error& e) {
    allow_rejection(e, "the default pipeline reported an internal error (a verifier failure between passes?)");
    return 0;
  }

  try {
    write_openvino_in_memory(*model);
  } catch (const irforge::Error& e) {
    allow_rejection(e, "OpenVINO lowering/writing reported an internal error");
  }
  try {
    write_onnx_and_reread(*model);
  } catch (const irforge::Error& e) {
    allow_rejection(e, "ONNX legalizing/writing reported an internal error");
  }
  return 0;
}

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size_t n = irforge::fuzz::mutate_model(data, size, max_size, seed);
  return n != 0 ? n : LLVMFuzzerMutate(data, size, max_size);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1, const uint8_t* data2, size_t size2, uint8_t* out,
                                            size_t max_out_size, unsigned int seed) {
  return irforge::fuzz::cross_over_models(data1, size1, data2, size2, out, max_out_size, seed);
}
