"""irforge's MXNet reader against real MXNet: gluon and symbolic RNN models (fused LSTM/GRU/RNN,
layers, bidirectional, NTC, begin states, unrolled LSTMCell) and the shape-sensitive ops
(bilinear UpSampling, Deconvolution target_shape, Pooling full/count_include_pad, Reshape
codes, SoftmaxOutput modes, LeakyReLU gelu/rrelu/selu, BatchNorm fix_gamma), exported and run by
mxnet==1.9.1 in a venv of its own (with numpy<1.24), converted by irforge, run in OpenVINO,
compared output by output (max |diff| / max |reference|).

    python bench/mxnet_real_models.py --mxnet-venv /path/to/venv [--out /tmp/irforge-mxnet-real]

The export step runs this file under the venv's python with --export DIR (twice: the RNN
models with MXNet's MKLDNN kernels, the op zoo with MXNET_MKLDNN_ENABLED=0, whose MKLDNN
deconvolution refuses target_shape's asymmetric padding). The tests (tests/test_mxnet_*.py)
check the same against NumPy references without MXNet; this is the cross-check with MXNet itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile

import numpy as np


def export(out, part):
    import mxnet as mx
    from mxnet import gluon, nd

    rng = np.random.default_rng(0)
    cases = {}

    def save(name, block_or_sym, inputs, outputs, params=None):
        prefix = os.path.join(out, name)
        if isinstance(block_or_sym, gluon.HybridBlock):
            block_or_sym.export(prefix, epoch=0)
        else:
            block_or_sym.save(prefix + "-symbol.json")
            nd.save(prefix + "-0000.params", params)
        np.savez(prefix + "-io.npz", **{"in_" + k: v for k, v in inputs.items()}, **{"out_%d" % i: o for i, o in enumerate(outputs)})
        cases[name] = {k: list(v.shape) for k, v in inputs.items()}

    def init(block):
        block.initialize(mx.init.Uniform(0.5))

    if part == "rnn":
        export_rnn(mx, gluon, nd, rng, save, init)
    else:
        export_ops(mx, nd, rng, save)
    with open(os.path.join(out, "cases_%s.json" % part), "w") as f:
        json.dump(cases, f)


def export_rnn(mx, gluon, nd, rng, save, init):
    # Two-layer bidirectional LSTM/GRU layers, NTC (swapaxes around the op), random biases.
    for mode, cls in (("lstm", gluon.rnn.LSTM), ("gru", gluon.rnn.GRU)):
        net = gluon.nn.HybridSequential()
        with net.name_scope():
            net.add(cls(8, num_layers=2, bidirectional=True, layout="NTC", input_size=5))
        init(net)
        # random biases too
        for p in net.collect_params().values():
            p.set_data(nd.array(rng.uniform(-0.5, 0.5, p.shape)))
        net.hybridize()
        x = rng.standard_normal((3, 7, 5)).astype(np.float32)
        y = net(nd.array(x)).asnumpy()
        save("gluon_%s_ntc" % mode, net, {"data": x}, [y])

    for act in ("relu", "tanh"):
        net = gluon.rnn.RNN(6, num_layers=2, activation=act, input_size=4)
        init(net)
        net.hybridize()
        x = rng.standard_normal((5, 2, 4)).astype(np.float32)
        y = net(nd.array(x)).asnumpy()
        save("gluon_rnn_%s" % act, net, {"data": x}, [y])

    # The symbolic API: one parameters array, begin states as inputs, state outputs.
    for mode, nstate in (("lstm", 2), ("gru", 1), ("rnn_tanh", 1)):
        data, params_v = mx.sym.var("data"), mx.sym.var("rnn_parameters")
        states = [mx.sym.var("state"), mx.sym.var("state_cell")][:nstate]
        sym = mx.sym.RNN(data, params_v, *states, state_size=4, num_layers=2, bidirectional=True, mode=mode, state_outputs=True, name="rnn")
        gates = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[mode]
        g = gates * 4
        n = 2 * (g * 3 + g * 4) + 2 * (g * 8 + g * 4) + 2 * 2 * 2 * g
        p = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        feeds = {"data": rng.standard_normal((6, 2, 3)).astype(np.float32)}
        for s in ("state", "state_cell")[:nstate]:
            feeds[s] = rng.standard_normal((4, 2, 4)).astype(np.float32)
        ex = sym.bind(mx.cpu(), {**{k: nd.array(v) for k, v in feeds.items()}, "rnn_parameters": nd.array(p)})
        outs = [o.asnumpy() for o in ex.forward(is_train=False)]
        save("sym_rnn_%s" % mode, sym, feeds, outs, {"arg:rnn_parameters": nd.array(p)})

    # gluon's LSTMCell unrolled inside a HybridBlock (FullyConnected, SliceChannel, ... per step).
    class Unrolled(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.cell = gluon.rnn.LSTMCell(5, input_size=3)
        def hybrid_forward(self, F, x):
            out, _ = self.cell.unroll(4, x, layout="TNC", merge_outputs=True)
            return out
    net = Unrolled()
    init(net)
    for p in net.collect_params().values():
        p.set_data(nd.array(rng.uniform(-0.5, 0.5, p.shape)))
    net.hybridize()
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    save("gluon_lstmcell_unrolled", net, {"data": x}, [net(nd.array(x)).asnumpy()])


def export_ops(mx, nd, rng, save):
    data = mx.sym.var("data")
    x = rng.standard_normal((1, 4, 7, 8)).astype(np.float32)
    args = {}
    w_up = mx.sym.var("up_weight")
    up = mx.sym.UpSampling(data, w_up, scale=2, sample_type="bilinear", num_filter=4, num_args=2, name="up")
    args["up_weight"] = rng.uniform(0, 1, (4, 1, 4, 4)).astype(np.float32)
    dc = mx.sym.Deconvolution(data, mx.sym.var("dc_weight"), kernel=(3, 3), stride=(2, 2), num_filter=6, num_group=2, target_shape=(14, 15), no_bias=True, name="dc")
    args["dc_weight"] = rng.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32)
    pl = mx.sym.Pooling(data, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", pooling_convention="full", count_include_pad=False, name="pl")
    pm = mx.sym.Pooling(data, kernel=(2, 2), stride=(2, 2), pool_type="max", pooling_convention="full", name="pm")
    rs = mx.sym.Reshape(data, shape=(0, -4, 2, -1, -3), name="rs")
    rr = mx.sym.Reshape(data, shape=(-1, 0), reverse=True, name="rr")
    so = mx.sym.SoftmaxOutput(rs, preserve_shape=True, name="so")
    sm = mx.sym.SoftmaxOutput(data, multi_output=True, name="sm")
    ge = mx.sym.LeakyReLU(data, act_type="gelu", name="ge")
    rl = mx.sym.LeakyReLU(data, act_type="rrelu", name="rl")
    se = mx.sym.LeakyReLU(data, act_type="selu", name="se")
    bn = mx.sym.BatchNorm(data, mx.sym.var("bn_gamma"), mx.sym.var("bn_beta"), mx.sym.var("bn_mean"), mx.sym.var("bn_var"), fix_gamma=True, name="bn")
    for k in ("bn_gamma", "bn_beta", "bn_mean"):
        args[k] = rng.uniform(-1, 1, 4).astype(np.float32)
    args["bn_var"] = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    group = mx.sym.Group([up, dc, pl, pm, rs, rr, so, sm, ge, rl[0], se, bn])  # rrelu's second output is its training mask
    arg_shapes, _, _ = group.infer_shape(data=x.shape)
    argd = {n: nd.array(args[n]) if n in args else (nd.array(x) if n == "data" else nd.zeros(sh)) for n, sh in zip(group.list_arguments(), arg_shapes)}
    auxd = {n: nd.array(args[n]) for n in group.list_auxiliary_states()}
    ex = group.bind(mx.cpu(), argd, aux_states=auxd)
    outs = [o.asnumpy() for o in ex.forward(is_train=False)]
    params = {("aux:" if k in ("bn_mean", "bn_var") else "arg:") + k: nd.array(v) for k, v in args.items()}
    save("sym_ops", group, {"data": x}, outs, params)


def check(folder):
    import openvino as ov

    import irforge

    cases = {}
    for part in ("rnn", "ops"):
        with open(os.path.join(folder, "cases_%s.json" % part)) as f:
            cases.update(json.load(f))
    core = ov.Core()
    worst = 0.0
    for name, shapes in cases.items():
        io = np.load(os.path.join(folder, name + "-io.npz"))
        feeds = {k: io["in_" + k] for k in shapes}
        if name.startswith("gluon_rnn_"):  # a bare gluon RNN layer exports its begin state as input data1
            feeds = {"data0": feeds["data"], "data1": np.zeros((2, feeds["data"].shape[1], 6), np.float32)}
        shape_text = ",".join(f"{k}[{','.join(map(str, v.shape))}]" for k, v in feeds.items())
        model = irforge.convert_model(os.path.join(folder, name + "-symbol.json"), input=shape_text)
        xml = os.path.join(tempfile.mkdtemp(), "m.xml")
        irforge.save_model(model, xml, compress_to_fp16=False)
        compiled = core.compile_model(core.read_model(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        result = compiled.create_infer_request().infer(feeds)
        refs = [io[k] for k in sorted((k for k in io.files if k.startswith("out_")), key=lambda s: int(s[4:]))]
        line = []
        for out, ref in zip(compiled.outputs, refs):
            got = result[out]
            assert got.shape == ref.shape, (name, out.get_any_name(), got.shape, ref.shape)
            err = float(np.abs(got.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-12))
            worst = max(worst, err)
            line.append(f"{out.get_any_name()} {err:.1e}")
        assert len(compiled.outputs) == len(refs), name
        print(f"{name}: " + "; ".join(line))
    print(f"worst relative difference: {worst:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mxnet-venv", help="a venv with mxnet==1.9.1 and numpy<1.24")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "irforge-mxnet-real"))
    ap.add_argument("--export", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("--part", default="rnn", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.export:
        return export(a.export, a.part)
    if not a.mxnet_venv:
        ap.error("--mxnet-venv is required")
    os.makedirs(a.out, exist_ok=True)
    python = os.path.join(a.mxnet_venv, "bin", "python")
    for part, env in (("rnn", {}), ("ops", {"MXNET_MKLDNN_ENABLED": "0"})):
        subprocess.run([python, os.path.abspath(__file__), "--export", a.out, "--part", part], check=True, env={**os.environ, **env})
    check(a.out)


if __name__ == "__main__":
    main()
