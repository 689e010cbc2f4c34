"""TensorFlow frontend: Keras / TF models built in code, saved by TensorFlow (SavedModel, frozen
.pb, .keras, TF1 .meta + checkpoint), read by irforge without TensorFlow's help, written as
OpenVINO IR and ONNX and compared with TensorFlow's own outputs (fp32 within 1e-4 of the
output's scale). TensorFlow is imported once (session fixtures): it is slow to load."""

import os

import numpy as np
import pytest

import irforge
from irforge import _core
from irforge.testing import run_onnxruntime, run_openvino

tfm = pytest.importorskip("tensorflow_models", reason="helper module beside the tests")
tf = tfm.tf


def _rel_err(ref, out):
    ref = np.asarray(ref, np.float64)
    out = np.asarray(out, np.float64)
    assert ref.shape == out.shape, f"shape {out.shape} != {ref.shape}"
    assert ref.size > 0
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))


def _check(model, feeds, reference, rtol=1e-4, onnx=True):
    assert reference
    ov = run_openvino(model, feeds)
    assert len(ov) == len(reference)
    for r, o in zip(reference, ov):
        assert _rel_err(r, o) <= rtol, f"OpenVINO IR differs from TensorFlow: {_rel_err(r, o):.2e}"
    if onnx:
        ort = run_onnxruntime(model.to_onnx_bytes(), feeds)
        for r, o in zip(reference, ort):
            assert _rel_err(r, o) <= rtol, f"ONNX output differs from TensorFlow: {_rel_err(r, o):.2e}"


def _keras_reference(model, x):
    out = model(x, training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in outs]


@pytest.fixture(scope="session")
def tf_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tf")


@pytest.fixture(scope="session")
def small_cnn(tf_dir):
    model = tfm.small_cnn()
    sm = tfm.save_saved_model(model, str(tf_dir / "small_cnn"))
    return model, sm


def _image(size, seed=0):
    return np.random.default_rng(seed).normal(size=(1, size, size, 3)).astype(np.float32)


def test_small_cnn_saved_model(small_cnn):
    model, sm = small_cnn
    x = _image(16)
    m = irforge.convert_model(sm)
    assert [i.name for i in m.inputs] == ["image"]
    _check(m, {"image": x}, _keras_reference(model, x))


def test_saved_model_weights_are_views_of_the_shard(small_cnn):
    _, sm = small_cnn
    m = irforge.convert_model(sm, transform="none")
    bundle = _core.TfBundle.open(os.path.join(sm, "variables", "variables"))
    kernels = [k for k in bundle.keys() if "VARIABLE_VALUE" in k and bundle.entry(k)[4] > 64]
    used = [k for k in kernels if _core.constant_data_address(m._core, k) is not None]
    assert len(used) >= 3  # the conv and depthwise kernels and the dense weights at least
    for k in used:
        assert _core.constant_is_mapped(m._core, k), k


def test_small_cnn_frozen_pb_and_keras_file(small_cnn, tf_dir):
    model, _ = small_cnn
    x = _image(16, seed=1)
    pb, input_names, _ = tfm.save_frozen_pb(model, str(tf_dir / "small_cnn.pb"))
    m = irforge.convert_model(pb)
    ref = _keras_reference(model, x)
    _check(m, {m.inputs[0].name: x}, ref)
    text = str(tf_dir / "small_cnn.pbtxt")
    tf.io.write_graph(tfm.save_frozen_pb(model, str(tf_dir / "again.pb"))[2].graph.as_graph_def(), str(tf_dir), "small_cnn.pbtxt", as_text=True)
    _check(irforge.convert_model(text), {m.inputs[0].name: x}, ref, onnx=False)
    path = str(tf_dir / "small_cnn.keras")
    model.save(path)
    _check(irforge.convert_model(path), {"image": x}, ref)
    _check(irforge.convert_model(model), {"image": x}, ref, onnx=False)


