"""Damaged .tflite files end in a clear irforge error naming the file and the tensor, operator or
flatbuffer table at fault: never a crash, a hang or a read outside the file (the reader's views are
bounds-checked; tests/fuzz/fuzz_tflite_reader.cc fuzzes the same border under ASan)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import irforge
import tflite_writer as tw


def convert(tmp_path, data: bytes, name="m.tflite"):
    path = tmp_path / name
    path.write_bytes(data)
    return irforge.convert_model(str(path))


def test_wrong_identifier(tmp_path):
    data = bytearray(tw.small_cnn())
    data[4:8] = b"TFL2"
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: not a TensorFlow Lite model: the flatbuffer identifier at byte 4 is not 'TFL3'"):
        convert(tmp_path, bytes(data))


def test_tiny_file(tmp_path):
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: not a TensorFlow Lite model: the file has only 3 bytes"):
        convert(tmp_path, b"TFL")


def test_truncated_file(tmp_path):
    data = tw.small_cnn()
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: .*past the end of the file"):
        convert(tmp_path, data[: len(data) // 2])


def test_root_offset_past_the_end(tmp_path):
    data = bytearray(tw.small_cnn())
    struct.pack_into("<I", data, 0, len(data) + 100)
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: flatbuffer Model at byte \d+ \(4 bytes\) is past the end of the file"):
        convert(tmp_path, bytes(data))


def test_external_buffer_out_of_range(tmp_path):
    # The large-model form with its trailing weight bytes cut off: the buffer's offset/size point
    # past the end of the file.
    data = tw.small_cnn(external_buffers=True)
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: buffer \d+: data at offset \d+ size \d+ is past the end of the file"):
        convert(tmp_path, data[:-8])


def test_operator_reads_a_tensor_that_does_not_exist(tmp_path):
    ts = [tw.Tensor("x", [1, 4]), tw.Tensor("y", [1, 4])]
    data = tw.build(ts, [tw.Op(tw.ADD, [0, 99], [1], {0: ("b", 0)})], [0], [1])
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: subgraph 0 operator 0 \(ADD\) inputs: tensor index 99 is out of range \(the subgraph has 2 tensors\)"):
        convert(tmp_path, data)


def test_constant_smaller_than_its_shape(tmp_path):
    ts = [tw.Tensor("x", [1, 4]), tw.Tensor("bias", [1, 4], data=np.zeros(3, np.float32)), tw.Tensor("y", [1, 4])]
    data = tw.build(ts, [tw.Op(tw.ADD, [0, 1], [2], {0: ("b", 0)})], [0], [2])
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: operator ADD#0: tensor 1 'bias': its buffer 1 holds 12 bytes but shape and type need 16"):
        convert(tmp_path, data)


def test_tensor_read_before_it_is_written(tmp_path):
    ts = [tw.Tensor("x", [1, 4]), tw.Tensor("later", [1, 4]), tw.Tensor("y", [1, 4])]
    data = tw.build(ts, [tw.Op(tw.ADD, [0, 1], [2], {0: ("b", 0)})], [0], [2])
    with pytest.raises(irforge.InvalidModelError, match=r"tensor 1 'later' is read by operator ADD#0 but is neither an input, a constant, nor the output of an earlier operator"):
        convert(tmp_path, data)


def test_bad_window_is_an_error_naming_the_operator(tmp_path):
    # CONV_2D with stride 0 (fields 1, 2 of Conv2DOptions).
    ts = [tw.Tensor("x", [1, 8, 8, 3]), tw.Tensor("w", [3, 3, 3, 3], data=np.ones((3, 3, 3, 3), np.float32)), tw.Tensor("y", [1, 4, 4, 3])]
    data = tw.build(ts, [tw.Op(tw.CONV_2D, [0, 1, -1], [2], {0: ("b", 0), 1: ("i", 0), 2: ("i", 0)})], [0], [2])
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: operator CONV_2D#0: window 3x3, strides 0x0, .* all must be >= 1"):
        convert(tmp_path, data)


def test_integer_lstm_without_its_hidden_intermediate(tmp_path):
    # The fifth intermediate carries the hidden state's scale: without it there is no hidden grid.
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: operator UNIDIRECTIONAL_SEQUENCE_LSTM#1: has 4 intermediate tensors; the int8 LSTM kernel needs 5"):
        convert(tmp_path, tw.integer_lstm(intermediates=4))


def test_integer_lstm_8x8_8_kernel_is_unsupported_not_invalid(tmp_path):
    # Twelve intermediates select TFLite's other integer LSTM kernel: a valid model irforge lacks.
    with pytest.raises(irforge.UnsupportedError, match=r"m\.tflite: operator UNIDIRECTIONAL_SEQUENCE_LSTM#1: the 8x8_8 integer LSTM kernel"):
        convert(tmp_path, tw.integer_lstm(intermediates=12))


def test_integer_lstm_cell_scale_not_a_power_of_two(tmp_path):
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: operator UNIDIRECTIONAL_SEQUENCE_LSTM#1: cell state scale 0\.000030 .* is not a power of two"):
        convert(tmp_path, tw.integer_lstm(cell_scale=3e-5))


def test_integer_lstm_intermediate_out_of_range(tmp_path):
    data = tw.integer_lstm()
    # Rewrite the intermediates vector [18, 19, 20, 21, 22] so its last index points past the tensors.
    at = data.index(np.array([18, 19, 20, 21, 22], np.int32).tobytes())
    damaged = bytearray(data)
    damaged[at + 16:at + 20] = np.int32(400).tobytes()
    with pytest.raises(irforge.InvalidModelError, match=r"m\.tflite: subgraph 0 operator 1 intermediates: tensor index 400 is out of range"):
        convert(tmp_path, bytes(damaged))


def test_integer_lstm_corruptions_are_clean_errors(tmp_path):
    # 200 random single-byte corruptions of the integer LSTM: each converts or raises a
    # ConversionError (options, quantization and the intermediates are read from the damaged file).
    data = tw.integer_lstm(steps=3)
    rng = np.random.default_rng(1)
    outcomes = {"ok": 0, "error": 0}
    for k in range(200):
        d = bytearray(data)
        d[int(rng.integers(0, len(d)))] = int(rng.integers(0, 256))
        try:
            convert(tmp_path, bytes(d), f"l{k}.tflite")
            outcomes["ok"] += 1
        except irforge.ConversionError as e:
            assert f"l{k}.tflite" in str(e)
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and outcomes["ok"] > 0


def test_every_truncation_and_byte_flip_is_a_clean_error(tmp_path):
    # Every prefix length, and 300 random single-byte corruptions: each either converts or raises
    # a ConversionError (a crash would take the test process down).
    data = tw.small_cnn()
    rng = np.random.default_rng(0)
    cases = [data[:n] for n in range(0, len(data), 7)]
    for _ in range(300):
        d = bytearray(data)
        d[int(rng.integers(0, len(d)))] = int(rng.integers(0, 256))
        cases.append(bytes(d))
    outcomes = {"ok": 0, "error": 0}
    for k, case in enumerate(cases):
        try:
            convert(tmp_path, case, f"c{k}.tflite")
            outcomes["ok"] += 1
        except irforge.ConversionError as e:
            assert f"c{k}.tflite" in str(e)
            outcomes["error"] += 1
    assert outcomes["error"] > len(cases) // 3 and outcomes["ok"] > 0
