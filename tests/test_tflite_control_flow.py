"""Control flow and resource variables in .tflite files made by TensorFlow's own TFLiteConverter
from tf.functions: tf.cond → IF, tf.while_loop → WHILE, a tf.Variable assigned in the function →
CALL_ONCE (its init subgraph) + VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE. irforge → OpenVINO IR
and → ONNX (onnxruntime) must match the TFLite interpreter (float: 1e-5 relative); inputs are
chosen so both IF branches and different WHILE trip counts are taken. Damaged subgraph references
(a WHILE whose body is the subgraph holding it, an index past the end) are clean errors."""

from __future__ import annotations

import numpy as np
import pytest

import irforge

pytestmark = pytest.mark.slow  # imports TensorFlow (~10 s) and runs its converter


def _convert(fn, specs, module=None):
    import tensorflow as tf

    cf = fn.get_concrete_function(*specs)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], module) if module else tf.lite.TFLiteConverter.from_concrete_functions([cf])
    conv.experimental_enable_resource_variables = True  # keep variables as variables (CALL_ONCE init)
    return conv.convert()


@pytest.fixture(scope="module")
def files():
    import tensorflow as tf

    @tf.function
    def branchy(x, y):
        return tf.cond(tf.reduce_sum(x) > 0, lambda: tf.nn.relu(x) * 2.0 + y, lambda: tf.tanh(x - y))

    @tf.function
    def loopy(x):
        def body(i, x):
            return i + 1, x * 1.5 + tf.reduce_mean(x)

        _, y = tf.while_loop(lambda i, x: tf.logical_and(i < 6, tf.reduce_max(tf.abs(x)) < 20.0), body, [tf.constant(0), x])
        return y

    @tf.function
    def nested(x):
        def body(i, x):
            x = tf.cond(i % 2 == 0, lambda: x + 1.0, lambda: x * 0.5)
            return i + 1, x

        return tf.while_loop(lambda i, x: i < 5, body, [tf.constant(0), x])[1]

    @tf.function
    def doubling(x):  # one loop variable: the WHILE has the arity of the function holding it
        return tf.while_loop(lambda x: tf.reduce_max(x) < 10.0, lambda x: x * 2.0, [x])[0]

    class Counter(tf.Module):
        def __init__(self):
            self.v = tf.Variable(tf.constant([0.5, -1.0, 2.0]))

        @tf.function(input_signature=[tf.TensorSpec([2, 3])])
        def __call__(self, x):
            y = x * self.v
            self.v.assign(self.v + 1.0)
            return y + self.v  # reads the value just assigned

    spec = tf.TensorSpec([2, 3])
    counter = Counter()
    return {
        "if": _convert(branchy, [spec, spec]),
        "while": _convert(loopy, [spec]),
        "nested": _convert(nested, [spec]),
        "doubling": _convert(doubling, [spec]),
        "variable": _convert(counter.__call__, [], counter),
    }


def _ops(data):
    from ai_edge_litert import schema_py_generated as s

    m = s.Model.GetRootAsModel(data, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    out = set()
    for g in range(m.SubgraphsLength()):
        sg = m.Subgraphs(g)
        for i in range(sg.OperatorsLength()):
            code = m.OperatorCodes(sg.Operators(i).OpcodeIndex())
            out.add(names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return out


def _check(tmp_path, data, inputs):
    import onnxruntime as ort
    import openvino as ov
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    model = irforge.convert_model(str(path))
    irforge.save_model(model, tmp_path / "m.xml", compress_to_fp16=False)
    irforge.save_model(model, tmp_path / "m.onnx")
    compiled = ov.Core().compile_model(str(tmp_path / "m.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for feeds in inputs:
        it = Interpreter(model_content=data)  # fresh: a variable's first invocation is what irforge models
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), feeds):
            it.set_tensor(d["index"], x)
        it.invoke()
        want = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        got_ov = compiled(list(feeds))
        got_ort = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), feeds)})
        for k, w in enumerate(want):
            tol = 1e-5 * max(1.0, float(np.abs(w).max()))
            np.testing.assert_allclose(got_ov[compiled.outputs[k]], w, rtol=0, atol=tol)
            np.testing.assert_allclose(got_ort[k], w, rtol=0, atol=tol)
    return (tmp_path / "m.xml").read_text()


def test_if_takes_both_branches(files, tmp_path):
    assert "IF" in _ops(files["if"])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    y = rng.standard_normal((2, 3)).astype(np.float32)
    xml = _check(tmp_path, files["if"], [(np.abs(x), y), (-np.abs(x), y)])
    assert 'type="If"' in xml


def test_while_runs_a_data_dependent_number_of_iterations(files, tmp_path):
    assert "WHILE" in _ops(files["while"])
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    xml = _check(tmp_path, files["while"], [(x * 0.1,), (x * 5.0,), (np.full((2, 3), 30, np.float32),)])  # 6 / fewer / 0 iterations
    assert 'type="Loop"' in xml or 'type="TensorIterator"' in xml


def test_if_inside_while(files, tmp_path):
    ops = _ops(files["nested"])
    assert {"IF", "WHILE"} <= ops, ops
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    _check(tmp_path, files["nested"], [(x,)])


def test_variable_initialized_by_call_once_and_assigned(files, tmp_path):
    assert {"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"} <= _ops(files["variable"])
    x = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    _check(tmp_path, files["variable"], [(x,)])


def _patched(data, patch):
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    patch(m, s)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _while_options(m, s):
    for op in m.subgraphs[0].operators:
        if isinstance(op.builtinOptions, s.WhileOptionsT):
            return op.builtinOptions
    raise AssertionError("no WHILE in subgraph 0")


def test_while_whose_body_contains_itself_is_a_resource_limit(files, tmp_path):
    def patch(m, s):
        _while_options(m, s).bodySubgraphIndex = 0  # the main subgraph: infinite inlining

    path = tmp_path / "self.tflite"
    path.write_bytes(_patched(files["doubling"], patch))
    with pytest.raises(irforge.ResourceLimitError, match=r"self\.tflite: .*WHILE#\d+.*nested more than 16 deep"):
        irforge.convert_model(str(path))


def test_while_cond_index_out_of_range_is_invalid(files, tmp_path):
    def patch(m, s):
        _while_options(m, s).condSubgraphIndex = 99

    path = tmp_path / "bad.tflite"
    path.write_bytes(_patched(files["while"], patch))
    with pytest.raises(irforge.InvalidModelError, match=r"bad\.tflite: .*WHILE#\d+: subgraph index 99 is out of range"):
        irforge.convert_model(str(path))