@pytest.fixture(scope="session")
def mobilenet_v2(tf_dir):
    model = tfm.application("MobileNetV2", 64)
    x = _image(64, seed=2)
    return model, x, _keras_reference(model, x)


def test_mobilenet_v2_saved_model(tf_dir, mobilenet_v2):
    model, x, ref = mobilenet_v2
    sm = tfm.save_saved_model(model, str(tf_dir / "mobilenet_v2"))
    m = irforge.convert_model(sm)
    _check(m, {m.inputs[0].name: x}, ref)


def test_frozen_pb_weights_are_views_of_the_file(tf_dir, mobilenet_v2):
    """A frozen GraphDef's large Const tensors (tensor_content) are mapped from the .pb, not
    copied."""
    model, x, ref = mobilenet_v2
    pb, _, frozen = tfm.save_frozen_pb(model, str(tf_dir / "mobilenet_v2_views.pb"))
    big = [n.name for n in frozen.graph.as_graph_def().node
           if n.op == "Const" and len(n.attr["value"].tensor.tensor_content) > 4096]
    assert len(big) >= 10
    m = irforge.convert_model(pb, transform="none")
    used = [k for k in big if _core.constant_data_address(m._core, k) is not None]
    assert len(used) >= 10, used
    for k in used:
        assert _core.constant_is_mapped(m._core, k), k


def test_tf_function_and_module_objects(tf_dir):
    """In-memory tf.function (with an input signature) and tf.Module objects convert through
    TensorFlow's own SavedModel export."""

    class Scale(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.random.default_rng(13).normal(size=(3, 2)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)], autograph=False)
        def __call__(self, x):
            return {"y": tf.nn.relu(tf.matmul(x, self.w)) + 0.5}

    mod = Scale()
    x = np.random.default_rng(14).normal(size=(4, 3)).astype(np.float32)
    ref = [mod(x)["y"].numpy()]
    fn = tf.function(lambda x: {"y": tf.tanh(x) * 3.0}, input_signature=[tf.TensorSpec([None, 3], tf.float32)], autograph=False)
    for obj, expected in ((mod, ref), (mod.__call__, ref), (fn, [np.tanh(x) * 3.0])):
        m = irforge.convert_model(obj)
        _check(m, {m.inputs[0].name: x}, expected)


_APPLICATIONS = ["MobileNetV2", "ResNet50", "EfficientNetB0", "DenseNet121"]


@pytest.fixture(scope="module", params=_APPLICATIONS)
def keras_application(request, tf_dir):
    """A Keras application (weights=None, random BatchNorm statistics) at 32x32, built once and
    saved as SavedModel, frozen .pb and .keras; its TensorFlow output on one image."""
    name = request.param
    model = tfm.application(name, 32)
    x = _image(32, seed=3)
    files = tfm.save_three_forms(model, str(tf_dir / ("app_" + name)))
    return name, files, x, _keras_reference(model, x)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["saved_model", "frozen_pb", "keras"])
def test_keras_application_forms(keras_application, form):
    _, files, x, ref = keras_application
    m = irforge.convert_model(files[form])
    assert len(m.inputs) == 1
    _check(m, {m.inputs[0].name: x}, ref)


@pytest.mark.slow
def test_keras_application_transposes_within_ovc(keras_application, tmp_path):
    """Layout transposes are sunk and cancelled: the IR has no more Transpose layers than the
    one openvino.convert_model (ovc) makes from the same SavedModel."""
    import openvino as ov

    name, files, _, _ = keras_application
    xml = str(tmp_path / "model.xml")
    irforge.save_model(irforge.convert_model(files["saved_model"]), xml)

    def transposes(model):
        return sum(1 for op in model.get_ordered_ops() if op.get_type_name() == "Transpose")

    ours, theirs = transposes(ov.Core().read_model(xml)), transposes(ov.convert_model(files["saved_model"]))
    print(f"{name}: Transpose layers irforge {ours}, ovc {theirs}")
    assert ours <= theirs, f"{name}: {ours} Transpose layers in irforge's IR, {theirs} in ovc's"


