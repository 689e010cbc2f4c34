"""PyTorch frontend: torch.export's ATen graph, translated op by op into irforge's IR.

`convert(module_or_program, example_input=..., input=...)` exports an `nn.Module` with
`torch.export` (dynamic dims from `input=` ranges / -1 or from a program's own
`dynamic_shapes`) and translates every node through `_OPS`, a table of one function per ATen op
family. The exported graph is translated as it is when every op in it has a translation and no
in-place op is visible through an alias (`_direct_translatable`); otherwise the program is first
lowered by the core ATen decompositions except for the ops listed in `_KEEP` (whose ONNX form is
one op the passes and writers know: linear, matmul, layer_norm, gelu, silu). No ONNX bytes
are made on the way and weights are not copied: constants view the parameters' own memory
(`Tensor.numpy()` shares it), kept alive by the Model.

Names: graph inputs are the forward() argument names; outputs are named from the output
structure ("output" for a single tensor, "output_0", "output_1", ... for tuples, dict keys and
dataclass fields such as "logits" for dicts and HF ModelOutputs).

An op the table does not know fails the conversion with one error listing every such op (name,
count, first node names); nothing is produced half-way.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.fx

from irforge.builder import Builder
from irforge.errors import InvalidModelError, UnsupportedError, UsageError

# torch dtype -> (ONNX element type, numpy dtype used to view its bytes)
_DTYPES = {
    torch.float32: (1, np.float32),
    torch.uint8: (2, np.uint8),
    torch.int8: (3, np.int8),
    torch.uint16: (4, np.uint16),
    torch.int16: (5, np.int16),
    torch.int32: (6, np.int32),
    torch.int64: (7, np.int64),
    torch.bool: (9, np.bool_),
    torch.float16: (10, np.float16),
    torch.float64: (11, np.float64),
    torch.uint32: (12, np.uint32),
    torch.uint64: (13, np.uint64),
    torch.bfloat16: (16, np.int16),  # numpy has no bfloat16: the bytes are viewed as int16
}
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# ATen ops kept out of the decompositions: each is one ONNX op with fusions and OpenVINO
# lowerings behind it, where its decomposition would be several ops to fuse back.
_KEEP = (
    "aten.linear.default",
    "aten.matmul.default",
    "aten.layer_norm.default",
    "aten.gelu.default",
    "aten.silu.default",
    "aten.hardswish.default",
    "aten.hardsigmoid.default",
    "aten.scaled_dot_product_attention.default",
    "aten.lstm.input",  # whole: the decomposition unrolls the time loop (static length only)
    "aten.gru.input",
)


def onnx_type(dtype) -> int:
    if dtype not in _DTYPES:
        raise UnsupportedError(f"PyTorch element type {dtype} has no irforge equivalent")
    return _DTYPES[dtype][0]


class T:
    """A translated tensor: its IR value plus what torch's metadata says about it."""

    __slots__ = ("v", "dtype", "shape")

    def __init__(self, v, dtype, shape):
        self.v, self.dtype, self.shape = v, dtype, shape

    @property
    def rank(self) -> int:
        return len(self.shape)


class Unsupported(Exception):
    pass


