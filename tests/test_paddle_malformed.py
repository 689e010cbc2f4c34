"""Malformed Paddle models: clear errors naming the file and the variable/op, never a crash. The
models are hand-encoded (tests/fuzz/make_corpus_fuzz_paddle_reader.py), so Paddle is not needed."""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import pytest

import irforge

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
import make_corpus_fuzz_paddle_reader as seeds  # noqa: E402


def _params():
    # sorted names: s [2], w [2,2,1,1]
    return seeds.tensor([2], [1.0, 2.0]) + seeds.tensor([2, 2, 1, 1], [1.0, 0.5, -1.0, 2.0])


def _write(tmp_path, program=None, params=None, ext=".pdmodel"):
    model = tmp_path / f"model{ext}"
    model.write_bytes(seeds.program() if program is None else program)
    (tmp_path / "model.pdiparams").write_bytes(_params() if params is None else params)
    return str(model)


def test_hand_encoded_program_converts_and_runs(tmp_path):
    from irforge.testing import run_openvino

    model = irforge.convert_model(_write(tmp_path))
    x = np.random.RandomState(0).randn(1, 2, 4, 4).astype(np.float32)
    (y,) = run_openvino(model, {"x": x})
    w = np.array([[1.0, 0.5], [-1.0, 2.0]], np.float32)
    c = np.einsum("oi,nihw->nohw", w, x)
    s = np.array([1.0, 2.0], np.float32)[None, :, None, None]
    expected = ((c - s) / np.sqrt(s + 1e-5) * s + s).mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_truncated_pdiparams(tmp_path):
    path = _write(tmp_path, params=_params()[:-3])
    with pytest.raises(irforge.InvalidModelError, match=r"model\.pdiparams: variable 'w' .*truncated"):
        irforge.convert_model(path)


def test_tensor_size_disagrees_with_shape(tmp_path):
    # 'w' declares [2,2,1,2] (8 floats) but holds 4: its data runs past the end of the file.
    bad = seeds.tensor([2], [1.0, 2.0]) + _retyped_tensor([2, 2, 1, 2], 4)
    with pytest.raises(irforge.InvalidModelError, match=r"variable 'w' .*shape needs 32 bytes of data"):
        irforge.convert_model(_write(tmp_path, params=bad))
    # Too many bytes: the leftover is named.
    extra = _params() + b"\0" * 8
    with pytest.raises(irforge.InvalidModelError, match=r"8 bytes left after the 2 persistable variables"):
        irforge.convert_model(_write(tmp_path, params=extra))


def _retyped_tensor(dims, n_values):
    desc = seeds.vint(1, 5) + b"".join(seeds.vint(2, d) for d in dims)
    return struct.pack("<IQI", 0, 0, 0) + struct.pack("<i", len(desc)) + desc + b"\0" * (4 * n_values)