def test_bert_style_encoder(tf_dir):
    model = tfm.bert_encoder()
    sm = tfm.save_saved_model(model, str(tf_dir / "bert"))
    ids = np.random.default_rng(4).integers(0, 100, (1, 16)).astype(np.int32)
    m = irforge.convert_model(sm)
    _check(m, {"input_ids": ids}, _keras_reference(model, ids))


def _tf1_refs(m, refs):
    return [refs[o.name] for o in m.outputs]


@pytest.fixture(scope="session")
def tf1_batchnorm(tf_dir):
    return tfm.tf1_batchnorm_graph(str(tf_dir / "tf1_plain"), with_default=False)


def test_tf1_graph_is_training_frozen(tf1_batchnorm, tmp_path):
    """input="is_training->False" (and the CLI's --input) freezes the placeholder and folds
    the conds it decides: no If is left, and the IR computes the inference branch."""
    import subprocess
    import sys

    import openvino as ov

    meta, x, refs = tf1_batchnorm
    m = irforge.convert_model(meta, input="is_training->False")
    assert [i.name for i in m.inputs] == ["x"]
    assert sorted(o.name for o in m.outputs) == ["out", "stats"]
    assert "If" not in m.op_histogram, m.op_histogram  # the training branches are gone
    _check(m, {"x": x}, _tf1_refs(m, refs[False]))
    xml = tmp_path / "frozen.xml"
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", meta, "--input", "is_training->False", "--output_model", str(xml),
                        "--compress_to_fp16", "False"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ir = ov.Core().read_model(str(xml))
    assert [p.get_friendly_name() for p in ir.get_parameters()] == ["x"]
    assert not any(op.get_type_name() == "If" for op in ir.get_ordered_ops())
    got = ov.Core().compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})({"x": x})
    for out in ir.outputs:
        assert _rel_err(refs[False][out.get_any_name()], got[out.get_any_name()]) <= 1e-4


def test_tf1_graph_is_training_as_input(tf1_batchnorm):
    """is_training left an input: every v1 tf.cond (Switch ... Merge) becomes an If, the
    training side computing batch statistics (tf.nn.moments, FusedBatchNormV3 in training
    mode), including a cond with constant branches and a cond nested in a branch."""
    meta, x, refs = tf1_batchnorm
    m = irforge.convert_model(meta)
    assert sorted(i.name for i in m.inputs) == ["is_training", "x"]
    hist = m.op_histogram
    # one If per Merge on the data path: moments (2), fused batch norm (3: y, mean, variance),
    # momentum (1), the nested pair (2: the inner one in the outer's then-branch, which the
    # histogram counts too)
    assert hist.get("If", 0) == 8, hist
    assert not any(op in hist for op in ("Switch", "Merge")), hist
    assert not np.allclose(refs[True]["out"], refs[False]["out"], rtol=1e-2)  # the branches really differ
    for flag in (False, True):
        _check(m, {"x": x, "is_training": np.array(flag)}, _tf1_refs(m, refs[flag]))


def test_tf1_layers_batch_normalization_is_training_as_input(tf_dir):
    """The graph tf.compat.v1.layers.batch_normalization(training=is_training) builds (fused:
    FusedBatchNormV3 in a cond; not fused: moments and the momentum conds), is_training an input."""
    folder = tf_dir / "tf1_layers_bn"
    folder.mkdir()
    meta, x, refs = tfm.tf1_layers_batchnorm_graph(str(folder))
    m = irforge.convert_model(meta)
    assert sorted(i.name for i in m.inputs) == ["is_training", "x"]
    assert m.op_histogram.get("If", 0) >= 2, m.op_histogram
    names = [o.name for o in m.outputs]
    assert "out" in names, names  # (also two momentum Merges no node consumes: a plain graph's outputs)
    for flag in (False, True):
        feeds = {"x": x, "is_training": np.array(flag)}
        k = names.index("out")
        for got in (run_openvino(m, feeds)[k], run_onnxruntime(m.to_onnx_bytes(), feeds)[k]):
            assert _rel_err(refs[flag], got) <= 1e-4, flag


