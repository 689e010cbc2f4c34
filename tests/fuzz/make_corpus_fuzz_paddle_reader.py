"""Seeds for fuzz_paddle_reader: a small legacy ProgramDesc (feed, conv2d, batch_norm, pool2d,
matmul_v2, fetch), a PIR JSON program with an `if` region, a `while` loop in both forms (legacy
sub_block, PIR region with block arguments), a legacy if/else (conditional_block, select_input), multiclass_nms3, an LSTM (rnn), and a two-tensor parameter file,
hand-encoded (no Paddle needed). Deterministic.

    python3 tests/fuzz/make_corpus_fuzz_paddle_reader.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from protobuf_wire import field, varint  # noqa: E402


def vint(number, value):
    return varint(number << 3) + varint(value & 0xFFFFFFFFFFFFFFFF)


def arg(parameter, *names):
    return field(1, parameter.encode()) + b"".join(field(2, n.encode()) for n in names)


def attr_ints(name, values):
    return field(1, name.encode()) + vint(2, 3) + b"".join(vint(6, v) for v in values)


def attr_int(name, value):
    return field(1, name.encode()) + vint(2, 0) + vint(3, value)


def attr_str(name, value):
    return field(1, name.encode()) + vint(2, 2) + field(5, value.encode())


def attr_float(name, value):
    return field(1, name.encode()) + vint(2, 1) + varint(4 << 3 | 5) + struct.pack("<f", value)


def op(type_, inputs, outputs, attrs=()):
    return (b"".join(field(1, arg(p, *a)) for p, a in inputs) + b"".join(field(2, arg(p, *a)) for p, a in outputs)
            + field(3, type_.encode()) + b"".join(field(4, a) for a in attrs))


def var(name, dims, persistable=False, dtype=5):
    tensor = vint(1, dtype) + b"".join(vint(2, d) for d in dims)
    vtype = vint(1, 7) + field(3, field(1, tensor))
    return field(1, name.encode()) + field(2, vtype) + vint(3, int(persistable))


def program():
    ops = [
        op("feed", [("X", ["feed"])], [("Out", ["x"])], [attr_int("col", 0)]),
        op("conv2d", [("Input", ["x"]), ("Filter", ["w"])], [("Output", ["c"])],
           [attr_ints("strides", [1, 1]), attr_ints("paddings", [0, 0]), attr_ints("dilations", [1, 1]), attr_int("groups", 1),
            attr_str("padding_algorithm", "EXPLICIT")]),
        op("batch_norm", [("X", ["c"]), ("Scale", ["s"]), ("Bias", ["s"]), ("Mean", ["s"]), ("Variance", ["s"])], [("Y", ["b"])],
           [attr_float("epsilon", 1e-5)]),
        op("pool2d", [("X", ["b"])], [("Out", ["p"])], [attr_str("pooling_type", "avg"), attr_ints("ksize", [4, 4])]),
        op("fetch", [("X", ["p"])], [("Out", ["fetch"])], [attr_int("col", 0)]),
    ]
    vars_ = [var("x", [-1, 2, 4, 4]), var("w", [2, 2, 1, 1], True), var("s", [2], True), var("c", [-1, 2, 4, 4]),
             var("b", [-1, 2, 4, 4]), var("p", [-1, 2, 1, 1])]
    block = vint(1, 0) + vint(2, -1) + b"".join(field(3, v) for v in vars_) + b"".join(field(4, o) for o in ops)
    return field(1, block) + field(4, vint(1, 0))


def attr_bool(name, value):
    return field(1, name.encode()) + vint(2, 6) + vint(10, int(value))


def attr_block(name, index):
    return field(1, name.encode()) + vint(2, 8) + vint(12, index)


def block(idx, parent, vars_, ops):
    return vint(1, idx) + vint(2, parent) + b"".join(field(3, v) for v in vars_) + b"".join(field(4, o) for o in ops)


def while_program(sub_block=1, sets_condition=True):
    """y = x; n = 0; while mean(y * y) < 100: y = y @ w; n += 1 -- the legacy form: a while op
    whose sub_block (block 1) rewrites its Out variables (y, n and the condition) in place."""
    lim = attr_float("value", 100.0)
    ops0 = [
        op("feed", [("X", ["feed"])], [("Out", ["x"])], [attr_int("col", 0)]),
        op("fill_constant", [], [("Out", ["n"])], [attr_int("dtype", 3), attr_ints("shape", [1]), attr_float("value", 0.0)]),
        op("fill_constant", [], [("Out", ["lim"])], [attr_int("dtype", 5), attr_ints("shape", []), lim]),
        op("elementwise_mul", [("X", ["x"]), ("Y", ["x"])], [("Out", ["sq"])], [attr_int("axis", -1)]),
        op("reduce_mean", [("X", ["sq"])], [("Out", ["m"])], [attr_bool("reduce_all", True)]),
        op("less_than", [("X", ["m"]), ("Y", ["lim"])], [("Out", ["c"])]),
        op("while", [("Condition", ["c"]), ("X", ["x", "n", "w"])], [("Out", ["x", "c", "n"]), ("StepScopes", ["scopes"])],
           [attr_block("sub_block", sub_block), attr_bool("is_test", True)]),
        op("fetch", [("X", ["x"])], [("Out", ["fetch"])], [attr_int("col", 0)]),
        op("fetch", [("X", ["n"])], [("Out", ["fetch"])], [attr_int("col", 1)]),
    ]
    ops1 = [
        op("matmul_v2", [("X", ["x"]), ("Y", ["w"])], [("Out", ["y1"])]),
        op("scale", [("X", ["n"])], [("Out", ["n1"])], [attr_float("scale", 1.0), attr_float("bias", 1.0)]),
        op("elementwise_mul", [("X", ["y1"]), ("Y", ["y1"])], [("Out", ["sq1"])], [attr_int("axis", -1)]),
        op("reduce_mean", [("X", ["sq1"])], [("Out", ["m1"])], [attr_bool("reduce_all", True)]),
        op("less_than", [("X", ["m1"]), ("Y", ["lim"])], [("Out", ["c1"])]),
        op("assign", [("X", ["y1"])], [("Out", ["x"])]),
        op("assign", [("X", ["n1"])], [("Out", ["n"])]),
    ] + ([op("assign", [("X", ["c1"])], [("Out", ["c"])])] if sets_condition else [])
    vars0 = [var("x", [-1, 4]), var("w", [4, 4], True), var("n", [1], dtype=3), var("lim", []), var("sq", [-1, 4]), var("m", []),
             var("c", [], dtype=0)]
    vars1 = [var("y1", [-1, 4]), var("n1", [1], dtype=3), var("sq1", [-1, 4]), var("m1", []), var("c1", [], dtype=0)]
    return field(1, block(0, -1, vars0, ops0)) + field(1, block(1, 0, vars1, ops1)) + field(4, vint(1, 0))


def cond_program(scalar=True, then_sets=True):
    """y = mean(x) > 0 ? x @ w : x * 2 - 1 -- the legacy if/else: a conditional_block per branch
    (the second on logical_not of the predicate), then select_input on the predicate as int."""
    def cblock(cond, sub, out, inputs):
        return op("conditional_block", [("Cond", [cond]), ("Input", inputs)], [("Out", [out]), ("Scope", [out + "_scope"])],
                  [attr_bool("is_scalar_condition", scalar), attr_block("sub_block", sub)])
    ops0 = [
        op("feed", [("X", ["feed"])], [("Out", ["x"])], [attr_int("col", 0)]),
        op("reduce_mean", [("X", ["x"])], [("Out", ["m"])], [attr_bool("reduce_all", True)]),
        op("fill_constant", [], [("Out", ["zero"])], [attr_int("dtype", 5), attr_ints("shape", []), attr_float("value", 0.0)]),
        op("greater_than", [("X", ["m"]), ("Y", ["zero"])], [("Out", ["c"])]),
        cblock("c", 1, "t", ["x", "w"]),
        op("logical_not", [("X", ["c"])], [("Out", ["nc"])]),
        cblock("nc", 2, "f", ["x"]),
        op("cast", [("X", ["c"])], [("Out", ["ci"])], [attr_int("in_dtype", 0), attr_int("out_dtype", 2)]),
        op("select_input", [("Mask", ["ci"]), ("X", ["f", "t"])], [("Out", ["y"])]),
        op("fetch", [("X", ["y"])], [("Out", ["fetch"])], [attr_int("col", 0)]),
    ]
    ops1 = [op("matmul_v2", [("X", ["x"]), ("Y", ["w"])], [("Out", ["t1"])])] + (
        [op("assign", [("X", ["t1"])], [("Out", ["t"])])] if then_sets else [])
    ops2 = [op("scale", [("X", ["x"])], [("Out", ["f1"])], [attr_float("scale", 2.0), attr_float("bias", -1.0)]),
            op("assign", [("X", ["f1"])], [("Out", ["f"])])]
    vars0 = [var("x", [-1, 4]), var("w", [4, 4], True), var("m", []), var("zero", []), var("c", [], dtype=0), var("nc", [], dtype=0),
             var("t", [-1, 4]), var("f", [-1, 4]), var("ci", [], dtype=2), var("y", [-1, 4])]
    return (field(1, block(0, -1, vars0, ops0)) + field(1, block(1, 0, [var("t1", [-1, 4])], ops1))
            + field(1, block(2, 0, [var("f1", [-1, 4])], ops2)) + field(4, vint(1, 0)))


def nms_program(rois_num=False, nms_threshold=0.5, box_dims=(-1, 3, 4)):
    """multiclass_nms3 on fed boxes [N, 3, 4] and scores [N, 2, 3] (keep_top_k 3, no background),
    its three outputs fetched."""
    ins = [("BBoxes", ["boxes"]), ("Scores", ["scores"])] + ([("RoisNum", ["boxes"])] if rois_num else [])
    ops0 = [
        op("feed", [("X", ["feed"])], [("Out", ["boxes"])], [attr_int("col", 0)]),
        op("feed", [("X", ["feed"])], [("Out", ["scores"])], [attr_int("col", 1)]),
        op("multiclass_nms3", ins, [("Out", ["out"]), ("Index", ["index"]), ("NmsRoisNum", ["num"])],
           [attr_float("score_threshold", 0.3), attr_int("nms_top_k", -1), attr_int("keep_top_k", 3), attr_float("nms_threshold", nms_threshold),
            attr_bool("normalized", True), attr_float("nms_eta", 1.0), attr_int("background_label", -1)]),
        op("fetch", [("X", ["out"])], [("Out", ["fetch"])], [attr_int("col", 0)]),
        op("fetch", [("X", ["index"])], [("Out", ["fetch"])], [attr_int("col", 1)]),
        op("fetch", [("X", ["num"])], [("Out", ["fetch"])], [attr_int("col", 2)]),
    ]
    vars0 = [var("boxes", list(box_dims)), var("scores", [-1, 2, 3]), var("out", [-1, 6]), var("index", [-1, 1], dtype=2),
             var("num", [-1], dtype=2)]
    return field(1, block(0, -1, vars0, ops0)) + field(4, vint(1, 0))


def rnn_program(mode="LSTM", weights=("w_ih", "w_hh", "b_ih", "b_hh")):
    """A one-layer forward LSTM (the rnn op) over x [T, 1, 3], hidden size 2, zero initial
    states; Out and the final h and c fetched."""
    ops0 = [
        op("feed", [("X", ["feed"])], [("Out", ["x"])], [attr_int("col", 0)]),
        op("fill_constant", [], [("Out", ["h0"])], [attr_int("dtype", 5), attr_ints("shape", [1, 1, 2]), attr_float("value", 0.0)]),
        op("fill_constant", [], [("Out", ["c0"])], [attr_int("dtype", 5), attr_ints("shape", [1, 1, 2]), attr_float("value", 0.0)]),
        op("rnn", [("Input", ["x"]), ("PreState", ["h0", "c0"]), ("WeightList", list(weights)), ("SequenceLength", [])],
           [("Out", ["y"]), ("State", ["h", "c"]), ("DropoutState", ["ds"]), ("Reserve", ["rs"])],
           [attr_str("mode", mode), attr_int("hidden_size", 2), attr_int("input_size", 3), attr_int("num_layers", 1),
            attr_bool("is_bidirec", False), attr_bool("is_test", True), attr_float("dropout_prob", 0.0)]),
        op("fetch", [("X", ["y"])], [("Out", ["fetch"])], [attr_int("col", 0)]),
        op("fetch", [("X", ["h"])], [("Out", ["fetch"])], [attr_int("col", 1)]),
        op("fetch", [("X", ["c"])], [("Out", ["fetch"])], [attr_int("col", 2)]),
    ]
    vars0 = [var("x", [-1, 1, 3]), var("w_ih", [8, 3], True), var("w_hh", [8, 2], True), var("b_ih", [8], True), var("b_hh", [8], True),
             var("h0", [1, 1, 2]), var("c0", [1, 1, 2]), var("y", [-1, 1, 2]), var("h", [1, 1, 2]), var("c", [1, 1, 2])]
    return field(1, block(0, -1, vars0, ops0)) + field(4, vint(1, 0))


def tensor(dims, values):
    desc = vint(1, 5) + b"".join(vint(2, d) for d in dims)
    return (struct.pack("<IQI", 0, 0, 0) + struct.pack("<i", len(desc)) + desc + struct.pack(f"<{len(values)}f", *values))


def pir_json():
    def t(i, dims):
        return {"%": i, "TT": {"#": "0.t_dtensor", "D": [{"#": "0.t_f32"}, dims, "NCHW", [], 0]}}
    a_arr = lambda *v: {"#": "0.a_array", "D": [{"#": "0.a_i32", "D": x} for x in v]}  # noqa: E731
    ops = [
        {"#": "p", "A": [0, 1, 1, "w"], "DA": [], "O": t(1, [4, 4]), "OA": [1, 0, 1], "QA": []},
        {"#": "1.data", "A": [{"AT": {"#": "0.a_str", "D": "x"}, "N": "name"}, {"AT": {"#": "1.a_intarray", "D": [-1, 4]}, "N": "shape"},
                              {"AT": {"#": "1.a_dtype", "D": "float32"}, "N": "dtype"}], "I": [], "O": [t(2, [-1, 4])]},
        {"#": "1.mean", "A": [{"AT": {"#": "0.a_bool", "D": False}, "N": "keepdim"}], "I": [{"%": 2}], "O": [t(3, [])]},
        {"#": "1.full", "A": [{"AT": {"#": "1.a_intarray", "D": [1]}, "N": "shape"}, {"AT": {"#": "0.a_f64", "D": 0.0}, "N": "value"}],
         "I": [], "O": [t(4, [1])]},
        {"#": "1.greater_than", "A": [], "I": [{"%": 3}, {"%": 4}], "O": [t(5, [])]},
        {"#": "1.if", "A": [], "I": [{"%": 5}], "O": [t(6, [-1, 4])], "regions": [
            {"#": "region_1", "blocks": [{"#": "block_1", "args": [], "ops": [
                {"#": "1.matmul", "A": [{"AT": {"#": "0.a_bool", "D": False}, "N": "transpose_x"}], "I": [{"%": 2}, {"%": 1}], "O": [t(7, [-1, 4])]},
                {"#": "2.yield", "A": [], "I": [{"%": 7}], "O": []}]}]},
            {"#": "region_2", "blocks": [{"#": "block_2", "args": [], "ops": [
                {"#": "1.leaky_relu", "A": [{"AT": {"#": "0.a_f32", "D": 0.5}, "N": "negative_slope"}], "I": [{"%": 2}], "O": [t(8, [-1, 4])]},
                {"#": "1.transpose", "A": [{"AT": a_arr(0, 1), "N": "perm"}], "I": [{"%": 8}], "O": [t(10, [-1, 4])]},
                {"#": "2.yield", "A": [], "I": [{"%": 10}], "O": []}]}]}]},
        {"#": "1.fetch", "A": [{"AT": {"#": "0.a_str", "D": "out"}, "N": "name"}, {"AT": {"#": "0.a_i32", "D": 0}, "N": "col"}],
         "I": [{"%": 6}], "O": [t(9, [-1, 4])]},
    ]
    doc = {"base_code": {"magic": "pir", "trainable": True, "version": 4},
           "program": {"regions": [{"#": "region_0", "blocks": [{"#": "block_0", "args": [], "ops": ops}]}]}}
    return json.dumps(doc, sort_keys=True).encode()


def pir_while_json():
    """The same loop in PIR: pd_op.while(cond, y, n) whose block arguments (ids under "#",
    negative) are the loop variables and whose cf.yield gives (cond, y, n)."""
    def t(i, dims, dt="0.t_f32", key="%"):
        return {key: i, "TT": {"#": "0.t_dtensor", "D": [{"#": dt}, dims, "NCHW", [], 0]}}
    full = lambda i, shape, value, dt: {"#": "1.full", "I": [], "O": [t(i, shape, dt)], "A": [  # noqa: E731
        {"AT": {"#": "1.a_intarray", "D": shape}, "N": "shape"}, {"AT": {"#": "0.a_f64", "D": value}, "N": "value"},
        {"AT": {"#": "1.a_dtype", "D": "float32" if dt == "0.t_f32" else "int64"}, "N": "dtype"}]}
    mean_sq = lambda src, sq, m: [  # noqa: E731
        {"#": "1.multiply", "A": [], "I": [{"%": src}, {"%": src}], "O": [t(sq, [-1, 4])]},
        {"#": "1.mean", "A": [{"AT": {"#": "0.a_bool", "D": False}, "N": "keepdim"}], "I": [{"%": sq}], "O": [t(m, [])]}]
    ops = [
        {"#": "p", "A": [0, 1, 1, "w"], "DA": [], "O": t(1, [4, 4]), "OA": [1, 0, 1], "QA": []},
        {"#": "1.data", "A": [{"AT": {"#": "0.a_str", "D": "x"}, "N": "name"}, {"AT": {"#": "1.a_intarray", "D": [-1, 4]}, "N": "shape"},
                              {"AT": {"#": "1.a_dtype", "D": "float32"}, "N": "dtype"}], "I": [], "O": [t(2, [-1, 4])]},
        full(3, [1], 0.0, "0.t_i64"), full(4, [], 100.0, "0.t_f32"), *mean_sq(2, 5, 6),
        {"#": "1.less_than", "A": [], "I": [{"%": 6}, {"%": 4}], "O": [t(7, [], "0.t_bool")]},
        {"#": "1.while", "A": [], "I": [{"%": 7}, {"%": 2}, {"%": 3}], "O": [t(8, [-1, 4]), t(9, [1], "0.t_i64")], "regions": [
            {"#": "region_1", "blocks": [{"#": "block_1", "args": [t(-1, [-1, 4], key="#"), t(-2, [1], "0.t_i64", "#")], "ops": [
                {"#": "1.matmul", "A": [{"AT": {"#": "0.a_bool", "D": False}, "N": "transpose_x"}], "I": [{"%": -1}, {"%": 1}],
                 "O": [t(10, [-1, 4])]},
                full(11, [1], 1.0, "0.t_i64"),
                {"#": "1.add", "A": [], "I": [{"%": -2}, {"%": 11}], "O": [t(12, [1], "0.t_i64")]},
                *mean_sq(10, 13, 14),
                {"#": "1.less_than", "A": [], "I": [{"%": 14}, {"%": 4}], "O": [t(15, [], "0.t_bool")]},
                {"#": "2.yield", "A": [], "I": [{"%": 15}, {"%": 10}, {"%": 12}], "O": []}]}]}]},
        {"#": "1.fetch", "A": [{"AT": {"#": "0.a_str", "D": "y"}, "N": "name"}, {"AT": {"#": "0.a_i32", "D": 0}, "N": "col"}],
         "I": [{"%": 8}], "O": [t(16, [-1, 4])]},
        {"#": "1.fetch", "A": [{"AT": {"#": "0.a_str", "D": "n"}, "N": "name"}, {"AT": {"#": "0.a_i32", "D": 1}, "N": "col"}],
         "I": [{"%": 9}], "O": [t(17, [1], "0.t_i64")]},
    ]
    doc = {"base_code": {"magic": "pir", "trainable": True, "version": 4},
           "program": {"regions": [{"#": "region_0", "blocks": [{"#": "block_0", "args": [], "ops": ops}]}]}}
    return json.dumps(doc, sort_keys=True).encode()


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "program.seed": b"\x00" + program(),
        "pir.seed": b"\x01" + pir_json(),
        "while_program.seed": b"\x00" + while_program(),
        "pir_while.seed": b"\x01" + pir_while_json(),
        "cond_program.seed": b"\x00" + cond_program(),
        "nms_program.seed": b"\x00" + nms_program(),
        "rnn_program.seed": b"\x00" + rnn_program(),
        "params.seed": b"\x02" + bytes([2]) + tensor([2, 2], [1, 2, 3, 4]) + tensor([3], [5, 6, 7]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