def test_bad_protobuf(tmp_path):
    data = seeds.program()
    with pytest.raises(irforge.InvalidModelError, match=r"model\.pdmodel: not a valid Paddle ProgramDesc"):
        irforge.convert_model(_write(tmp_path, program=data[: len(data) // 2]))
    with pytest.raises(irforge.InvalidModelError, match=r"model\.pdmodel: not a valid Paddle ProgramDesc"):
        irforge.convert_model(_write(tmp_path, program=b"\x0a\xff\xff\xff\x0f"))


def test_names_that_are_not_utf8(tmp_path):
    data = seeds.program().replace(b"conv2d", b"conv\xff\xfe")
    with pytest.raises(irforge.InvalidModelError, match=r"model\.pdmodel: not a valid Paddle ProgramDesc: block 0 op 1.type is not valid UTF-8"):
        irforge.convert_model(_write(tmp_path, program=data))
    data = seeds.program().replace(b"EXPLICIT", b"EXPL\xc0\x80IT")
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 1 \(conv2d\): attribute 'padding_algorithm' is not valid UTF-8"):
        irforge.convert_model(_write(tmp_path, program=data))


def test_unknown_ops_are_listed_together(tmp_path):
    data = seeds.program().replace(b"pool2d", b"frob2d").replace(b"batch_norm", b"batch_frob")
    with pytest.raises(irforge.UnsupportedError, match=r"model\.pdmodel: unsupported Paddle ops: batch_frob, frob2d"):
        irforge.convert_model(_write(tmp_path, program=data))


def test_bad_pir_json(tmp_path):
    doc = json.loads(seeds.pir_json())
    (tmp_path / "w.pdiparams").write_bytes(seeds.tensor([4, 4], [0.0] * 16))
    good = tmp_path / "w.json"
    good.write_text(json.dumps(doc))
    from irforge.testing import run_openvino

    x = np.random.RandomState(1).randn(3, 4).astype(np.float32)
    model = irforge.convert_model(str(good))  # the seed itself converts: mean(x) > 0 ? x @ 0 : leaky_relu(x)
    (y,) = run_openvino(model, {"x": x})
    np.testing.assert_allclose(y, np.zeros_like(x) if x.mean() > 0 else np.where(x > 0, x, 0.5 * x), rtol=1e-5)
    doc["program"]["regions"][0]["blocks"][0]["ops"][2]["I"] = [{"%": "two"}]
    good.write_text(json.dumps(doc))
    with pytest.raises(irforge.InvalidModelError, match=r"w\.json: block 0 op 2 \(pd_op\.mean\): a value id is not an integer"):
        irforge.convert_model(str(good))
    good.write_text('{"base_code": {"magic": "pir"}, "program": ')
    with pytest.raises(irforge.InvalidModelError, match=r"w\.json: JSON syntax error"):
        irforge.convert_model(str(good))


def test_parameter_missing_from_the_file(tmp_path):
    with pytest.raises(irforge.InvalidModelError, match=r"variable 'w' .*truncated"):
        irforge.convert_model(_write(tmp_path, params=seeds.tensor([2], [1.0, 2.0])))


def _loop_reference(x, w):
    y, n = x, 0
    while np.mean(y * y) < 100.0:
        y, n = y @ w, n + 1
    return y, n


def _while_weights(tmp_path, stem):
    w = (1.5 * np.eye(4) + 0.1 * np.arange(16).reshape(4, 4) / 16).astype(np.float32)
    (tmp_path / f"{stem}.pdiparams").write_bytes(seeds.tensor([4, 4], list(w.ravel())))
    return w


@pytest.mark.parametrize("form", ["legacy", "pir"])
def test_hand_encoded_while_runs_paddles_iterations(tmp_path, form):
    """The while seeds convert to a Loop that stops when Paddle's would (two iteration counts)."""
    from irforge.testing import run_onnxruntime, run_openvino

    w = _while_weights(tmp_path, "loop")
    path = tmp_path / ("loop.pdmodel" if form == "legacy" else "loop.json")
    path.write_bytes(seeds.while_program() if form == "legacy" else seeds.pir_while_json())
    model = irforge.convert_model(str(path))
    irforge.save_model(model, str(tmp_path / "loop.onnx"))
    counts = set()
    for scale in (1.0, 6.0):
        x = (np.random.RandomState(2).randn(2, 4) * scale).astype(np.float32)
        y, n = _loop_reference(x, w)
        counts.add(n)
        for got in (run_openvino(model, {"x": x}), run_onnxruntime(str(tmp_path / "loop.onnx"), {"x": x})):
            np.testing.assert_allclose(got[0], y, rtol=1e-5)
            assert int(got[1].item()) == n
    assert len(counts) == 2


def test_while_sub_block_that_is_not_a_child(tmp_path):
    _while_weights(tmp_path, "model")
    for bad in (0, 5):
        path = _write(tmp_path, program=seeds.while_program(sub_block=bad), params=seeds.tensor([4, 4], [0.0] * 16))
        with pytest.raises(irforge.InvalidModelError, match=rf"model\.pdmodel: block 0 op 6 \(while\): sub_block {bad} is not a child block of block 0"):
            irforge.convert_model(path)


def test_while_that_never_sets_its_condition(tmp_path):
    path = _write(tmp_path, program=seeds.while_program(sets_condition=False), params=seeds.tensor([4, 4], [0.0] * 16))
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 6 \(while\): its block 1 never sets the condition 'c'"):
        irforge.convert_model(path)


def test_pir_while_whose_values_do_not_match(tmp_path):
    _while_weights(tmp_path, "loop")
    doc = json.loads(seeds.pir_while_json())
    loop = doc["program"]["regions"][0]["blocks"][0]["ops"][7]
    assert loop["#"] == "1.while"
    loop["regions"][0]["blocks"][0]["args"].pop()
    (tmp_path / "loop.json").write_text(json.dumps(doc))
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 7 \(pd_op\.while\): 2 initial values, 1 block arguments and 2 results"):
        irforge.convert_model(str(tmp_path / "loop.json"))
    loop["regions"][0]["blocks"][0]["args"].append({"%": -2})  # an argument's id belongs under "#"
    (tmp_path / "loop.json").write_text(json.dumps(doc))
    with pytest.raises(irforge.InvalidModelError, match=r"loop\.json: block 0 op 7 \(pd_op\.while\) region 0 args: has no '#'"):
        irforge.convert_model(str(tmp_path / "loop.json"))


def test_hand_encoded_conditional_blocks_take_each_branch(tmp_path):
    from irforge.testing import run_onnxruntime, run_openvino

    w = _while_weights(tmp_path, "cond")
    (tmp_path / "cond.pdmodel").write_bytes(seeds.cond_program())
    model = irforge.convert_model(str(tmp_path / "cond.pdmodel"))
    irforge.save_model(model, str(tmp_path / "cond.onnx"))
    x = np.abs(np.random.RandomState(3).randn(2, 4)).astype(np.float32) + 0.1
    for xx, expected in ((x, x @ w), (-x, -x * 2 - 1)):
        for (y,) in (run_openvino(model, {"x": xx}), run_onnxruntime(str(tmp_path / "cond.onnx"), {"x": xx})):
            np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_conditional_block_errors(tmp_path):
    _while_weights(tmp_path, "model")
    params = seeds.tensor([4, 4], [0.0] * 16)
    with pytest.raises(irforge.UnsupportedError, match=r"model\.pdmodel: block 0 op 4 \(conditional_block\): only a scalar Cond is supported"):
        irforge.convert_model(_write(tmp_path, program=seeds.cond_program(scalar=False), params=params))
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 4 \(conditional_block\): its block 1 never sets t"):
        irforge.convert_model(_write(tmp_path, program=seeds.cond_program(then_sets=False), params=params))


def _nms_model(tmp_path, **kw):
    (tmp_path / "nms.pdmodel").write_bytes(seeds.nms_program(**kw))
    (tmp_path / "nms.pdiparams").write_bytes(b"")
    return str(tmp_path / "nms.pdmodel")


def test_hand_encoded_multiclass_nms3(tmp_path):
    """Worked by hand: class 0 keeps boxes 0 and 2 (box 1 overlaps box 0 by IoU 0.9), class 1
    keeps 1 and 2; keep_top_k 3 drops the lowest (class 1, box 2); rows by class, then score."""
    from irforge.testing import run_openvino

    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 0.9], [2, 2, 3, 3]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.7], [0.1, 0.6, 0.5]]], np.float32)
    out, index, num = run_openvino(irforge.convert_model(_nms_model(tmp_path)), {"boxes": boxes, "scores": scores})
    np.testing.assert_allclose(out, [[0, 0.9, 0, 0, 1, 1], [0, 0.7, 2, 2, 3, 3], [1, 0.6, 0, 0, 1, 0.9]], rtol=1e-6)
    assert index.ravel().tolist() == [0, 2, 1] and num.tolist() == [3]