def test_tf1_unconvertible_switch_merge_is_refused(tf_dir):
    folder = tf_dir / "tf1_bad_conds"
    folder.mkdir()
    paths = tfm.tf1_unconvertible_conds(str(folder))
    with pytest.raises(irforge.UnsupportedError, match=r"node 'joined' \(Merge\): its inputs come through Switches on 2 "
                                                       r"different predicates \(p:0, q:0\)"):
        irforge.convert_model(paths["two_predicates"])
    with pytest.raises(irforge.UnsupportedError, match=r"node 'switch_p' \(Switch\): the predicate is only known at run time"):
        irforge.convert_model(paths["no_merge"])
    # frozen predicates decide the Switches: the live input is taken
    m = irforge.convert_model(paths["two_predicates"], input="p->False,q->False")
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(run_openvino(m, {"x": xv})[0], xv * 2.0)


def test_tf1_graph_placeholder_with_default(tf_dir):
    meta, x, refs = tfm.tf1_batchnorm_graph(str(tf_dir / "tf1_default"), with_default=True)
    m = irforge.convert_model(meta)
    _check(m, {"x": x}, _tf1_refs(m, refs[False]))


def test_two_signatures(tf_dir):
    class Two(tf.Module):  # (autograph off: explicit TF ops only, and its source transform
        # trips over classes defined in functions when the whole suite runs)
        def __init__(self):
            self.w = tf.Variable(np.random.default_rng(5).normal(size=(4, 3)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)], autograph=False)
        def project(self, x):
            return {"y": tf.matmul(x, self.w)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)], autograph=False)
        def squash(self, x):
            return {"z": tf.nn.sigmoid(tf.reduce_sum(x * 2.0, axis=1, keepdims=True))}

    mod = Two()
    folder = str(tf_dir / "two_signatures")
    tf.saved_model.save(mod, folder, signatures={"serving_default": mod.project, "squash": mod.squash})
    x = np.random.default_rng(6).normal(size=(2, 4)).astype(np.float32)
    from irforge.frontends import tensorflow as tff

    m = irforge.convert_model(folder)
    assert [o.name for o in m.outputs] == ["y"]
    _check(m, {"x": x}, [mod.project(x)["y"].numpy()])
    m2 = tff.convert_file(folder, signature="squash")
    assert [o.name for o in m2.outputs] == ["z"]
    _check(m2, {"x": x}, [mod.squash(x)["z"].numpy()])
    with pytest.raises(irforge.UsageError, match="no signature 'nope'.*serving_default, squash"):
        tff.convert_file(folder, signature="nope")


def test_cond_and_while_loop(tf_dir):
    class Flow(tf.Module):
        def __init__(self):
            self.scale = tf.Variable(np.float32(0.5))

        @tf.function(input_signature=[tf.TensorSpec([2, 3], tf.float32)], autograph=False)
        def __call__(self, x):
            y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * self.scale + 1.0, lambda: tf.nn.relu(x) - 2.0)
            i = tf.constant(0)
            _, z = tf.while_loop(lambda i, z: i < 4, lambda i, z: (i + 1, z * 0.9 + tf.reduce_mean(z)), (i, y))
            return {"z": z}

    mod = Flow()
    folder = str(tf_dir / "flow")
    tf.saved_model.save(mod, folder, signatures=mod.__call__)
    m = irforge.convert_model(folder)
    hist = m.op_histogram
    assert hist.get("If", 0) == 1 and hist.get("Loop", 0) == 1, hist
    for seed, sign in ((7, 1.0), (8, -1.0)):  # both branches of the cond
        x = (np.abs(np.random.default_rng(seed).normal(size=(2, 3))) * sign).astype(np.float32)
        _check(m, {"x": x}, [mod(x)["z"].numpy()])