class _Translator:
    def __init__(self, ep, source: str):
        self.ep = ep
        self.b = Builder(source)
        self.source = source
        self.graph = None  # the builder graph nodes go to (None: main)
        self._consts: Dict[Any, Any] = {}
        self.symbols: Dict[str, str] = {}  # sympy symbol text -> dim name
        self._node_name = ""  # the fx node being translated: names the IR nodes made for it

    # ---- helpers that create IR ----------------------------------------------------------------

    def op(self, op_type, inputs, outputs=1, **attrs):
        outs = self.b.node(op_type, inputs, attrs, outputs=outputs, graph=self.graph, name=self._node_name)
        return outs[0] if outputs == 1 else outs

    def const(self, array: np.ndarray, key=None):
        """A constant owning a small numpy array (shapes, axes, scalars)."""
        if key is not None and key in self._consts:
            return self._consts[key]
        array = np.asarray(array)
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-D array 1-D)
            array = array.copy()
        v = self.b.constant("const", array)
        if key is not None:
            self._consts[key] = v
        return v

    def ints(self, values) -> Any:
        """A 1-D int64 tensor from a list of ints and symbolic sizes (0-D int64 Ts)."""
        values = list(values)
        if all(isinstance(x, (int, np.integer)) for x in values):
            return self.const(np.array(values, np.int64), ("ints", tuple(int(x) for x in values)))
        parts = []
        for x in values:
            if isinstance(x, T):
                parts.append(self.op("Unsqueeze", [self.cast(x, torch.int64), self.ints([0])]) if x.rank == 0 else x.v)
            else:
                parts.append(self.ints([int(x)]))
        return self.op("Concat", parts, axis=0)

    def scalar(self, value, dtype):
        """A 0-D constant of torch dtype `dtype`."""
        key = ("scalar", str(dtype), repr(value))
        if key in self._consts:
            return self._consts[key]
        if dtype == torch.bfloat16:
            # In the main graph: the cache serves every graph, subgraphs see outer values.
            (v,) = self.b.node("Cast", [self.const(np.array(value, np.float32))], {"to": 16})
        else:
            v = self.const(np.array(value, _DTYPES[dtype][1]))
        self._consts[key] = v
        return v

    def cast(self, x, dtype):
        """The IR value of `x` (a T or a Python number) in torch dtype `dtype`."""
        if isinstance(x, T):
            return x.v if x.dtype == dtype else self.op("Cast", [x.v], to=onnx_type(dtype))
        if isinstance(x, torch.SymInt) or not isinstance(x, (bool, int, float)):
            raise Unsupported(f"an operand of type {type(x).__name__}")
        return self.scalar(x, dtype)

    # ---- graph translation -------------------------------------------------------------------

    def check_supported(self, gm: torch.fx.GraphModule):
        missing: "OrderedDict[str, List[str]]" = OrderedDict()
        for node in _all_nodes(gm):
            if (node.op == "call_function" and _op_key(node.target) not in _OPS and _inplace_key(node.target) is None
                    and not _extension_for(node)):
                missing.setdefault(_op_key(node.target), []).append(node.name)
        if missing:
            lines = [
                f"  {op}: {len(names)} node(s), first: {', '.join(names[:3])}" for op, names in missing.items()
            ]
            raise UnsupportedError(
                f"{self.source}: {len(missing)} PyTorch op(s) have no irforge translation:\n"
                + "\n".join(lines)
                + "\nNothing was converted. Supply a custom-layer converter for each, built from ONNX ops, e.g. in ext.py:\n"
                f"  irforge.register_converter({next(iter(missing))!r}, lambda ctx: ctx.node('Relu', ctx.inputs[:1]), framework='pytorch')\n"
                "and convert with extension='ext.py' (--extension ext.py); see README 'Custom layers'."
            )

    def run(self, gm: torch.fx.GraphModule, env: Dict[str, Any]) -> List[Any]:
        """Translates the nodes of `gm` into self.graph; returns the output node's values."""
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                continue  # bound by the caller
            if node.op == "get_attr":
                env[node.name] = _get_attr(gm, node.target)
                continue
            if node.op == "output":
                return [self.resolve(a, env) for a in _flat(node.args[0])]
            self._node_name = node.name
            args = [self.resolve(a, env) for a in node.args]
            kwargs = {k: self.resolve(v, env) for k, v in node.kwargs.items()}
            fn = _OPS.get(_op_key(node.target)) or _OPS.get(_inplace_key(node.target) or "") or _extension_translator(
                _extension_for(node))
            try:
                out = fn(self, node, *args, **kwargs)
            except Unsupported as e:
                raise UnsupportedError(f"{self.source}: node '{node.name}' ({_op_key(node.target)}): cannot translate {e}") from None
            except (IndexError, KeyError, TypeError, ValueError, AttributeError) as e:
                # Arguments of a form the translator does not expect (a newer ATen signature, ...).
                raise UnsupportedError(
                    f"{self.source}: node '{node.name}' ({_op_key(node.target)}): its arguments are not in a form "
                    f"irforge translates ({type(e).__name__}: {e})"
                ) from None
            env[node.name] = self.wrap(out, node.meta.get("val"))
        raise InvalidModelError(f"{self.source}: the graph has no output node")

    def resolve(self, a, env):
        if isinstance(a, torch.fx.Node):
            return env[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(self.resolve(x, env) for x in a)
        return a

    def wrap(self, out, meta):
        """Pairs translator results with torch's metadata of the node's outputs."""
        if isinstance(out, (list, tuple)):
            metas = list(meta) if isinstance(meta, (list, tuple)) else [None] * len(out)
            return [self.wrap(o, m) for o, m in zip(out, metas)]
        if out is None or isinstance(out, (bool, int, float)):
            return out
        if isinstance(out, T):
            out = out.v
        if isinstance(meta, torch.Tensor):
            return T(out, meta.dtype, list(meta.shape))
        if isinstance(meta, (torch.SymInt, int)):
            return T(out, torch.int64, [])
        if isinstance(meta, (torch.SymFloat, float)):
            return T(out, torch.float32, [])
        if isinstance(meta, (torch.SymBool, bool)):
            return T(out, torch.bool, [])
        raise Unsupported(f"a result without tensor metadata ({type(meta).__name__})")

    # ---- inputs and outputs --------------------------------------------------------------------

    def dims(self, shape, input_name: str):
        out = []
        for axis, d in enumerate(shape):
            if isinstance(d, torch.SymInt):
                expr = str(d.node.expr)
                if d.node.expr.is_Symbol:
                    out.append(self.symbols.setdefault(expr, f"{input_name}_{axis}"))
                else:
                    out.append(self.symbols.get(expr))  # a derived size: unknown to the IR
            else:
                out.append(int(d))
        return out


def _extension_for(node):
    """A converter registered with irforge.register_converter(..., framework="pytorch")."""
    from irforge.extensions import converter_for

    return converter_for("pytorch", _op_key(node.target)) if node.op == "call_function" else None


def _extension_translator(convert):
    """Runs a user's converter: tensors reach it as builder values, in ctx.inputs (tensor
    arguments in order), ctx.args / ctx.kwargs (the call, tensors replaced by values)."""
    from irforge.errors import mark_user_code
    from irforge.extensions import ConverterContext

    def strip(a):
        if isinstance(a, T):
            return a.v
        if isinstance(a, (list, tuple)):
            return type(a)(strip(x) for x in a)
        return a

    def fn(tr, node, *args, **kwargs):
        tensors = [a.v for a in _flat(list(args)) if isinstance(a, T)]
        ctx = ConverterContext(
            _op_key(node.target), "", node.name, tensors, {k: strip(v) for k, v in kwargs.items()},
            lambda op_type, inputs, outputs, domain, attrs: list(
                tr.b.node(op_type, inputs, attrs, outputs=outputs, graph=tr.graph, name=tr._node_name, **({"domain": domain} if domain else {}))),
            lambda array, name: tr.const(array),
            args=tuple(strip(a) for a in args), kwargs={k: strip(v) for k, v in kwargs.items()})
        try:
            out = convert(ctx)
        except Exception as e:
            raise mark_user_code(e)
        return list(out) if isinstance(out, tuple) else out

    return fn


def _op_key(target) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order.{target.__name__}"
    return getattr(target, "__name__", str(target))


def _all_nodes(gm):
    for node in gm.graph.nodes:
        yield node
        if node.op == "get_attr":
            sub = _get_attr(gm, node.target)
            if isinstance(sub, torch.fx.GraphModule):
                yield from _all_nodes(sub)


def _get_attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _flat(x):
    if isinstance(x, (list, tuple)):
        out = []
        for y in x:
            out.extend(_flat(y))
        return out
    return [x]


def _array_of(tensor: torch.Tensor) -> np.ndarray:
    """A numpy view of a tensor's memory (no copy unless it is not contiguous)."""
    t = tensor.detach()
    if t.device.type != "cpu":
        raise UnsupportedError(f"a weight lives on {t.device}; move the model to the CPU first")
    if not t.is_contiguous():
        t = t.contiguous()  # rare for weights; costs one copy of this tensor
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    if t.dtype not in _DTYPES:
        raise UnsupportedError(f"weights of type {tensor.dtype} are not supported")
    return t.numpy()


# ==== op translators: fn(tr, node, *args, **kwargs) -> Value | [Value] | T | Python number ======

_OPS: Dict[str, Any] = {}


def _reg(*keys):
    def deco(fn):
        for k in keys:
            _OPS[k] = fn
        return fn

    return deco


def _out_dtype(node):
    val = node.meta.get("val")
    return val.dtype if isinstance(val, torch.Tensor) else torch.int64


def _rank_of(x):
    return x.rank if isinstance(x, T) else 0


def _axis(d, rank):
    return d + rank if d < 0 else d


def _tensor_like(x):
    """Dummy tensor with x's dtype and dimensioned-ness, for torch's promotion rules."""
    if isinstance(x, T):
        return torch.empty([1] * x.rank, dtype=x.dtype)
    return x


@_reg("aten.clone.default", "aten.alias.default", "aten.detach.default", "aten.contiguous.default",
      "aten.lift_fresh_copy.default", "aten.clone.memory_format")
def _identity(tr, node, x, *rest, **kw):
    return x


@_reg("aten._assert_tensor_metadata.default", "aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default",
      "aten._assert_async.msg", "aten.sym_constrain_range.default", "_assert_scalar")
def _no_op(tr, node, *args, **kw):
    return None


@_reg("aten.copy.default")
def _copy(tr, node, dst, src, non_blocking=False):
    # Functionalized in-place copy: src broadcast to dst's shape, in dst's type.
    return tr.op("Expand", [tr.cast(src, dst.dtype), tr.op("Shape", [dst.v])])


@_reg("aten._to_copy.default", "aten.to.dtype", "aten._to_dim_order_copy.default")
def _to_copy(tr, node, x, *args, **kw):
    return tr.cast(x, _out_dtype(node))


_UNARY = {
    "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
    "abs": "Abs", "erf": "Erf", "sin": "Sin", "cos": "Cos", "tan": "Tan", "reciprocal": "Reciprocal", "floor": "Floor",
    "ceil": "Ceil", "sign": "Sign", "round": "Round", "logical_not": "Not", "isnan": "IsNaN", "asin": "Asin",
    "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh",
}


def _unary(onnx_op):
    def fn(tr, node, x, *rest, **kw):
        dtype = _out_dtype(node)
        # Float functions of integer tensors compute (and answer) in the output's float type.
        src = x if onnx_op in ("Not", "IsNaN", "Abs", "Neg", "Sign", "Relu") else T(tr.cast(x, dtype), dtype, x.shape)
        return tr.op(onnx_op, [src.v])

    return fn


for _name, _onnx in _UNARY.items():
    _OPS[f"aten.{_name}.default"] = _unary(_onnx)


@_reg("aten.rsqrt.default")
def _rsqrt(tr, node, x):
    return tr.op("Reciprocal", [tr.op("Sqrt", [tr.cast(x, _out_dtype(node))])])


@_reg("aten.bitwise_not.default")
def _bitwise_not(tr, node, x):
    return tr.op("Not" if x.dtype == torch.bool else "BitwiseNot", [x.v])


def _arith(onnx_op):
    def fn(tr, node, a, b, *rest, alpha=1, **kw):
        dtype = _out_dtype(node)
        if rest:
            alpha = rest[0]
        bv = tr.cast(b, dtype)
        if alpha != 1:
            bv = tr.op("Mul", [bv, tr.scalar(alpha, dtype)])
        return tr.op(onnx_op, [tr.cast(a, dtype), bv])

    return fn


for _name, _onnx in (("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"), ("maximum", "Max"),
                     ("minimum", "Min"), ("pow", "Pow")):
    for _ov in ("Tensor", "Scalar", "Tensor_Scalar", "Tensor_Tensor", "default", "Scalar_Tensor"):
        _OPS[f"aten.{_name}.{_ov}"] = _arith(_onnx)


@_reg("aten.fmod.Tensor", "aten.fmod.Scalar")
def _fmod(tr, node, a, b):
    dtype = _out_dtype(node)
    return tr.op("Mod", [tr.cast(a, dtype), tr.cast(b, dtype)], fmod=1)


@_reg("aten.pow.Tensor_Scalar")
def _pow(tr, node, x, e):
    dtype = _out_dtype(node)
    return tr.op("Pow", [tr.cast(x, dtype), tr.scalar(e, dtype)])


@_reg("aten.rsub.Scalar", "aten.rsub.Tensor")
def _rsub(tr, node, a, b, alpha=1):
    dtype = _out_dtype(node)
    av = tr.cast(a, dtype)
    if alpha != 1:
        av = tr.op("Mul", [av, tr.scalar(alpha, dtype)])
    return tr.op("Sub", [tr.cast(b, dtype), av])


@_reg("aten.div.Tensor_mode", "aten.div.Scalar_mode")
def _div_mode(tr, node, a, b, rounding_mode=None):
    dtype = _out_dtype(node)
    if rounding_mode is None:
        return tr.op("Div", [tr.cast(a, dtype), tr.cast(b, dtype)])
    if dtype.is_floating_point:
        q = tr.op("Div", [tr.cast(a, dtype), tr.cast(b, dtype)])
        if rounding_mode == "floor":
            return tr.op("Floor", [q])
        return tr.op("Mul", [tr.op("Sign", [q]), tr.op("Floor", [tr.op("Abs", [q])])])
    if rounding_mode == "trunc":
        return tr.op("Div", [tr.cast(a, dtype), tr.cast(b, dtype)])  # ONNX integer Div truncates
    q = tr.op("Floor", [tr.op("Div", [tr.cast(a, torch.float64), tr.cast(b, torch.float64)])])
    return tr.op("Cast", [q], to=onnx_type(dtype))


@_reg("aten.remainder.Tensor", "aten.remainder.Scalar")
def _remainder(tr, node, a, b):
    dtype = _out_dtype(node)
    av, bv = tr.cast(a, dtype), tr.cast(b, dtype)
    if not dtype.is_floating_point:
        return tr.op("Mod", [av, bv], fmod=0)  # ONNX integer Mod takes the divisor's sign, as torch
    return tr.op("Sub", [av, tr.op("Mul", [tr.op("Floor", [tr.op("Div", [av, bv])]), bv])])


def _compare(onnx_op, negate=False):
    def fn(tr, node, a, b):
        dtype = torch.result_type(_tensor_like(a), _tensor_like(b))
        out = tr.op(onnx_op, [tr.cast(a, dtype), tr.cast(b, dtype)])
        return tr.op("Not", [out]) if negate else out

    return fn


for _name, _onnx, _neg in (("eq", "Equal", False), ("ne", "Equal", True), ("lt", "Less", False), ("le", "LessOrEqual", False),
                           ("gt", "Greater", False), ("ge", "GreaterOrEqual", False)):
    _OPS[f"aten.{_name}.Tensor"] = _OPS[f"aten.{_name}.Scalar"] = _compare(_onnx, _neg)


def _logical(onnx_op):
    def fn(tr, node, a, b):
        return tr.op(onnx_op, [tr.cast(a, torch.bool), tr.cast(b, torch.bool)])

    return fn


for _name, _onnx in (("logical_and", "And"), ("logical_or", "Or"), ("logical_xor", "Xor")):
    _OPS[f"aten.{_name}.default"] = _logical(_onnx)


@_reg("aten.bitwise_and.Tensor", "aten.bitwise_or.Tensor", "aten.bitwise_xor.Tensor")
def _bitwise(tr, node, a, b):
    name = str(node.target).split(".")[1]
    dtype = _out_dtype(node)
    if dtype == torch.bool:
        return tr.op({"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}[name], [tr.cast(a, dtype), tr.cast(b, dtype)])
    return tr.op({"bitwise_and": "BitwiseAnd", "bitwise_or": "BitwiseOr", "bitwise_xor": "BitwiseXor"}[name],
                 [tr.cast(a, dtype), tr.cast(b, dtype)])


@_reg("aten.where.self", "aten.where.ScalarOther", "aten.where.ScalarSelf", "aten.where.Scalar")
def _where(tr, node, cond, a, b):
    dtype = _out_dtype(node)
    return tr.op("Where", [tr.cast(cond, torch.bool), tr.cast(a, dtype), tr.cast(b, dtype)])


@_reg("aten.masked_fill.Scalar", "aten.masked_fill.Tensor")
def _masked_fill(tr, node, x, mask, value):
    dtype = _out_dtype(node)
    return tr.op("Where", [tr.cast(mask, torch.bool), tr.cast(value, dtype), tr.cast(x, dtype)])


@_reg("aten.clamp.default", "aten.clamp.Tensor", "aten.hardtanh.default", "aten.clamp_min.default", "aten.clamp_max.default")
def _clamp(tr, node, x, lo=None, hi=None):
    dtype = _out_dtype(node)
    name = str(node.target)
    if name.startswith("aten.hardtanh") and lo is None:
        lo, hi = -1.0, 1.0
    if name.startswith("aten.clamp_max"):
        lo, hi = None, lo
    v = tr.cast(x, dtype)
    if isinstance(lo, T) or isinstance(hi, T):
        if lo is not None:
            v = tr.op("Max", [v, tr.cast(lo, dtype)])
        if hi is not None:
            v = tr.op("Min", [v, tr.cast(hi, dtype)])
        return v
    return _clip(tr, v, lo, hi, dtype)


def _clip(tr, v, lo, hi, dtype):
    inputs = [v, tr.scalar(lo, dtype) if lo is not None else None]
    if hi is not None:
        inputs.append(tr.scalar(hi, dtype))
    return tr.op("Clip", inputs)


@_reg("aten.gelu.default")
def _gelu(tr, node, x, approximate="none"):
    return tr.op("Gelu", [x.v], approximate=approximate)


@_reg("aten.silu.default")
def _silu(tr, node, x):
    return tr.op("Mul", [x.v, tr.op("Sigmoid", [x.v])])


@_reg("aten.hardswish.default")
def _hardswish(tr, node, x):
    return tr.op("HardSwish", [x.v])


@_reg("aten.hardsigmoid.default")
def _hardsigmoid(tr, node, x):
    return tr.op("HardSigmoid", [x.v], alpha=1.0 / 6, beta=0.5)


@_reg("aten.leaky_relu.default")
def _leaky_relu(tr, node, x, slope=0.01):
    return tr.op("LeakyRelu", [x.v], alpha=float(slope))


@_reg("aten.elu.default")
def _elu(tr, node, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1.0 or input_scale != 1.0:
        raise Unsupported("elu with scale or input_scale other than 1")
    return tr.op("Elu", [x.v], alpha=float(alpha))


@_reg("aten.softplus.default")
def _softplus(tr, node, x, beta=1.0, threshold=20.0):
    if beta == 1.0:
        return tr.op("Softplus", [x.v])
    b = tr.scalar(beta, x.dtype)
    return tr.op("Div", [tr.op("Softplus", [tr.op("Mul", [x.v, b])]), b])


@_reg("aten.mish.default")
def _mish(tr, node, x):
    return tr.op("Mul", [x.v, tr.op("Tanh", [tr.op("Softplus", [x.v])])])


# ---- shapes and data movement -------------------------------------------------------------------


@_reg("aten.view.default", "aten._unsafe_view.default", "aten.reshape.default")
def _view(tr, node, x, shape):
    return tr.op("Reshape", [x.v, tr.ints(shape)])


@_reg("aten.permute.default")
def _permute(tr, node, x, dims):
    return tr.op("Transpose", [x.v], perm=[_axis(d, x.rank) for d in dims])


@_reg("aten.transpose.int")
def _transpose(tr, node, x, a, b):
    perm = list(range(x.rank))
    a, b = _axis(a, x.rank), _axis(b, x.rank)
    perm[a], perm[b] = perm[b], perm[a]
    return tr.op("Transpose", [x.v], perm=perm)


@_reg("aten.t.default", "aten.numpy_T.default")
def _t(tr, node, x):
    return x if x.rank < 2 else tr.op("Transpose", [x.v], perm=list(range(x.rank))[::-1])


@_reg("aten.unsqueeze.default")
def _unsqueeze(tr, node, x, dim):
    return tr.op("Unsqueeze", [x.v, tr.ints([_axis(dim, x.rank + 1)])])


@_reg("aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default")
def _squeeze(tr, node, x, dims=None):
    if dims is None:
        dims = list(range(x.rank))
    elif isinstance(dims, int):
        dims = [dims]
    # torch leaves dims that are not 1 alone; ONNX would refuse them.
    axes = [_axis(d, x.rank) for d in dims if isinstance(x.shape[_axis(d, x.rank)], int) and x.shape[_axis(d, x.rank)] == 1]
    if not axes:
        return x
    return tr.op("Squeeze", [x.v, tr.ints(axes)])


@_reg("aten.expand.default")
def _expand(tr, node, x, sizes, implicit=False):
    # Expand broadcasts bidirectionally, so 1 keeps x's size where torch writes -1.
    sizes = [1 if (isinstance(s, int) and s == -1) else s for s in sizes]
    return tr.op("Expand", [x.v, tr.ints(sizes)])


@_reg("aten.repeat.default")
def _repeat(tr, node, x, repeats):
    # torch allows more repeats than dims: the extra ones are new leading dims of size 1.
    extra = len(repeats) - x.rank
    data = x.v if extra == 0 else tr.op("Reshape", [x.v, tr.op("Concat", [tr.ints([1] * extra), tr.op("Shape", [x.v])], axis=0)])
    return tr.op("Tile", [data, tr.ints(repeats)])


@_reg("aten.slice.Tensor")
def _slice(tr, node, x, dim=0, start=None, end=None, step=1):
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if isinstance(start, int) and isinstance(end, int) and start == 0 and end >= INT64_MAX and step == 1:
        return x
    if isinstance(end, int):
        end = min(end, INT64_MAX)
    return tr.op("Slice", [x.v, tr.ints([start]), tr.ints([end]), tr.ints([_axis(dim, x.rank)]), tr.ints([step])])


@_reg("aten.select.int")
def _select(tr, node, x, dim, index):
    idx = tr.const(np.array(index, np.int64)) if isinstance(index, int) else tr.cast(index, torch.int64)
    return tr.op("Gather", [x.v, idx], axis=_axis(dim, x.rank))


@_reg("aten.cat.default", "aten.concat.default")
def _cat(tr, node, tensors, dim=0):
    dtype = _out_dtype(node)
    parts = [t for t in tensors if not (t.rank == 1 and t.shape[0] == 0)]  # torch skips empty 1-D tensors
    rank = parts[0].rank if parts else 1
    return tr.op("Concat", [tr.cast(t, dtype) for t in parts], axis=_axis(dim, rank))


@_reg("aten.split_with_sizes.default", "aten.split_with_sizes_copy.default")
def _split_with_sizes(tr, node, x, sizes, dim=0):
    return tr.op("Split", [x.v, tr.ints(sizes)], outputs=len(sizes), axis=_axis(dim, x.rank))


@_reg("aten.split.Tensor")
def _split(tr, node, x, size, dim=0):
    total = x.shape[_axis(dim, x.rank)]
    if not isinstance(total, int):
        raise Unsupported("split of a dynamic dimension")
    sizes = [min(size, total - s) for s in range(0, total, size)]
    return _split_with_sizes(tr, node, x, sizes, dim)


@_reg("aten.unbind.int")
def _unbind(tr, node, x, dim=0):
    axis = _axis(dim, x.rank)
    n = x.shape[axis]
    if not isinstance(n, int):
        raise Unsupported("unbind of a dynamic dimension")
    parts = tr.op("Split", [x.v, tr.ints([1] * n)], outputs=n, axis=axis) if n > 1 else [x.v]
    return [tr.op("Squeeze", [p, tr.ints([axis])]) for p in parts]


@_reg("getitem")
def _getitem(tr, node, seq, i):
    return seq[i]


@_reg("aten.embedding.default")
def _embedding(tr, node, weight, indices, *rest):
    return tr.op("Gather", [weight.v, indices.v], axis=0)


@_reg("aten.index_select.default")
def _index_select(tr, node, x, dim, index):
    return tr.op("Gather", [x.v, index.v], axis=_axis(dim, x.rank))


@_reg("aten.gather.default")
def _gather(tr, node, x, dim, index, sparse_grad=False):
    return tr.op("GatherElements", [x.v, index.v], axis=_axis(dim, x.rank))


@_reg("aten.index.Tensor")
def _index(tr, node, x, indices):
    used = [(d, i) for d, i in enumerate(indices) if i is not None]
    if any(i.dtype == torch.bool for _, i in used):
        raise Unsupported("indexing with a boolean mask (data-dependent shape)")
    if len(used) == 1:
        d, idx = used[0]
        return tr.op("Gather", [x.v, idx.v], axis=d)
    out = _index_several(tr, x, used)
    # Shape inference cannot size GatherND's result from symbolic index shapes; torch knows it,
    # and fuse-attention needs it to take an attention mask built this way (transformers 5).
    meta = node.meta.get("val")
    if isinstance(meta, torch.Tensor):
        tr.b.set_type(out, onnx_type(meta.dtype), tr.dims(meta.shape, node.name))
    return out


def _index_several(tr, x, used):
    """x[i, j] with several index tensors (transformers' attention masks index a padding mask by
    broadcast batch and position aranges): one GatherND over the indexed dims moved to the front."""
    dims = [d for d, _ in used]
    rest = [d for d in range(x.rank) if d not in dims]
    data = x.v if dims == list(range(len(dims))) else tr.op("Transpose", [x.v], perm=dims + rest)
    # The index tensors broadcast against each other: adding their zeros gives the common shape.
    ints = [tr.cast(i, torch.int64) for _, i in used]
    zero = tr.op("Mul", [ints[0], tr.scalar(0, torch.int64)])
    for i in ints[1:]:
        zero = tr.op("Add", [zero, tr.op("Mul", [i, tr.scalar(0, torch.int64)])])
    last = tr.ints([-1])
    coords = tr.op("Concat", [tr.op("Unsqueeze", [tr.op("Add", [i, zero]), last]) for i in ints], axis=-1)
    out = tr.op("GatherND", [data, coords])
    first = dims[0]
    if first == 0 or dims != list(range(first, first + len(dims))):
        return out  # PyTorch puts the broadcast index dims first too
    # Adjacent indexed dims stay where they were, after the dims before them.
    nb = max(i.rank for _, i in used)
    perm = [nb + j for j in range(first)] + list(range(nb)) + [nb + first + j for j in range(len(rest) - first)]
    return tr.op("Transpose", [out], perm=perm)


@_reg("aten.flip.default")
def _flip(tr, node, x, dims):
    axes = [_axis(d, x.rank) for d in dims]
    n = len(axes)
    return tr.op("Slice", [x.v, tr.ints([-1] * n), tr.ints([INT64_MIN] * n), tr.ints(axes), tr.ints([-1] * n)])


@_reg("aten.cumsum.default")
def _cumsum(tr, node, x, dim, dtype=None):
    out = _out_dtype(node)
    return tr.op("CumSum", [tr.cast(x, out), tr.const(np.array(_axis(dim, x.rank), np.int64))])


@_reg("aten.constant_pad_nd.default")
def _pad(tr, node, x, pad, value=0):
    begins, ends = [0] * x.rank, [0] * x.rank
    for i in range(len(pad) // 2):
        axis = x.rank - 1 - i
        begins[axis], ends[axis] = pad[2 * i], pad[2 * i + 1]
    return tr.op("Pad", [x.v, tr.ints(begins + ends), tr.scalar(value, x.dtype)], mode="constant")


# ---- creation ------------------------------------------------------------------------------------


@_reg("aten.full.default", "aten.full_like.default", "aten.zeros_like.default", "aten.ones_like.default",
      "aten.zeros.default", "aten.ones.default", "aten.empty.memory_format", "aten.empty_like.default",
      "aten.new_zeros.default", "aten.new_ones.default", "aten.new_full.default")
def _full(tr, node, *args, **kw):
    dtype = _out_dtype(node)
    name = str(node.target)
    fill = {"zeros": 0, "ones": 1, "empty": 0}.get(name.split(".")[1].replace("_like", "").replace("new_", ""), None)
    if fill is None:  # full(size, v), full_like(x, v), new_full(x, size, v)
        position = 2 if name.startswith("aten.new_") else 1
        fill = args[position] if len(args) > position else kw.get("fill_value")
    if "_like" in name:
        shape = tr.op("Shape", [args[0].v])
    elif name.startswith("aten.new_"):
        shape = tr.ints(args[1])
    else:
        shape = tr.ints(args[0])
    if isinstance(fill, T):
        return tr.op("Expand", [tr.cast(fill, dtype), shape])
    compute = torch.float32 if dtype == torch.bfloat16 else dtype
    value = np.array([fill], _DTYPES[compute][1])
    out = tr.op("ConstantOfShape", [shape], value=value)
    return out if compute == dtype else tr.op("Cast", [out], to=onnx_type(dtype))


@_reg("aten.scalar_tensor.default")
def _scalar_tensor(tr, node, value, **kw):
    return tr.cast(value, _out_dtype(node))


@_reg("aten.arange.start_step", "aten.arange.default", "aten.arange.start")
def _arange(tr, node, *args, **kw):
    dtype = _out_dtype(node)
    args = list(args)
    if str(node.target) == "aten.arange.default":
        args = [0] + args
    start, end = args[0], args[1]
    step = args[2] if len(args) > 2 else kw.get("step", 1)
    if all(isinstance(a, (int, float)) for a in (start, end, step)):
        values = torch.arange(start, end, step, dtype=dtype)
        return tr.const(_array_of(values)) if dtype != torch.bfloat16 else tr.cast(T(tr.const(_array_of(values.float())), torch.float32, []), dtype)
    return tr.op("Range", [tr.cast(start, dtype), tr.cast(end, dtype), tr.cast(step, dtype)])


# ---- reductions -----------------------------------------------------------------------------------


def _reduce(onnx_op):
    def fn(tr, node, x, dims=None, keepdim=False, *rest, **kw):
        dtype = _out_dtype(node)
        if isinstance(dims, int):
            dims = [dims]
        inputs = [tr.cast(x, dtype)]
        if dims:
            inputs.append(tr.ints([_axis(d, x.rank) for d in dims]))
        return tr.op(onnx_op, inputs, keepdims=int(bool(keepdim)))

    return fn


_OPS["aten.mean.dim"] = _reduce("ReduceMean")
_OPS["aten.sum.dim_IntList"] = _reduce("ReduceSum")
_OPS["aten.amax.default"] = _reduce("ReduceMax")
_OPS["aten.amin.default"] = _reduce("ReduceMin")
_OPS["aten.prod.dim_int"] = _reduce("ReduceProd")


@_reg("aten.mean.default", "aten.sum.default")
def _reduce_all(tr, node, x, dtype=None):
    out = _out_dtype(node)
    return tr.op("ReduceMean" if "mean" in str(node.target) else "ReduceSum", [tr.cast(x, out)], keepdims=0)


@_reg("aten.any.dim", "aten.any.dims", "aten.all.dim", "aten.any.default", "aten.all.default")
def _any_all(tr, node, x, dims=None, keepdim=False):
    as_int = tr.op("Cast", [tr.cast(x, torch.bool)], to=7)
    op = "ReduceMax" if "any" in str(node.target) else "ReduceMin"
    if isinstance(dims, int):
        dims = [dims]
    inputs = [as_int] + ([tr.ints([_axis(d, x.rank) for d in dims])] if dims else [])
    return tr.op("Cast", [tr.op(op, inputs, keepdims=int(bool(keepdim)))], to=9)


@_reg("aten.max.dim", "aten.min.dim")
def _max_dim(tr, node, x, dim, keepdim=False):
    is_max = "max" in str(node.target)
    values = tr.op("ReduceMax" if is_max else "ReduceMin", [x.v, tr.ints([_axis(dim, x.rank)])], keepdims=int(keepdim))
    idx = tr.op("ArgMax" if is_max else "ArgMin", [x.v], axis=_axis(dim, x.rank), keepdims=int(keepdim), select_last_index=0)
    return [values, idx]


@_reg("aten.argmax.default", "aten.argmin.default")
def _argmax(tr, node, x, dim=None, keepdim=False):
    op = "ArgMax" if "argmax" in str(node.target) else "ArgMin"
    if dim is None:
        flat = tr.op("Reshape", [x.v, tr.ints([-1])])
        return tr.op(op, [flat], axis=0, keepdims=int(keepdim))
    return tr.op(op, [x.v], axis=_axis(dim, x.rank), keepdims=int(keepdim))


@_reg("aten._softmax.default", "aten.softmax.int")
def _softmax(tr, node, x, dim, *rest):
    dtype = _out_dtype(node)
    return tr.op("Softmax", [tr.cast(x, dtype)], axis=_axis(dim, x.rank))


@_reg("aten._log_softmax.default", "aten.log_softmax.int")
def _log_softmax(tr, node, x, dim, *rest):
    dtype = _out_dtype(node)
    return tr.op("LogSoftmax", [tr.cast(x, dtype)], axis=_axis(dim, x.rank))


# ---- linear algebra and neural-network layers ----------------------------------------------------


@_reg("aten.mm.default", "aten.bmm.default", "aten.matmul.default")
def _matmul(tr, node, a, b):
    return tr.op("MatMul", [a.v, b.v])


@_reg("aten.linear.default")
def _linear(tr, node, x, w, b=None):
    if x.rank == 2 and w.rank == 2:
        return tr.op("Gemm", [x.v, w.v] + ([b.v] if b is not None else []), transB=1)
    wt = tr.op("Transpose", [w.v], perm=[1, 0]) if w.rank == 2 else w.v
    y = tr.op("MatMul", [x.v, wt])
    return tr.op("Add", [y, b.v]) if b is not None else y


@_reg("aten.addmm.default")
def _addmm(tr, node, bias, a, b, beta=1, alpha=1):
    return tr.op("Gemm", [a.v, b.v, bias.v], alpha=float(alpha), beta=float(beta))


@_reg("aten.convolution.default")
def _convolution(tr, node, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    n = x.rank - 2
    stride, dilation = list(stride) * (n if len(stride) == 1 else 1), list(dilation) * (n if len(dilation) == 1 else 1)
    padding = list(padding) * (n if len(padding) == 1 else 1)
    inputs = [x.v, w.v] + ([b.v] if b is not None else [])
    attrs = dict(strides=stride, pads=padding + padding, dilations=dilation, group=int(groups))
    if transposed:
        output_padding = list(output_padding) * (n if len(output_padding) == 1 else 1)
        return tr.op("ConvTranspose", inputs, output_padding=output_padding, **attrs)
    return tr.op("Conv", inputs, **attrs)


def _pool_attrs(n, kernel, stride, padding, dilation=None):
    kernel = list(kernel) * (n if len(kernel) == 1 else 1)
    stride = list(stride) * (n if len(stride) == 1 else 1) if stride else kernel
    padding = list(padding) * (n if len(padding) == 1 else 1)
    attrs = dict(kernel_shape=kernel, strides=stride, pads=padding + padding)
    if dilation is not None:
        attrs["dilations"] = list(dilation) * (n if len(dilation) == 1 else 1)
    return attrs


@_reg("aten.max_pool2d_with_indices.default", "aten.max_pool2d.default", "aten.max_pool1d.default",
      "aten.max_pool3d_with_indices.default")
def _max_pool(tr, node, x, kernel, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    out = tr.op("MaxPool", [x.v], ceil_mode=int(ceil_mode), **_pool_attrs(x.rank - 2, kernel, stride, padding, dilation))
    if "with_indices" in str(node.target):
        if any(u.target is operator.getitem and u.args[1] == 1 for u in node.users):
            raise Unsupported("max-pool indices (their layout differs from ONNX's)")
        return [out, None]
    return out


@_reg("aten.avg_pool2d.default", "aten.avg_pool1d.default", "aten.avg_pool3d.default")
def _avg_pool(tr, node, x, kernel, stride=(), padding=(0,), ceil_mode=False, count_include_pad=True, divisor_override=None):
    if divisor_override is not None:
        raise Unsupported("avg_pool with divisor_override")
    return tr.op("AveragePool", [x.v], ceil_mode=int(ceil_mode), count_include_pad=int(count_include_pad),
                 **_pool_attrs(x.rank - 2, kernel, stride, padding))


@_reg("aten._adaptive_avg_pool2d.default", "aten.adaptive_avg_pool2d.default")
def _adaptive_avg_pool(tr, node, x, output_size):
    if all(s == 1 for s in output_size):
        return tr.op("GlobalAveragePool", [x.v])
    spatial = x.shape[2:]
    if not all(isinstance(s, int) and s % o == 0 for s, o in zip(spatial, output_size)):
        raise Unsupported("adaptive average pooling whose output size does not divide the input size")
    kernel = [s // o for s, o in zip(spatial, output_size)]
    return tr.op("AveragePool", [x.v], kernel_shape=kernel, strides=kernel)


@_reg("aten._native_batch_norm_legit_no_training.default")
def _batch_norm(tr, node, x, w, b, mean, var, momentum, eps):
    c = x.shape[1]
    if w is None or b is None:
        if not isinstance(c, int):
            raise Unsupported("batch norm without affine parameters on a dynamic channel count")
        np_dtype = _DTYPES[x.dtype][1]
        w = w or T(tr.const(np.ones([c], np_dtype)), x.dtype, [c])
        b = b or T(tr.const(np.zeros([c], np_dtype)), x.dtype, [c])
    y = tr.op("BatchNormalization", [x.v, w.v, b.v, mean.v, var.v], epsilon=float(eps))
    return [y, None, None]


@_reg("aten.native_group_norm.default")
def _group_norm(tr, node, x, w, b, n, c, hw, groups, eps):
    if w is None or b is None:
        if not isinstance(c, int):
            raise Unsupported("group norm without affine parameters on a dynamic channel count")
        np_dtype = _DTYPES[x.dtype][1]
        w = w or T(tr.const(np.ones([c], np_dtype)), x.dtype, [c])
        b = b or T(tr.const(np.zeros([c], np_dtype)), x.dtype, [c])
    # GroupNormalization-21: per-channel scale and bias, as torch's.
    y = tr.op("GroupNormalization", [x.v, w.v, b.v], num_groups=int(groups), epsilon=float(eps))
    return [y, None, None]  # the saved mean and rstd are for the backward pass


@_reg("aten.upsample_nearest2d.vec", "aten.upsample_nearest1d.vec", "aten.upsample_nearest3d.vec")
def _upsample_nearest(tr, node, x, output_size, scale_factors=None):
    """torch's nearest: source index floor(dst * in / out), ONNX Resize's asymmetric + floor."""
    attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    if output_size is not None:
        # Resize-19 `axes` would do; sizes of all dims keep the lowering to one form.
        leading = tr.op("Slice", [tr.op("Shape", [x.v]), tr.ints([0]), tr.ints([2])])
        sizes = tr.op("Concat", [leading, tr.ints(output_size)], axis=0)
        return tr.op("Resize", [x.v, None, None, sizes], **attrs)
    if scale_factors is None:
        raise Unsupported("nearest upsampling with neither an output size nor scale factors")
    scales = tr.const(np.array([1.0, 1.0] + [float(f) for f in scale_factors], np.float32))
    return tr.op("Resize", [x.v, None, scales], **attrs)


@_reg("aten.layer_norm.default")
def _layer_norm(tr, node, x, shape, w=None, b=None, eps=1e-5, cudnn=False):
    if w is None:
        w = T(tr.const(np.ones(list(shape), _DTYPES[x.dtype][1])), x.dtype, list(shape))
    inputs = [x.v, w.v] + ([b.v] if b is not None else [])
    return tr.op("LayerNormalization", inputs, axis=-len(shape), epsilon=float(eps))


@_reg("aten.scaled_dot_product_attention.default")
def _sdpa(tr, node, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """softmax(scale * Q Kᵀ + mask) V written out in the form fuse-attention recognises (it then
    becomes one Attention / OpenVINO ScaledDotProductAttention)."""
    if dropout_p:
        raise Unsupported("attention dropout (call model.eval() first)")
    if enable_gqa and q.shape[-3] != k.shape[-3]:
        raise Unsupported("grouped-query attention through enable_gqa")
    if scale is None:
        if not isinstance(q.shape[-1], int):
            raise Unsupported("attention with a dynamic head size and no explicit scale")
        scale = 1.0 / math.sqrt(q.shape[-1])
    dtype = q.dtype
    perm = list(range(k.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    scores = tr.op("MatMul", [q.v, tr.op("Transpose", [k.v], perm=perm)])
    scores = tr.op("Mul", [scores, tr.scalar(scale, dtype)])
    if is_causal:
        # tril(ones(S, L)) as a masked_fill condition, as HF code writes a causal mask.
        q_len = tr.op("Gather", [tr.op("Shape", [q.v]), tr.const(np.array([q.rank - 2], np.int64))], axis=0)
        k_len = tr.op("Gather", [tr.op("Shape", [k.v]), tr.const(np.array([k.rank - 2], np.int64))], axis=0)
        ones = tr.op("ConstantOfShape", [tr.op("Concat", [q_len, k_len], axis=0)], value=np.array([True]))
        keep = tr.op("Trilu", [ones], upper=0)
        lowest = float(torch.finfo(dtype).min)
        scores = tr.op("Where", [tr.op("Not", [keep]), tr.scalar(lowest, dtype), scores])
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            mask = tr.op("Where", [attn_mask.v, tr.scalar(0.0, dtype), tr.scalar(float("-inf"), dtype)])
        else:
            mask = tr.cast(attn_mask, dtype)
        scores = tr.op("Add", [scores, mask])
    return tr.op("MatMul", [tr.op("Softmax", [scores], axis=-1), v.v])


def _rnn(tr, node, kind, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """torch's multi-layer (bi)LSTM / GRU as one ONNX LSTM / GRU per layer. Gate order differs:
    torch LSTM i,f,g,o -> ONNX i,o,f,c; torch GRU r,z,n -> ONNX z,r,h (linear_before_reset=1 is
    torch's GRU). Weights are reordered by Split/Concat in the graph (folded, or left to the
    runtime for big weights), so the frontend copies nothing."""
    if train and dropout:
        raise Unsupported("recurrent dropout in training mode (call model.eval() first)")
    gates = 4 if kind == "LSTM" else 3
    order = [0, 3, 1, 2] if kind == "LSTM" else [1, 0, 2]
    dirs = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    w_ih = params[0]
    hidden = w_ih.shape[0] // gates
    if not isinstance(hidden, int):
        raise Unsupported("a recurrent layer with a dynamic hidden size")

    def reorder(t):
        parts = tr.op("Split", [t.v, tr.ints([hidden] * gates)], outputs=gates, axis=0)
        return tr.op("Concat", [parts[i] for i in order], axis=0)

    def stacked(values):
        return tr.op("Concat", [tr.op("Unsqueeze", [v, tr.ints([0])]) for v in values], axis=0)

    seq = tr.op("Transpose", [x.v], perm=[1, 0, 2]) if batch_first else x.v
    states = hx if kind == "LSTM" else [hx]
    last_h, last_c = [], []
    for layer in range(num_layers):
        group = [params[(layer * dirs + d) * per:(layer * dirs + d + 1) * per] for d in range(dirs)]
        w = stacked([reorder(g[0]) for g in group])
        r = stacked([reorder(g[1]) for g in group])
        inputs = [seq, w, r]
        if has_biases:
            inputs.append(stacked([tr.op("Concat", [reorder(g[2]), reorder(g[3])], axis=0) for g in group]))
        else:
            inputs.append(None)
        inputs.append(None)  # sequence_lens: every sequence is full length
        span = [tr.ints([layer * dirs]), tr.ints([(layer + 1) * dirs]), tr.ints([0])]
        inputs += [tr.op("Slice", [s.v] + span) for s in states]
        attrs = dict(hidden_size=hidden, direction="bidirectional" if bidirectional else "forward")
        if kind == "GRU":
            attrs["linear_before_reset"] = 1
        outs = tr.op(kind, inputs, outputs=3 if kind == "LSTM" else 2, **attrs)
        # Y [seq, dirs, batch, hidden] -> [seq, batch, dirs * hidden], the next layer's input
        y = tr.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])
        seq = tr.op("Reshape", [y, tr.ints([0, 0, -1])])
        last_h.append(outs[1])
        if kind == "LSTM":
            last_c.append(outs[2])
    out = tr.op("Transpose", [seq], perm=[1, 0, 2]) if batch_first else seq
    h = tr.op("Concat", last_h, axis=0) if num_layers > 1 else last_h[0]
    if kind == "GRU":
        return [out, h]
    c = tr.op("Concat", last_c, axis=0) if num_layers > 1 else last_c[0]
    return [out, h, c]


@_reg("aten.lstm.input")
def _lstm(tr, node, *args):
    return _rnn(tr, node, "LSTM", *args)


@_reg("aten.gru.input")
def _gru(tr, node, *args):
    return _rnn(tr, node, "GRU", *args)


# ---- scalar (SymInt) arithmetic: sizes computed from dynamic dims --------------------------------


@_reg("aten.sym_size.int")
def _sym_size(tr, node, x, dim):
    return tr.op("Gather", [tr.op("Shape", [x.v]), tr.const(np.array(_axis(dim, x.rank), np.int64))], axis=0)


def _sym_binary(onnx_op, py_op):
    def fn(tr, node, a, b):
        if not isinstance(a, T) and not isinstance(b, T):
            return py_op(a, b)  # both known: Python computes it
        floats = py_op is operator.truediv or any(
            isinstance(v, float) or (isinstance(v, T) and v.dtype.is_floating_point) for v in (a, b)
        )
        dtype = torch.float32 if floats else torch.int64
        return tr.op(onnx_op, [tr.cast(a, dtype), tr.cast(b, dtype)])

    return fn


_OPS.update({
    "mul": _sym_binary("Mul", operator.mul),
    "add": _sym_binary("Add", operator.add),
    "sub": _sym_binary("Sub", operator.sub),
    "floordiv": _sym_binary("Div", operator.floordiv),  # sizes are non-negative: truncation = floor
    "truediv": _sym_binary("Div", operator.truediv),
    "mod": _sym_binary("Mod", operator.mod),
})


@_reg("sym_float", "sym_int")
def _sym_convert(tr, node, a):
    if not isinstance(a, T):
        return float(a) if node.target.__name__ == "sym_float" else int(a)
    return tr.cast(a, torch.float32 if node.target.__name__ == "sym_float" else torch.int64)


# ---- control flow -----------------------------------------------------------------------------


@_reg("higher_order.cond")
def _cond(tr, node, pred, true_gm, false_gm, operands):
    branches = []
    outer = tr.graph
    n_out = None
    for name, gm in (("then_branch", true_gm), ("else_branch", false_gm)):
        sub = tr.b.subgraph(f"{node.name}_{name}", outer)
        tr.graph = sub
        env = {}
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        for p, v in zip(placeholders, operands):
            env[p.name] = v  # If bodies read outer values directly
        outs = tr.run(gm, env)
        for o in outs:
            val = o.v if isinstance(o, T) else tr.cast(o, torch.int64)
            tr.b.output(val, graph=sub)
        n_out = len(outs)
        tr.graph = outer
        branches.append(sub)
    tr._node_name = node.name
    outs = tr.op("If", [tr.cast(pred, torch.bool)], outputs=n_out, then_branch=branches[0], else_branch=branches[1])
    return outs if n_out > 1 else [outs]


# ==== ops of torch.export's own graph, translated without the decomposition retrace =============
#
# torch.export.export gives a graph of composite ATen ops (conv2d, batch_norm, flatten, ...) that may
# mutate intermediates in place (relu_, add_). `run_decompositions` retraces the whole program
# through fake tensors and functionalization to lower them, which costs more than the rest of the
# conversion (ResNet-50: 1.8 s of 2.7 s) and keeps torch's tracing caches alive. When every op of
# the graph is translatable as it is and no in-place op can be seen through an alias, the graph is
# translated directly; otherwise it is decomposed as before.


class _NeedsDecomposition(Exception):
    """An op of the exported graph in a form only its decomposition handles."""


@_reg("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default")
def _conv_nd(tr, node, x, w, b=None, stride=(1,), padding=(0,), dilation=(1,), groups=1):
    return _convolution(tr, node, x, w, b, stride, padding, dilation, False, (0,), groups)


@_reg("aten.batch_norm.default")
def _batch_norm_composite(tr, node, x, w, b, mean, var, training, momentum, eps, cudnn_enabled=False):
    if training or mean is None or var is None:
        raise _NeedsDecomposition("batch norm with batch statistics")
    return _batch_norm(tr, node, x, w, b, mean, var, momentum, eps)[0]


@_reg("aten.group_norm.default")
def _group_norm_composite(tr, node, x, groups, w=None, b=None, eps=1e-5, cudnn_enabled=False):
    return _group_norm(tr, node, x, w, b, None, x.shape[1], None, groups, eps)[0]


@_reg("aten.flatten.using_ints")
def _flatten(tr, node, x, start=0, end=-1):
    if x.rank == 0:
        return tr.op("Reshape", [x.v, tr.ints([1])])
    start, end = _axis(start, x.rank), _axis(end, x.rank)
    if start == end:
        return x
    tail = x.shape[end + 1:]
    if not all(isinstance(d, int) for d in tail):
        raise _NeedsDecomposition("flatten before a dynamic dimension")
    # Reshape's 0 keeps the input's size at that position: the leading dims stay as they are.
    return tr.op("Reshape", [x.v, tr.ints([0] * start + [-1] + list(tail))])


@_reg("aten.tril.default", "aten.triu.default")
def _trilu(tr, node, x, diagonal=0):
    k = tr.const(np.array(diagonal, np.int64)) if isinstance(diagonal, int) else tr.cast(diagonal, torch.int64)
    return tr.op("Trilu", [x.v, k], upper=int(str(node.target) == "aten.triu.default"))


@_reg("aten.to.device", "aten.to.dtype_layout")
def _to_other(tr, node, x, *args, **kw):
    return tr.cast(x, _out_dtype(node))


@_reg("aten.__and__.Tensor", "aten.__or__.Tensor", "aten.__xor__.Tensor")
def _bitwise_dunder(tr, node, a, b):
    name = str(node.target).split(".")[1].strip("_")
    dtype = _out_dtype(node)
    kind = {"and": "And", "or": "Or", "xor": "Xor"}[name]
    return tr.op(kind if dtype == torch.bool else "Bitwise" + kind, [tr.cast(a, dtype), tr.cast(b, dtype)])


@_reg("aten.pad.default")
def _pad_composite(tr, node, x, pad, mode="constant", value=None):
    if mode != "constant":
        raise _NeedsDecomposition(f"{mode} padding")
    return _pad(tr, node, x, pad, 0 if value is None else value)


@_reg("aten.chunk.default")
def _chunk(tr, node, x, chunks, dim=0):
    parts = node.meta.get("val")
    axis = _axis(dim, x.rank)
    sizes = [p.shape[axis] for p in parts] if isinstance(parts, (list, tuple)) else []
    if not sizes or not all(isinstance(s, int) for s in sizes):
        raise _NeedsDecomposition("chunk of a dynamic dimension")
    return _split_with_sizes(tr, node, x, sizes, axis) if len(sizes) > 1 else [x]


@_reg("aten.stack.default")
def _stack(tr, node, tensors, dim=0):
    dtype = _out_dtype(node)
    axis = _axis(dim, tensors[0].rank + 1)
    return tr.op("Concat", [tr.op("Unsqueeze", [tr.cast(t, dtype), tr.ints([axis])]) for t in tensors], axis=axis)


@_reg("aten.diff.default")
def _diff(tr, node, x, n=1, dim=-1, prepend=None, append=None):
    axis = _axis(dim, x.rank)
    dtype = _out_dtype(node)
    parts = [t for t in (prepend, x, append) if t is not None]
    if any(not isinstance(t, T) or t.rank != x.rank for t in parts):
        raise _NeedsDecomposition("diff with scalar prepend/append")
    v = tr.op("Concat", [tr.cast(t, x.dtype) for t in parts], axis=axis) if len(parts) > 1 else x.v
    for _ in range(n):
        later = tr.op("Slice", [v, tr.ints([1]), tr.ints([INT64_MAX]), tr.ints([axis])])
        earlier = tr.op("Slice", [v, tr.ints([0]), tr.ints([-1]), tr.ints([axis])])
        v = tr.op("Xor", [later, earlier]) if x.dtype == torch.bool else tr.op("Sub", [later, earlier])
    return v if dtype == x.dtype else tr.cast(T(v, x.dtype, []), dtype)


def _dropout(tr, node, x, p=0.5, train=False):
    if train and p > 0:
        raise _NeedsDecomposition("dropout in training mode")
    return x


_OPS["aten.dropout.default"] = _dropout


def _inplace_key(target) -> Optional[str]:
    """'aten.relu.default' for aten.relu_.default: the functional op an in-place op computes."""
    if not isinstance(target, torch._ops.OpOverload) or not target._schema.is_mutable:
        return None
    name = target._schema.name.split("::")[-1]
    if not name.endswith("_") or name.endswith("__"):
        return None
    key = f"aten.{name[:-1]}.{target._overloadname}"
    return key if key in _OPS and key not in ("aten.copy.default",) else None


def _returns_alias(node) -> bool:
    target = node.target
    if target is operator.getitem:
        return _returns_alias(node.args[0]) if isinstance(node.args[0], torch.fx.Node) else True
    if not isinstance(target, torch._ops.OpOverload):
        return True  # higher-order ops, Python functions: unknown, so assumed to alias
    return any(r.alias_info is not None for r in target._schema.returns)


def _writable(node) -> bool:
    """Whether an in-place op may overwrite `node`'s tensor as if it made a new one: nothing else
    reads it and it is not a view of another tensor (nor an input, a weight or a constant)."""
    if node.op != "call_function" or len(node.users) != 1:
        return False
    if _inplace_key(node.target) is not None:
        return isinstance(node.args[0], torch.fx.Node) and _writable(node.args[0])
    return not _returns_alias(node)


def _direct_translatable(gm) -> bool:
    """Whether the exported graph can be translated without run_decompositions."""
    for node in _all_nodes(gm):
        if node.op != "call_function":
            continue
        key = _op_key(node.target)
        if key in _OPS:
            if isinstance(node.target, torch._ops.OpOverload) and node.target._schema.is_mutable:
                return False
            continue
        if _inplace_key(node.target) is None:
            return False
        mutated = node.args[0] if node.args else None
        if not isinstance(mutated, torch.fx.Node) or not _writable(mutated):
            return False
    return True


# ==== entry points ================================================================================


def _example_args(example_input):
    """(args, kwargs) from a tensor, a tuple/list or a dict, as openvino.convert_model takes them."""
    if example_input is None:
        return None, None
    if isinstance(example_input, torch.Tensor):
        return (example_input,), {}
    if isinstance(example_input, dict):
        return (), dict(example_input)
    if isinstance(example_input, (list, tuple)):
        return tuple(example_input), {}
    if isinstance(example_input, np.ndarray):
        return (torch.from_numpy(example_input),), {}
    raise TypeError(f"example_input must be a tensor, a tuple/list or a dict of them, not {type(example_input).__name__}")


def _forward_names(module) -> List[str]:
    import inspect

    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return []
    return [p for p, spec in params.items() if spec.kind in (spec.POSITIONAL_ONLY, spec.POSITIONAL_OR_KEYWORD, spec.KEYWORD_ONLY)]


def _input_specs(input, names: List[str]):
    """InputSpecs from `input=` keyed by forward() argument name."""
    if input is None:
        return {}
    from irforge import inputs as _inputs

    specs = _inputs.normalize_input(input)
    out = {}
    for i, s in enumerate(specs):
        name = s.name if s.name is not None else (names[i] if i < len(names) else None)
        if name is None or name not in names:
            raise UsageError(f"input=: '{s.name or i}' is not an argument of forward() ({', '.join(names)})")
        if s.value is not None:
            raise UnsupportedError(f"input=: freezing '{name}' to a value is not supported for PyTorch models; pass it to forward() instead")
        out[name] = s
    return out


def _dynamic_shapes(args, kwargs, names, specs):
    """torch.export dynamic_shapes from input= shapes: -1 (or a range) marks a dynamic dim."""
    if not specs:
        return None
    from torch.export import Dim

    def for_arg(name, value):
        s = specs.get(name)
        if s is None or s.shape is None or not isinstance(value, torch.Tensor):
            return None
        if len(s.shape) != value.dim():
            raise UsageError(f"input=: '{name}' has rank {len(s.shape)} but its example input has rank {value.dim()}")
        for d, (want, have) in enumerate(zip(s.shape, value.shape)):
            if want >= 0 and want != have:
                raise UsageError(f"input=: '{name}' dim {d} is {want} but the example input's is {have}")
        dyn = {d: Dim.DYNAMIC for d, want in enumerate(s.shape) if want < 0}
        return dyn or None

    positional = tuple(for_arg(names[i] if i < len(names) else "", a) for i, a in enumerate(args))
    if kwargs:
        return {**{names[i]: p for i, p in enumerate(positional)}, **{k: for_arg(k, v) for k, v in kwargs.items()}}
    return positional


def _examples_from_input(specs, names):
    """Random example tensors when only input= shapes are given (every dim must be known)."""

    args = []
    for name in names:
        s = specs.get(name)
        if s is None:
            break
        if s.shape is None or any(d < 0 for d in s.shape):
            raise UsageError(f"input=: '{name}' needs a full shape, or give example_input=")
        dtype = getattr(torch, s.type) if s.type else torch.float32
        t = torch.randn(s.shape).to(dtype) if dtype.is_floating_point else torch.zeros(s.shape, dtype=dtype)
        args.append(t)
    return tuple(args)


def export_module(module, example_input=None, input=None):
    """torch.export of an nn.Module with dims made dynamic by `input=`."""
    names = _forward_names(module)
    specs = _input_specs(input, names)
    args, kwargs = _example_args(example_input)
    if args is None:
        if not specs:
            raise UsageError("converting a torch.nn.Module needs example_input= (or input= with full shapes)")
        args, kwargs = _examples_from_input(specs, names), {}
    dynamic = _dynamic_shapes(args, kwargs, names, specs)
    try:
        with torch.no_grad():
            return torch.export.export(module, args, kwargs, dynamic_shapes=dynamic)
    except Exception as e:  # torch's own message says what in the model stops the export
        raise UnsupportedError(f"torch.export could not capture {type(module).__name__}: {type(e).__name__}: {e}") from None


def _decompose(ep):
    table = torch.export.default_decompositions()
    for key in _KEEP:
        op = eval(f"torch.ops.{key}")  # noqa: S307 - keys are the literals above
        table.pop(op, None)
    return ep.run_decompositions(table)


def _output_names(ep, count: int) -> List[str]:
    import torch.utils._pytree as pytree

    try:
        structure = pytree.tree_unflatten(list(range(count)), ep.call_spec.out_spec)
        leaves = pytree.tree_flatten_with_path(structure)[0]
    except Exception:  # noqa: BLE001 - unusual output containers: fall back to positions
        leaves = [((pytree.SequenceKey(i),), i) for i in range(count)]
    if count == 1 and not leaves[0][0]:
        return ["output"]
    names = []
    for path, _ in leaves:
        parts = []
        for k in path:
            part = getattr(k, "key", None)
            part = getattr(k, "name", part) if part is None else part
            part = getattr(k, "idx", part) if part is None else part
            parts.append(str(part))
        names.append("output_" + "_".join(parts) if all(p.isdigit() for p in parts) else ".".join(parts))
    return names


def _archive_weights(path: str) -> Dict[str, tuple]:
    """{weight name: (byte offset, size)} of the weights a .pt2 archive stores uncompressed and
    unpickled, so they can be memory-mapped from the archive instead of held in memory."""
    import json
    import struct
    import zipfile

    out: Dict[str, tuple] = {}
    try:
        with zipfile.ZipFile(path) as z, open(path, "rb") as f:
            configs = [n for n in z.namelist() if n.endswith("data/weights/model_weights_config.json")]
            if len(configs) != 1:
                return {}
            prefix = configs[0][: -len("model_weights_config.json")]
            for name, entry in json.loads(z.read(configs[0])).get("config", {}).items():
                if entry.get("use_pickle"):
                    continue
                info = z.getinfo(prefix + entry["path_name"])
                if info.compress_type != zipfile.ZIP_STORED:
                    continue
                f.seek(info.header_offset)
                header = f.read(30)
                if len(header) != 30 or header[:4] != b"PK\x03\x04":
                    continue
                name_len, extra_len = struct.unpack("<HH", header[26:30])
                out[name] = (info.header_offset + 30 + name_len + extra_len, info.file_size)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return {}  # weights then come from the loaded program
    return out


def translate_program(ep, source: str, archive: Optional[str] = None):
    """Translates an ExportedProgram (already exported) into an irforge Model. With `archive`
    (the .pt2 it was loaded from), weights stored plainly in it are memory-mapped from there."""
    if _direct_translatable(ep.graph_module):
        try:
            return _translate(ep, source, archive)
        except _NeedsDecomposition:
            pass  # an op in a form only its decomposition handles: translate the decomposed program
    try:
        return _translate(_decompose(ep), source, archive)
    except _NeedsDecomposition as e:
        raise UnsupportedError(f"{source}: {e} is not supported") from None


def _translate(ep, source: str, archive: Optional[str]):
    from torch.export.graph_signature import InputKind, OutputKind

    gm = ep.graph_module
    tr = _Translator(ep, source)
    tr.check_supported(gm)
    env: Dict[str, Any] = {}
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    weights = {**ep.state_dict, **ep.constants}
    in_archive = _archive_weights(archive) if archive else {}
    for node, spec in zip(placeholders, ep.graph_signature.input_specs):
        meta = node.meta.get("val")
        if spec.kind == InputKind.USER_INPUT:
            if not isinstance(meta, torch.Tensor):
                # A non-tensor argument was specialized by torch.export; it is a constant here.
                env[node.name] = meta
                continue
            v = tr.b.input(spec.arg.name, onnx_type(meta.dtype), tr.dims(meta.shape, spec.arg.name))
            env[node.name] = T(v, meta.dtype, list(meta.shape))
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            tensor = weights[spec.target]
            if not isinstance(tensor, torch.Tensor):
                raise UnsupportedError(f"{source}: constant '{spec.target}' is a {type(tensor).__name__}, not a tensor")
            placed = in_archive.get(spec.target)
            if placed is not None and tensor.is_contiguous() and placed[1] == tensor.numel() * tensor.element_size():
                v = tr.b.constant_from_file(spec.target, archive, placed[0], onnx_type(tensor.dtype), list(tensor.shape))
            else:
                array = _array_of(tensor)
                v = tr.b.constant(spec.target, array, dtype=onnx_type(tensor.dtype), shape=list(tensor.shape))
            env[node.name] = T(v, tensor.dtype, list(tensor.shape))
        else:
            raise UnsupportedError(f"{source}: program input '{node.name}' of kind {spec.kind.name} is not supported")
    outs = tr.run(gm, env)
    kinds = [s.kind for s in ep.graph_signature.output_specs]
    user = [o for o, k in zip(outs, kinds) if k == OutputKind.USER_OUTPUT]
    out_nodes = [n for n in _flat(next(n for n in gm.graph.nodes if n.op == "output").args[0])]
    user_nodes = [n for n, k in zip(out_nodes, kinds) if k == OutputKind.USER_OUTPUT]
    for name, o, fx in zip(_output_names(ep, len(user)), user, user_nodes):
        if not isinstance(o, T):
            o = T(tr.cast(o, torch.int64 if isinstance(o, int) else torch.float32), torch.int64, [])
        out = tr.b.output(o.v, name)
        meta = fx.meta.get("val") if isinstance(fx, torch.fx.Node) else None
        if isinstance(meta, torch.Tensor):
            tr.b.set_type(out, onnx_type(meta.dtype), tr.dims(meta.shape, name))
    return tr.b.finish()


def convert(obj, example_input=None, input=None):
    """An nn.Module, ExportedProgram or ScriptModule into an irforge Model."""
    if isinstance(obj, torch.export.ExportedProgram):
        return translate_program(obj, "<torch.export.ExportedProgram>")
    if isinstance(obj, torch.jit.ScriptModule):
        return _convert_script(obj, example_input, input, f"<torch.jit.ScriptModule {obj.original_name}>")
    if isinstance(obj, torch.nn.Module):
        return translate_program(export_module(obj, example_input, input), f"<torch.nn.Module {type(obj).__name__}>")
    raise TypeError(f"not a PyTorch model: {type(obj).__name__}")


def _convert_script(script, example_input, input, source):
    args, kwargs = _example_args(example_input)
    if args is None:
        raise UsageError(f"{source}: converting TorchScript needs example_input=")
    try:
        from torch._export.converter import TS2EPConverter

        ep = TS2EPConverter(script, args, kwargs or {}).convert()
    except Exception as e:  # noqa: BLE001 - torch's converter explains what it could not handle
        raise UnsupportedError(f"{source}: TorchScript could not be converted to an ExportedProgram: {type(e).__name__}: {e}") from None
    return translate_program(ep, source)


def convert_exported_file(path: str):
    """A .pt2 archive written by torch.export.save."""
    try:
        ep = torch.export.load(path)
    except Exception as e:  # noqa: BLE001
        raise InvalidModelError(f"{path}: torch.export.load failed: {type(e).__name__}: {e}") from None
    return translate_program(ep, path, archive=path)


def convert_torchscript_file(path: str, example_input=None, input=None):
    try:
        script = torch.jit.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise InvalidModelError(f"{path}: torch.jit.load failed: {type(e).__name__}: {e}") from None
    return _convert_script(script, example_input, input, path)