def test_multiclass_nms3_errors(tmp_path):
    with pytest.raises(irforge.UnsupportedError, match=r"nms\.pdmodel: block 0 op 2 \(multiclass_nms3\): boxes given per RoI \(RoisNum\)"):
        irforge.convert_model(_nms_model(tmp_path, rois_num=True))
    with pytest.raises(irforge.InvalidModelError, match=r"nms\.pdmodel: block 0 op 2 \(multiclass_nms3\): BBoxes has rank 2, not 3"):
        irforge.convert_model(_nms_model(tmp_path, box_dims=(3, 4)))
    model = irforge.convert_model(_nms_model(tmp_path, nms_threshold=1.5))
    with pytest.raises(irforge.InvalidModelError, match=r"MulticlassNms.*nms_threshold must be in \[0, 1\]"):
        irforge.save_model(model, str(tmp_path / "nms.xml"))


def _pool_program(op_type, dims, adaptive=True):
    s = seeds
    ops0 = [
        s.op("feed", [("X", ["feed"])], [("Out", ["x"])], [s.attr_int("col", 0)]),
        s.op(op_type, [("X", ["x"])], [("Out", ["p"]), ("Mask", ["mask"])],
             [s.attr_str("pooling_type", "avg"), s.attr_ints("ksize", [3, 5]), s.attr_bool("adaptive", adaptive)]),
        s.op("fetch", [("X", ["p"])], [("Out", ["fetch"])], [s.attr_int("col", 0)]),
    ]
    return s.field(1, s.block(0, -1, [s.var("x", dims), s.var("p", [-1, 2, 3, 5])], ops0)) + s.field(4, s.vint(1, 0))