def test_detection_ops(tf_dir):
    """NonMaxSuppressionV5, TopKV2, GatherV2, StridedSlice with masks, ResizeBilinear as a
    detection head uses them."""

    class Head(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([16, 4], tf.float32), tf.TensorSpec([16], tf.float32),
                                      tf.TensorSpec([1, 6, 6, 2], tf.float32)], autograph=False)
        def __call__(self, boxes, scores, fmap):
            keep, kept_scores = tf.image.non_max_suppression_with_scores(boxes, scores, 5, iou_threshold=0.4, score_threshold=0.1)
            top, top_idx = tf.math.top_k(scores, 3)
            up = tf.image.resize(fmap, (9, 12), method="bilinear")
            return {"keep": keep, "kept_scores": kept_scores, "top": top, "top_idx": top_idx,
                    "picked": tf.gather(boxes, top_idx)[:, 1::2], "up": up[:, ::2, -3:, 0]}

    mod = Head()
    folder = str(tf_dir / "head")
    tf.saved_model.save(mod, folder, signatures=mod.__call__)
    rng = np.random.default_rng(9)
    corner = rng.uniform(0, 1, (16, 2)).astype(np.float32)
    boxes = np.concatenate([corner, corner + rng.uniform(0.1, 0.5, (16, 2)).astype(np.float32)], axis=1)
    feeds = {"boxes": boxes, "scores": rng.permutation(16).astype(np.float32) / 16, "fmap": rng.normal(size=(1, 6, 6, 2)).astype(np.float32)}
    expected = mod(**feeds)
    m = irforge.convert_model(folder)
    names = [o.name for o in m.outputs]
    ref = [expected[n].numpy() for n in names]
    ov = run_openvino(m, feeds)
    ort = run_onnxruntime(m.to_onnx_bytes(), feeds)
    for n, r, o, x in zip(names, ref, ov, ort):
        if r.dtype.kind in "iu":
            np.testing.assert_array_equal(o, r, err_msg=n)
            np.testing.assert_array_equal(x, r, err_msg=n)
        else:
            assert _rel_err(r, o) <= 1e-4 and _rel_err(r, x) <= 1e-4, n


def test_keras_lstm_gru_text_model(tf_dir):
    """Keras LSTM/GRU run as a While over TensorLists: the input list is read in the loop, the
    output list becomes the Loop's scan output (or only its last item). Two sequence lengths
    through one converted model (the time dimension is dynamic)."""
    model = tfm.recurrent_text_model()
    folder = tfm.save_saved_model(model, str(tf_dir / "lstm_gru"))
    m = irforge.convert_model(folder)
    hist = m.op_histogram
    assert hist.get("Loop", 0) == 6, hist  # one per recurrent direction
    assert not any(op.startswith("TensorList") for op in hist), hist
    for seed, length in ((11, 5), (12, 9)):
        ids = np.random.default_rng(seed).integers(0, 50, (2, length)).astype(np.int32)
        _check(m, {"ids": ids}, _keras_reference(model, ids))


def test_tensor_list_filled_at_other_indices_is_refused(tf_dir):
    """A TensorArray written at an index that is not the iteration number cannot be a scan
    output: a clear error, not a wrong model."""

    class Reversed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4, 3], tf.float32)], autograph=False)
        def __call__(self, x):
            ta = tf.TensorArray(tf.float32, size=4)
            _, ta = tf.while_loop(lambda i, ta: i < 4, lambda i, ta: (i + 1, ta.write(3 - i, tf.gather(x, i) * 2.0)), (0, ta))
            return {"y": ta.stack()}

    mod = Reversed()
    folder = str(tf_dir / "reversed_list")
    tf.saved_model.save(mod, folder, signatures=mod.__call__)
    with pytest.raises(irforge.UnsupportedError, match="TensorList .* index other than the iteration number"):
        irforge.convert_model(folder)


