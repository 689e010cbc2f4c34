// Kaldi frontend: nnet1 and nnet3 acoustic models (nnet-copy / nnet3-copy output, text or
// binary; an nnet3 final.mdl with its transition model skipped) read without Kaldi. The model
// maps a [frames, features] matrix to [frames, outputs]; nnet1's Splice gathers neighbouring
// frames clamped at the utterance edges (as nnet-forward does), nnet3's Offset descriptors read
// an input padded by repeating its edge frames (as nnet3-compute pads it), and nnet1's LSTMs run
// over the utterance from a zero state. Binary matrices become constants viewing the
// memory-mapped file in place.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace irforge {

struct KaldiOptions {
  bool remove_output_softmax = false;  // mo's --remove_output_softmax: the logits are the output
  // mo's --counts: a one-line text file of per-output state counts ("[ c0 c1 ... ]"); their log
  // priors log(c / sum(c)) are subtracted from the logits, before a final Softmax. Empty: none.
  std::string counts_path;
};

std::unique_ptr<Model> read_kaldi_file(const std::string& path, const KaldiOptions& options = {});
std::unique_ptr<Model> read_kaldi(std::shared_ptr<const Storage> data, const std::string& label, const KaldiOptions& options = {});

}  // namespace irforge