def test_adaptive_pooling_errors(tmp_path):
    from irforge.testing import run_openvino

    x = np.random.RandomState(4).randn(1, 2, 8, 13).astype(np.float32)
    model = irforge.convert_model(_write(tmp_path, program=_pool_program("pool2d", [-1, 2, 8, 13]), params=b""))
    (y,) = run_openvino(model, {"x": x})
    # Paddle's cells: rows [0,3) [2,6) [5,8), columns [0,3) [2,6) [5,8) [7,11) [10,13)
    rows, cols = [(0, 3), (2, 6), (5, 8)], [(0, 3), (2, 6), (5, 8), (7, 11), (10, 13)]
    expected = np.array([[x[0, :, a:b, p:q].mean(axis=(1, 2)) for p, q in cols] for a, b in rows]).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 1 \(pool2d\): adaptive pooling to \[3, 5\] needs static input heights"):
        irforge.convert_model(_write(tmp_path, program=_pool_program("pool2d", [-1, 2, -1, 13]), params=b""))
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 1 \(max_pool2d_with_index\): only adaptive max_pool2d_with_index"):
        irforge.convert_model(_write(tmp_path, program=_pool_program("max_pool2d_with_index", [-1, 2, 8, 13], adaptive=False), params=b""))


def _rnn_files(tmp_path, **kw):
    rs = np.random.RandomState(5)
    w = {"w_ih": rs.randn(8, 3), "w_hh": rs.randn(8, 2), "b_ih": rs.randn(8), "b_hh": rs.randn(8)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    # parameters in sorted-name order: b_hh, b_ih, w_hh, w_ih
    (tmp_path / "rnn.pdiparams").write_bytes(b"".join(seeds.tensor(list(w[k].shape), list(w[k].ravel())) for k in sorted(w)))
    (tmp_path / "rnn.pdmodel").write_bytes(seeds.rnn_program(**kw))
    return str(tmp_path / "rnn.pdmodel"), w


def test_hand_encoded_lstm_matches_paddles_cell(tmp_path):
    """Paddle's LSTM cell, gates (i, f, g, o) in its weights: c = f c + i tanh(g), h = o tanh(c)."""
    from irforge.testing import run_onnxruntime, run_openvino

    path, w = _rnn_files(tmp_path)
    x = np.random.RandomState(6).randn(4, 1, 3).astype(np.float32)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c, ys = np.zeros((1, 2)), np.zeros((1, 2)), []
    for t in range(4):
        i, f, g, o = np.split(x[t] @ w["w_ih"].T + w["b_ih"] + h @ w["w_hh"].T + w["b_hh"], 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        ys.append(h)
    model = irforge.convert_model(path)
    irforge.save_model(model, str(tmp_path / "rnn.onnx"))
    for y, yh, yc in (run_openvino(model, {"x": x}), run_onnxruntime(str(tmp_path / "rnn.onnx"), {"x": x})):
        np.testing.assert_allclose(y, np.stack(ys), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(yh, h[None], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(yc, c[None], rtol=1e-5, atol=1e-6)


def test_rnn_errors(tmp_path):
    path, _ = _rnn_files(tmp_path, mode="GRU")
    with pytest.raises(irforge.UnsupportedError, match=r"rnn\.pdmodel: block 0 op 3 \(rnn\): rnn mode 'GRU' is not supported"):
        irforge.convert_model(path)
    path, _ = _rnn_files(tmp_path, weights=("w_ih", "w_hh", "b_ih"))
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 3 \(rnn\): 3 weights and 2 initial states do not fit 1 layer"):
        irforge.convert_model(path)


def test_elementwise_axis_outside_the_rank(tmp_path):
    """Found by mutating the while seed: a huge elementwise axis made the broadcast's Unsqueeze
    list endless (a hang); it is an invalid model."""
    data = seeds.while_program().replace(seeds.attr_int("axis", -1), seeds.attr_int("axis", -(1 << 31)), 1)
    assert data != seeds.while_program()
    path = _write(tmp_path, program=data, params=seeds.tensor([4, 4], [0.0] * 16))
    with pytest.raises(irforge.InvalidModelError, match=r"block 0 op 3 \(elementwise_mul\): axis -2147483648 is outside the rank 2 of X"):
        irforge.convert_model(path)