def test_saved_model_tags_and_signature(tf_dir, tmp_path):
    """saved_model_tags (mo's name; text or list) picks the MetaGraph, signature= its signature,
    in Python and on the command line; wrong ones are usage errors naming what exists."""
    import subprocess
    import sys

    folder = str(tf_dir / "two_tag_sets")
    x, refs = tfm.tf1_saved_model_two_tag_sets(folder)
    m = irforge.convert_model(folder, signature="predict")  # default: the MetaGraph tagged only "serve"
    _check(m, {"x": x}, [refs["serve"]])
    m = irforge.convert_model(folder, saved_model_tags="serve,gpu", signature="predict")
    _check(m, {"x": x}, [refs["serve,gpu"]])
    m = irforge.convert_model(folder, saved_model_tags=["serve"], signature="shifted")
    assert [o.name for o in m.outputs] == ["s"]
    _check(m, {"x": x}, [refs["shifted"]])
    with pytest.raises(irforge.UsageError, match=r"no MetaGraph with tags \['train'\]"):
        irforge.convert_model(folder, saved_model_tags="train")
    with pytest.raises(irforge.UsageError, match="no signature 'shifted'.*predict"):
        irforge.convert_model(folder, saved_model_tags="gpu,serve", signature="shifted")
    with pytest.raises(irforge.UsageError, match="apply to TensorFlow models"):
        irforge.convert_model(b"not onnx", signature="predict")
    with pytest.raises(TypeError, match="saved_model_tags"):
        irforge.convert_model(folder, saved_model_tags=3)
    out = str(tmp_path / "gpu.xml")
    r = subprocess.run([sys.executable, "-m", "irforge", "convert", folder, "--output_model", out, "--saved_model_tags", "serve,gpu",
                        "--signature", "predict"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import openvino as ov

    got = ov.Core().compile_model(out, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})({"x": x})
    assert _rel_err(refs["serve,gpu"], list(got.values())[0]) <= 1e-4


def test_tf1_while_loop_and_partitioned_variable(tf_dir):
    """Control flow v1 (Enter/Merge/Switch/LoopCond/NextIteration/Exit) becomes one Loop whose
    body reads a variable through a constant Enter; a fixed_size_partitioner variable is read
    from its checkpoint slices (OrderedCode slice keys). 0 and 3 iterations."""
    folder = tf_dir / "tf1_while"
    folder.mkdir()
    meta, x, refs = tfm.tf1_while_graph(str(folder))
    m = irforge.convert_model(meta)
    hist = m.op_histogram
    assert hist.get("Loop", 0) == 1 and [o.name for o in m.outputs] == ["out"], (hist, m.outputs)
    for steps, ref in refs.items():
        _check(m, {"x": x, "steps": np.array(steps, np.int32)}, [ref])
    bundle = _core.TfBundle.open(meta[: -len(".meta")])
    assert "pw" in bundle.keys() and all(not k.startswith("\0") for k in bundle.keys())
    dtype, dims, *_ = bundle.slice_entry("pw", "10 3 4,3:0,3")
    assert (dtype, dims) == (1, [3, 3])
    for spec, why in (("10 3 4,4:0,3", "no such slice"), ("10 3 4,x:0,3", "not a number"), ("10 3 4,-:0,3", "not a number"), ("4,3", "full shape")):
        with pytest.raises(irforge.InvalidModelError, match=why):
            bundle.slice_entry("pw", spec)
    with pytest.raises(irforge.InvalidModelError, match="partitioned variable, stored as slices"):
        bundle.entry("pw")
