"""PaddlePaddle frontend, read without Paddle: the C++ reader (cpp/io/paddle) decodes the program
(legacy ProgramDesc .pdmodel / __model__, or PIR .json) and the offset table of the parameter
file; this module translates ops to ONNX-semantics nodes through the builder. Parameters become
constants viewing the mapped .pdiparams (no bytes pass through Python).

Translation is in Python, like TensorFlow's: Paddle ops carry many attribute spellings (legacy
slot names, PIR positional operands fed by full/full_int_array ops) that are quicker to handle and
to extend here; tensor bytes never pass through it.

Both dialects share one table: a PIR op "pd_op.X" is looked up as X, its positional operands
named by PIR_OPERANDS so a translator asks for "Input"/"Filter" whichever the dialect.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from irforge.errors import InvalidModelError, ModelFileError, UnsupportedError

# VarType.Type -> numpy dtype name
_DTYPES = {0: "bool", 1: "int16", 2: "int32", 3: "int64", 4: "float16", 5: "float32", 6: "float64", 20: "uint8", 21: "int8", 22: "bfloat16"}
_PIR_DTYPE_NAMES = {"float32": 5, "float64": 6, "int32": 2, "int64": 3, "bool": 0, "float16": 4, "int8": 21, "uint8": 20, "int16": 1, "bfloat16": 22}

# Positional operands of PIR ops under their legacy slot names (paddle/phi/ops/yaml/ops.yaml).
PIR_OPERANDS = {
    "conv2d": ["Input", "Filter"], "depthwise_conv2d": ["Input", "Filter"],
    "conv2d_transpose": ["Input", "Filter", "output_size"], "depthwise_conv2d_transpose": ["Input", "Filter", "output_size"],
    "batch_norm": ["X", "Mean", "Variance", "Scale", "Bias"],
    "pool2d": ["X", "kernel_size"],
    "matmul": ["X", "Y"],
    "layer_norm": ["X", "Scale", "Bias"],
    "reshape": ["X", "shape"], "concat": ["X", "axis"], "split": ["X", "sections", "axis"], "split_with_num": ["X", "axis"],
    "slice": ["Input", "starts", "ends"], "strided_slice": ["X", "starts", "ends", "strides"],
    "squeeze": ["X", "axis"], "unsqueeze": ["X", "axis"], "scale": ["X", "scale"], "clip": ["X", "min", "max"],
    "bilinear_interp": ["X", "OutSize", "SizeTensor", "Scale"], "nearest_interp": ["X", "OutSize", "SizeTensor", "Scale"],
    "gather": ["X", "Index", "axis"], "argmax": ["X", "axis"], "shape": ["Input"], "shape64": ["Input"],
    "mean": ["X", "axis"], "sum": ["X", "axis"], "max": ["X", "axis"], "pow": ["X"], "if": ["Cond"], "expand": ["X", "shape"],
    "multiclass_nms3": ["BBoxes", "Scores", "RoisNum"],
    "rnn": ["Input", "PreState", "WeightList", "SequenceLength"], "full_with_tensor": ["value", "shape"], "tile": ["X", "repeat_times"],
}
# PIR names that differ from the legacy ones (after dropping pd_op. and a trailing inplace "_").
_PIR_ALIASES = {
    "add": "elementwise_add", "subtract": "elementwise_sub", "multiply": "elementwise_mul", "divide": "elementwise_div",
    "maximum": "elementwise_max", "minimum": "elementwise_min", "elementwise_pow": "elementwise_pow",
    "hardswish": "hard_swish", "hardsigmoid": "hard_sigmoid", "matmul": "matmul_v2", "reshape": "reshape2",
    "transpose": "transpose2", "squeeze": "squeeze2", "unsqueeze": "unsqueeze2", "flatten": "flatten_contiguous_range",
    "argmax": "arg_max", "bilinear_interp": "bilinear_interp_v2", "nearest_interp": "nearest_interp_v2", "full": "fill_constant",
    "mean": "reduce_mean", "sum": "reduce_sum", "max": "reduce_max", "shape64": "shape", "split_with_num": "split",
}
_LEGACY_OUTPUTS = {"conv2d": "Output", "depthwise_conv2d": "Output", "conv2d_transpose": "Output", "depthwise_conv2d_transpose": "Output",
                   "batch_norm": "Y", "layer_norm": "Y"}
_LEGACY_MULTI_OUTPUTS = {"multiclass_nms3": ["Out", "Index", "NmsRoisNum"]}


class _Op:
    """One op of either dialect, asked for operands and attributes by legacy names."""

    def __init__(self, raw: dict, pir: bool, where: str):
        self.raw = raw
        self.pir = pir
        self.where = where
        t = raw["type"]
        if pir:
            t = t.split(".", 1)[1] if t.startswith("pd_op.") else t
            if t.endswith("_") and not t.endswith("__"):
                t = t[:-1]  # inplace variants (relu_, batch_norm_) compute the same
            self.pir_name = t
            self.kind = _PIR_ALIASES.get(t, t)
            if t in ("split", "split_with_num"):
                self.kind = "split"
        else:
            self.pir_name = None
            self.kind = t
        self.attrs = raw["attrs"]

    def names(self, slot) -> List[str]:
        if self.pir:
            order = PIR_OPERANDS.get(self.pir_name, ["X", "Y"])
            if slot not in order:
                return []
            i = order.index(slot)
            ins = self.raw["inputs"]
            return list(ins[i][1]) if i < len(ins) else []
        for param, args in self.raw["inputs"]:
            if param == slot:
                return list(args)
        return []

    def attr(self, name, default=None):
        return self.attrs.get(name, default)

    def out_names(self) -> List[str]:
        if self.pir:
            return [a[0] for _, a in self.raw["outputs"] if a]
        if self.kind in _LEGACY_MULTI_OUTPUTS:  # one name per slot, None for a slot left out
            slots = {param: args for param, args in self.raw["outputs"]}
            return [(slots.get(slot) or [None])[0] for slot in _LEGACY_MULTI_OUTPUTS[self.kind]]
        slot = _LEGACY_OUTPUTS.get(self.kind, "Out")
        for param, args in self.raw["outputs"]:
            if param == slot:
                return list(args)
        return []


class Converter:
    def __init__(self, program: dict, params: Dict[str, tuple], params_path: str, label: str):
        from irforge.builder import Builder

        self.p = program
        self.pir = program["pir"]
        self.params = params
        self.params_path = params_path
        self.label = label
        self.b = Builder(label)
        self.values: Dict[str, object] = {}  # (graph id, name) -> Value
        self.consts: Dict[str, np.ndarray] = {}  # values known while converting (full, full_int_array)
        self.vectors: Dict[str, List[str]] = {}  # PIR builtin.combine results
        self.vars: Dict[str, tuple] = {}
        for blk in program["blocks"]:
            self.vars.update(blk["vars"])
        self.graph = None
        self.enclosing: List[int] = []  # ids of the graphs around the current one (If bodies)
        self.outputs: List[tuple] = []
        self.block_stack: List[int] = [0]  # legacy blocks being translated (sub_block checks)

    # ---- values ----
    def fail(self, op: _Op, rule: str):
        raise InvalidModelError(f"{self.label}: {op.where} ({op.raw['type']}): {rule}")

    def dtype_of(self, name: str) -> str:
        v = self.vars.get(name)
        if name in self.consts:
            return str(self.consts[name].dtype)
        if v is None or v[1] not in _DTYPES:
            return "float32"
        return _DTYPES[v[1]]

    def dims_of(self, name: str) -> Optional[List[int]]:
        if name in self.consts:
            return list(self.consts[name].shape)
        v = self.vars.get(name)
        return list(v[2]) if v is not None and v[0] != -1 else None

    def rank_of(self, op: _Op, name: str) -> int:
        d = self.dims_of(name)
        if d is None:
            self.fail(op, f"the rank of '{name}' is not known")
        return len(d)

    def _gid(self) -> int:
        return 0 if self.graph is None else id(self.graph)

    def value(self, name: str):
        key = (self._gid(), name)
        for gid in [key[0]] + self.enclosing[::-1]:
            if (gid, name) in self.values:
                return self.values[(gid, name)]
        if name in self.consts:
            arr = np.require(self.consts[name], requirements="C")  # ascontiguousarray makes 0-d 1-d
            v = self.b.constant(name, arr, graph=self.graph)
            self.values[key] = v
            return v
        raise KeyError(name)

    def set(self, name: str, v, global_=False):
        self.values[(0 if global_ else self._gid(), name)] = v

    def node(self, op_type, inputs, outputs=1, **attrs):
        return self.b.node(op_type, inputs, attrs, outputs=outputs, graph=self.graph)

    def const(self, arr, name="c"):
        arr = np.require(arr, requirements="C")
        return self.b.constant(name, arr, graph=self.graph)

    def i64(self, values):
        return self.const(np.asarray(values, dtype=np.int64), "ints")

    # ---- driving ----
    def run(self, block_index: int = 0):
        blk = self.p["blocks"][block_index]
        ops = [_Op(raw, self.pir, f"block {block_index} op {i}") for i, raw in enumerate(blk["ops"])]
        unknown = sorted({op.raw["type"] for op in ops if not self._known(op)} | self._unknown_in_regions(blk))
        if unknown:
            raise UnsupportedError(f"{self.label}: unsupported Paddle ops: {', '.join(unknown)}")
        self._params()
        self._block(ops)
        for _, name, value in sorted(self.outputs, key=lambda t: t[0]):
            self.b.output(value, name)
        return self.b.finish()

    def _unknown_in_regions(self, blk) -> set:
        out = set()
        for i, raw in enumerate(blk["ops"]):
            for bi in self.sub_blocks(raw, blk["idx"], f"block {blk['idx']} op {i}"):
                sub = self.p["blocks"][bi]
                out |= {r["type"] for r in sub["ops"] if not self._known(_Op(r, self.pir, ""))}
                out |= self._unknown_in_regions(sub)
        return out

    def sub_blocks(self, raw: dict, owner: int, where: str) -> List[int]:
        """The blocks an op runs: PIR regions, or a legacy while/conditional_block's sub_block.
        A legacy sub_block must be a child of the op's own block with a higher index, so that
        walking them always ends (a file may claim any index)."""
        if self.pir:
            return list(raw["blocks"])
        attr = raw["attrs"].get("sub_block")
        if raw["type"] not in _LEGACY_BLOCK_OPS or attr is None:
            return []
        bi = attr[1] if isinstance(attr, tuple) else attr
        if not isinstance(bi, int) or not owner < bi < len(self.p["blocks"]) or self.p["blocks"][bi]["parent"] != owner:
            raise InvalidModelError(f"{self.label}: {where} ({raw['type']}): sub_block {bi} is not a child block of block {owner}")
        return [bi]

    def _known(self, op: _Op) -> bool:
        return op.kind in _TRANSLATORS or op.raw["type"] in _STRUCTURAL

    def _params(self):
        for name, (dtype, dims, offset, nbytes) in self.params.items():
            if dtype not in _DTYPES:
                raise UnsupportedError(f"{self.label}: parameter '{name}' has unsupported data type {dtype}")
            self.set(name, self.b.constant_from_file(name, self.params_path, offset, _DTYPES[dtype], dims), global_=True)

    def _block(self, ops: List[_Op]):
        for op in ops:
            t = op.raw["type"]
            if t in _STRUCTURAL:
                _STRUCTURAL[t](self, op)
                continue
            try:
                results = _TRANSLATORS[op.kind](self, op)
            except KeyError as e:
                self.fail(op, f"its input {e} is not defined before it")
            except IndexError:
                self.fail(op, "an operand is missing")
            names = op.out_names()
            if self.pir and len(names) == 1 and self.vars.get(names[0], (0,))[0] == -1 and len(results) > 1:
                # a vector result (split): builtin.split takes it apart
                vec = [f"{names[0]}#{i}" for i in range(len(results))]
                for n, v in zip(vec, results):
                    self.set(n, v)
                self.vectors[names[0]] = vec
                continue
            for n, v in zip(names, results):
                if n is None:
                    continue
                if isinstance(v, np.ndarray) and not self._held(n):
                    self.consts[n] = v
                elif isinstance(v, np.ndarray):
                    # A legacy name written again (a loop variable): the new value must shadow the
                    # one the graphs already hold, so it becomes a constant of this graph.
                    self.set(n, self.const(v, n))
                else:
                    self.set(n, v)

    def _held(self, name: str) -> bool:
        return any((g, name) in self.values for g in [self._gid()] + self.enclosing)

    def x(self, op: _Op, slot: str, i: int = 0):
        names = op.names(slot)
        if len(names) <= i:
            return None
        return self.value(names[i])

    def xs(self, op: _Op, slot: str):
        names = op.names(slot)
        if self.pir and len(names) == 1 and names[0] in self.vectors:
            names = self.vectors[names[0]]
        return [self.value(n) for n in names]

    def cv(self, op: _Op, slot: str) -> Optional[np.ndarray]:
        """The value of an operand known at conversion (a full/full_int_array result), or None."""
        names = op.names(slot)
        if not names:
            return None
        if self.pir and names[0] in self.vectors:
            names = self.vectors[names[0]]
        if len(names) > 1:  # a list operand (a PIR vector, a legacy ...TensorList slot): known if all its items are
            parts = [self.consts.get(n) for n in names]
            return None if any(p is None for p in parts) else np.concatenate([np.ravel(p) for p in parts])
        return self.consts.get(names[0])

    def first_name(self, op: _Op, slot: str) -> str:
        names = op.names(slot)
        if not names:
            self.fail(op, f"it has no {slot} operand")
        return names[0]


# ---- structural ops -----------------------------------------------------------------------------

def _feed(c: Converter, op: _Op):
    name = op.out_names()[0] if op.pir else [a for p, a in op.raw["outputs"] if p == "Out"][0][0]
    if op.pir:
        dims = list(op.attr("shape", []))
        dtype = op.attr("dtype", "float32")
        external = op.attr("name", name)
    else:
        dims = c.dims_of(name) or []
        dtype = c.dtype_of(name)
        external = name
    shape = [d if d >= 0 else None for d in dims]
    c.set(name, c.b.input(external, dtype, shape), global_=True)


def _fetch(c: Converter, op: _Op):
    src = op.raw["inputs"][0][1][0]
    col = op.attr("col", len(c.outputs))
    external = op.attr("name", src) if op.pir else src
    c.outputs.append((col, external, c.value(src)))


def _parameter(c: Converter, op: _Op):
    pname = op.attr("parameter_name")
    if not op.attr("persistable", True):
        return  # not in the file (an RNN's dropout state): an op reading it fails where it does
    if (0, pname) not in c.values:
        raise InvalidModelError(f"{c.label}: {op.where}: parameter '{pname}' is not in the parameter file")
    c.set(op.out_names()[0], c.values[(0, pname)], global_=True)


def _combine(c: Converter, op: _Op):
    c.vectors[op.out_names()[0]] = [a[0] for _, a in op.raw["inputs"]]


def _split_vector(c: Converter, op: _Op):
    src = op.raw["inputs"][0][1][0]
    parts = c.vectors.get(src)
    if parts is None or len(parts) != len(op.out_names()):
        raise InvalidModelError(f"{c.label}: {op.where}: builtin.split of '{src}', which is not a vector of {len(op.out_names())} values")
    for n, p in zip(op.out_names(), parts):
        if p in c.consts:
            c.consts[n] = c.consts[p]
        else:
            c.set(n, c.value(p))


def _if(c: Converter, op: _Op):
    cond = c.value(op.raw["inputs"][0][1][0])
    branches = []
    outer = c.graph
    for k, bi in enumerate(op.raw["blocks"][:2]):
        g = c.b.subgraph(f"if_{op.out_names()[0]}_{k}", parent=outer)
        c.enclosing.append(c._gid())
        c.graph = g
        blk = c.p["blocks"][bi]
        ops = [_Op(raw, True, f"block {bi} op {i}") for i, raw in enumerate(blk["ops"])]
        body, yields = ops[:-1], ops[-1]
        c._block(body)
        if yields.raw["type"] != "cf.yield":
            raise InvalidModelError(f"{c.label}: block {bi} of an if does not end with cf.yield")
        for i, (_, a) in enumerate(yields.raw["inputs"]):
            v = c.value(a[0])
            # Each branch output is a value of its own graph (Identity when it comes from outside).
            v = c.node("Identity", [v])[0]
            c.b.output(v, f"{op.out_names()[0]}_b{k}_{i}", graph=g)
        branches.append(g)
        c.graph = outer
        c.enclosing.pop()
    if len(branches) != 2:
        raise InvalidModelError(f"{c.label}: {op.where}: an if without two regions")
    outs = c.node("If", [cond], outputs=len(op.out_names()), then_branch=branches[0], else_branch=branches[1])
    for n, v in zip(op.out_names(), outs):
        c.set(n, v)


def _scalar_bool(c: Converter, v):
    # Paddle's loop condition is a bool of shape [] or [1]; Loop takes a scalar.
    return c.node("Reshape", [v, c.i64([])])[0]


def _loop(c: Converter, op: _Op, cond, inits: list, carried: List[str], body) -> list:
    """An ONNX Loop without a trip count, running while `cond` holds. Inside the body graph the
    loop variables are named `carried` (Paddle's names for them there); body() translates the
    body's ops and returns (the next condition, the next value of each loop variable)."""
    tag = f"while_{op.where.replace(' ', '_')}_{len(c.values)}"
    outer = c.graph
    g = c.b.subgraph(tag, parent=outer)
    c.enclosing.append(c._gid())
    c.graph = g
    c.b.input(f"{tag}_iter", "int64", [], graph=g)
    c.b.input(f"{tag}_cond", "bool", [], graph=g)
    for i, n in enumerate(carried):
        dims = c.dims_of(n)
        c.set(n, c.b.input(f"{tag}_in{i}", c.dtype_of(n), None if dims is None else [None] * len(dims), graph=g))
        c.consts.pop(n, None)  # its value changes from one iteration to the next
    keep, nexts = body()
    c.b.output(_scalar_bool(c, keep), f"{tag}_keep", graph=g)
    for i, v in enumerate(nexts):
        # Each body output is a value of its own graph (Identity when it comes from outside).
        c.b.output(c.node("Identity", [v])[0], f"{tag}_out{i}", graph=g)
    c.graph = outer
    c.enclosing.pop()
    return c.node("Loop", [None, _scalar_bool(c, cond)] + inits, outputs=len(inits), body=g)


def _while_legacy(c: Converter, op: _Op):
    """Legacy `while`: its sub_block rewrites, in place, the variables named in its Out slot
    (the condition among them); they are the loop variables."""
    owner = c.block_stack[-1]
    bi = c.sub_blocks(op.raw, owner, op.where)[0]
    cond_names = op.names("Condition")
    if len(cond_names) != 1:
        c.fail(op, "it needs exactly one Condition")
    cond_name = cond_names[0]
    carried = list(dict.fromkeys(n for n in op.out_names() if n != cond_name))
    try:
        cond = c.value(cond_name)
        inits = [c.value(n) for n in carried]
    except KeyError as e:
        c.fail(op, f"loop variable {e} has no value before the loop")
    blk = c.p["blocks"][bi]

    def body():
        c.block_stack.append(bi)
        c._block([_Op(raw, False, f"block {bi} op {i}") for i, raw in enumerate(blk["ops"])])
        c.block_stack.pop()
        if (c._gid(), cond_name) not in c.values:
            c.fail(op, f"its block {bi} never sets the condition '{cond_name}' (the loop would not end)")
        return c.value(cond_name), [c.value(n) for n in carried]

    for n, v in zip(carried, _loop(c, op, cond, inits, carried, body)):
        c.set(n, v)
        c.consts.pop(n, None)


def _while_pir(c: Converter, op: _Op):
    """PIR `pd_op.while(cond, inits...)`: its block's arguments are the loop variables and its
    cf.yield gives (next condition, next values...)."""
    ins = [a[0] if a else None for _, a in op.raw["inputs"]]
    if not ins or None in ins or len(op.raw["blocks"]) != 1:
        c.fail(op, "a while needs a condition, defined loop values and one region")
    bi = op.raw["blocks"][0]
    blk = c.p["blocks"][bi]
    args = list(blk["args"])
    outs = op.out_names()
    if len(args) != len(ins) - 1 or len(outs) != len(args):
        c.fail(op, f"{len(ins) - 1} initial values, {len(args)} block arguments and {len(outs)} results do not match")
    inits = [c.value(n) for n in ins[1:]]

    def body():
        ops = [_Op(raw, True, f"block {bi} op {i}") for i, raw in enumerate(blk["ops"])]
        if not ops or ops[-1].raw["type"] != "cf.yield":
            raise InvalidModelError(f"{c.label}: block {bi} of a while does not end with cf.yield")
        c._block(ops[:-1])
        ys = [a[0] for _, a in ops[-1].raw["inputs"] if a]
        if len(ys) != len(args) + 1:
            raise InvalidModelError(f"{c.label}: block {bi} of a while yields {len(ys)} values, not {len(args) + 1}")
        return c.value(ys[0]), [c.value(n) for n in ys[1:]]

    for n, v in zip(outs, _loop(c, op, c.value(ins[0]), inits, args, body)):
        c.set(n, v)


def _branch_graph(c: Converter, tag: str, build) -> object:
    """A subgraph of the current graph whose outputs are build()'s values (each through an
    Identity, so that a value of an enclosing graph is one of its own)."""
    outer = c.graph
    g = c.b.subgraph(tag, parent=outer)
    c.enclosing.append(c._gid())
    c.graph = g
    for i, v in enumerate(build()):
        c.b.output(c.node("Identity", [v])[0], f"{tag}_{i}", graph=g)
    c.graph = outer
    c.enclosing.pop()
    return g


def _conditional_block(c: Converter, op: _Op):
    """Legacy `conditional_block`: its sub_block runs when the scalar Cond holds and sets the
    variables of its Out slot. An If: the sub_block, else the variables as they were (a variable
    first defined by the block is an empty placeholder then; Paddle leaves it uninitialized and
    the select_input after the two blocks of an if/else never reads it)."""
    bi = c.sub_blocks(op.raw, c.block_stack[-1], op.where)[0]
    if not op.attr("is_scalar_condition", False):
        raise UnsupportedError(f"{c.label}: {op.where} (conditional_block): only a scalar Cond is supported "
                               "(is_scalar_condition=False tests that all Cond tensors are non-empty)")
    cond = c.value(c.first_name(op, "Cond"))
    outs = list(dict.fromkeys(op.out_names()))
    if not outs:
        return  # sets nothing: nothing to compute
    tag = f"cond_{op.where.replace(' ', '_')}_{len(c.values)}"
    blk = c.p["blocks"][bi]

    def then_values():
        c.block_stack.append(bi)
        c._block([_Op(raw, False, f"block {bi} op {i}") for i, raw in enumerate(blk["ops"])])
        c.block_stack.pop()
        missing = [n for n in outs if (c._gid(), n) not in c.values and n not in c.consts]
        if missing:
            c.fail(op, f"its block {bi} never sets {', '.join(missing)}")
        return [c.value(n) for n in outs]

    def else_values():
        vals = []
        for n in outs:
            if c._held(n) or n in c.consts:
                vals.append(c.value(n))
            else:
                dims = c.dims_of(n)
                dtype = c.dtype_of(n)
                vals.append(c.const(np.zeros([0] * (len(dims) if dims else 1), dtype if dtype != "bfloat16" else "float32")))
        return vals

    then_g = _branch_graph(c, tag + "_then", then_values)
    else_g = _branch_graph(c, tag + "_else", else_values)
    for n, v in zip(outs, c.node("If", [_scalar_bool(c, cond)], outputs=len(outs), then_branch=then_g, else_branch=else_g)):
        c.set(n, v)
        c.consts.pop(n, None)


def t_select_input(c: Converter, op: _Op):
    """Out = X[Mask] (Mask an int scalar): after the two conditional_blocks of an if/else, the
    value of the branch that ran. A chain of Ifs, so only the chosen value is read."""
    names = op.names("X")
    if not names:
        c.fail(op, "it has no X operand")
    mask = c.node("Reshape", [c.node("Cast", [c.x(op, "Mask")], to=7)[0], c.i64([])])[0]
    result = c.value(names[-1])
    for k in range(len(names) - 2, -1, -1):
        chosen, rest = c.value(names[k]), result
        tag = f"select_{op.where.replace(' ', '_')}_{k}"
        then_g = _branch_graph(c, tag + "_then", lambda: [chosen])
        else_g = _branch_graph(c, tag + "_else", lambda: [rest])
        result = c.node("If", [c.node("Equal", [mask, c.i64(k)])[0]], then_branch=then_g, else_branch=else_g)[0]
    return [result]


def _rnn(c: Converter, op: _Op):
    """`rnn` in LSTM mode (paddle.nn.LSTM; time-major input [T, N, I]): one ONNX LSTM per layer,
    both directions in one. WeightList holds every (weight_ih, weight_hh) pair by layer and
    direction, then every (bias_ih, bias_hh) pair; Paddle's gates are (i, f, g, o), ONNX's
    (i, o, f, c). Dropout between layers does not act at inference."""
    mode = op.attr("mode", "LSTM")
    if mode != "LSTM":
        raise UnsupportedError(f"{c.label}: {op.where} ({op.raw['type']}): rnn mode '{mode}' is not supported (LSTM only)")
    if op.names("SequenceLength"):
        raise UnsupportedError(f"{c.label}: {op.where} ({op.raw['type']}): a SequenceLength operand is not supported")
    layers, hidden = int(op.attr("num_layers", 1)), int(op.attr("hidden_size", 0))
    dirs = 2 if op.attr("is_bidirec", False) else 1
    weights, states = c.xs(op, "WeightList"), c.xs(op, "PreState")
    if layers < 1 or hidden < 1 or len(weights) != 4 * layers * dirs or len(states) != 2:
        c.fail(op, f"{len(weights)} weights and {len(states)} initial states do not fit {layers} layer(s), "
                   f"{dirs} direction(s) of hidden size {hidden} (4 weights per layer and direction; h and c)")
    half = 2 * layers * dirs

    def gates(w):  # (i, f, g, o) blocks along axis 0 -> (i, o, f, g)
        i, f, g, o = c.node("Split", [w, c.i64([hidden] * 4)], outputs=4, axis=0)
        return c.node("Concat", [i, o, f, g], axis=0)[0]

    def per_dir(vals):
        return c.node("Concat", [c.node("Unsqueeze", [v, c.i64([0])])[0] for v in vals], axis=0)[0] if len(vals) > 1 \
            else c.node("Unsqueeze", [vals[0], c.i64([0])])[0]

    x = c.x(op, "Input")
    hs, cs = [], []
    for layer in range(layers):
        ks = [layer * dirs + d for d in range(dirs)]
        w = per_dir([gates(weights[2 * k]) for k in ks])
        r = per_dir([gates(weights[2 * k + 1]) for k in ks])
        b = per_dir([c.node("Concat", [gates(weights[half + 2 * k]), gates(weights[half + 2 * k + 1])], axis=0)[0] for k in ks])
        lo, hi = c.i64([layer * dirs]), c.i64([(layer + 1) * dirs])
        h0 = c.node("Slice", [states[0], lo, hi, c.i64([0])])[0]
        c0 = c.node("Slice", [states[1], lo, hi, c.i64([0])])[0]
        y, yh, yc = c.node("LSTM", [x, w, r, b, None, h0, c0], outputs=3, hidden_size=hidden,
                           direction="bidirectional" if dirs == 2 else "forward")
        # Y [T, dirs, N, H] -> [T, N, dirs * H], the next layer's input and the op's Out
        x = c.node("Reshape", [c.node("Transpose", [y], perm=[0, 2, 1, 3])[0], c.i64([0, 0, -1])])[0]
        hs.append(yh)
        cs.append(yc)
    h = hs[0] if layers == 1 else c.node("Concat", hs, axis=0)[0]
    cl = cs[0] if layers == 1 else c.node("Concat", cs, axis=0)[0]
    if op.pir:
        outs = op.out_names()  # out, dropout_state_out, state (a vector), reserve
        c.set(outs[0], x)
        if len(outs) > 2:
            c.vectors[outs[2]] = [outs[2] + "#0", outs[2] + "#1"]
            c.set(outs[2] + "#0", h)
            c.set(outs[2] + "#1", cl)
    else:
        slots = {param: args for param, args in op.raw["outputs"]}
        for n, v in zip(slots.get("Out", [])[:1] + slots.get("State", [])[:2], [x, h, cl]):
            c.set(n, v)


def t_stack(c, op):
    axis = int(op.attr("axis", 0))
    return c.node("Concat", [c.node("Unsqueeze", [v, c.i64([axis])])[0] for v in c.xs(op, "X")], axis=axis)


def t_full_with_tensor(c, op):
    value = c.x(op, "value")
    shape, tensor = _int_operand(c, op, "shape", "shape")
    dtype = _paddle_dtype(op.attr("dtype", "float32"))
    v = c.node("Cast", [c.node("Reshape", [value, c.i64([])])[0]], to=_onnx_type(dtype))[0]
    return c.node("Expand", [v, tensor if tensor is not None else c.i64(shape)])


def _skip(c: Converter, op: _Op):
    pass


_STRUCTURAL = {
    "feed": _feed, "fetch": _fetch, "pd_op.data": _feed, "pd_op.fetch": _fetch, "builtin.parameter": _parameter,
    "builtin.combine": _combine, "builtin.split": _split_vector, "pd_op.if": _if, "cf.yield": _skip,
    "while": _while_legacy, "pd_op.while": _while_pir, "conditional_block": _conditional_block,
    "rnn": _rnn, "pd_op.rnn": _rnn,
}
_LEGACY_BLOCK_OPS = ("while", "conditional_block")


# ---- translators: each returns the op's outputs (Values, or numpy arrays for known values) ------

def _pads(op: _Op, rank: int = 2):
    p = list(op.attr("paddings", [0] * rank))
    if len(p) == rank:
        return p + p
    if len(p) == 2 * rank:  # [top, bottom, left, right] -> [top, left, bottom, right]
        return p[0::2] + p[1::2]
    raise InvalidModelError(f"{op.where}: paddings {p} are neither {rank} nor {2 * rank} values")


def _conv_attrs(c, op):
    if op.attr("data_format", "NCHW") not in ("NCHW", "AnyLayout"):
        c.fail(op, f"data_format {op.attr('data_format')} is not supported (NCHW only)")
    a = dict(strides=list(op.attr("strides", [1, 1])), dilations=list(op.attr("dilations", [1, 1])), group=int(op.attr("groups", 1)))
    algo = op.attr("padding_algorithm", "EXPLICIT")
    if algo == "SAME":
        a["auto_pad"] = "SAME_UPPER"
    elif algo == "VALID":
        a["pads"] = [0, 0, 0, 0]
    else:
        a["pads"] = _pads(op)
    return a


def t_conv2d(c, op):
    return c.node("Conv", [c.x(op, "Input"), c.x(op, "Filter")], **_conv_attrs(c, op))


def t_conv2d_transpose(c, op):
    a = _conv_attrs(c, op)
    if op.attr("output_padding"):
        a["output_padding"] = list(op.attr("output_padding"))
    size = list(op.attr("output_size", []) or [])
    if not size and op.names("output_size"):
        known = c.cv(op, "output_size")
        if known is None:
            c.fail(op, "a computed output_size is not supported")
        size = [int(v) for v in known]
    if size:
        a["output_shape"] = size
        a.pop("pads", None)
    return c.node("ConvTranspose", [c.x(op, "Input"), c.x(op, "Filter")], **a)


def t_batch_norm(c, op):
    ins = [c.x(op, "X"), c.x(op, "Scale"), c.x(op, "Bias"), c.x(op, "Mean"), c.x(op, "Variance")]
    return c.node("BatchNormalization", ins, epsilon=float(op.attr("epsilon", 1e-5)))


def t_pool2d(c, op):
    x = c.x(op, "X")
    kind = op.attr("pooling_type", "max")
    if kind not in ("max", "avg"):
        c.fail(op, f"pooling_type '{kind}' is not supported")
    ksize = list(op.attr("ksize", []) or [])
    if op.names("kernel_size"):
        known = c.cv(op, "kernel_size")
        if known is None:
            c.fail(op, "a computed kernel_size is not supported")
        ksize = [int(v) for v in known]
    if op.attr("global_pooling", False) or (op.attr("adaptive", False) and ksize == [1, 1]):
        return c.node("GlobalMaxPool" if kind == "max" else "GlobalAveragePool", [x])
    if op.attr("adaptive", False):
        return [_adaptive_pool(c, op, x, ksize, kind)]
    a = dict(kernel_shape=ksize, strides=list(op.attr("strides", [1, 1])), ceil_mode=int(bool(op.attr("ceil_mode", False))))
    algo = op.attr("padding_algorithm", "EXPLICIT")
    if algo == "SAME":
        a["auto_pad"] = "SAME_UPPER"
    else:
        a["pads"] = [0, 0, 0, 0] if algo == "VALID" else _pads(op)
    if kind == "avg":
        a["count_include_pad"] = int(not op.attr("exclusive", True))
        return c.node("AveragePool", [x], **a)
    return c.node("MaxPool", [x], **a)


def _adaptive_pool(c, op, x, sizes, kind):
    """Adaptive pooling to `sizes`: output cell i of an axis of length d covers
    [floor(i * d / o), ceil((i + 1) * d / o)). Equal cells are one pooling; otherwise the axes
    are pooled one after the other (a mean or max over a rectangle is one over its rows of one
    over its columns), one Slice + Reduce per output row/column."""
    dims = c.dims_of(op.names("X")[0])
    if not dims or len(dims) != 4 or any(d is None or d < 0 for d in dims[2:]):
        c.fail(op, f"adaptive pooling to {sizes} needs static input heights and widths")
    if len(sizes) != 2 or any(int(o) <= 0 for o in sizes):
        c.fail(op, f"adaptive output size {sizes} is not two positive sizes")
    sizes = [int(o) for o in sizes]
    if all(d % o == 0 for d, o in zip(dims[2:], sizes)):
        k = [d // o for d, o in zip(dims[2:], sizes)]
        return c.node("MaxPool" if kind == "max" else "AveragePool", [x], kernel_shape=k, strides=k)[0]
    reduce = "ReduceMax" if kind == "max" else "ReduceMean"
    for axis, (d, o) in zip((2, 3), zip(dims[2:], sizes)):
        if d == o:
            continue
        cells = []
        for i in range(o):
            start, end = (i * d) // o, -((-(i + 1) * d) // o)
            part = c.node("Slice", [x, c.i64([start]), c.i64([end]), c.i64([axis])])[0]
            cells.append(c.node(reduce, [part, c.i64([axis])], keepdims=1)[0])
        x = cells[0] if o == 1 else c.node("Concat", cells, axis=axis)[0]
    return x


def t_max_pool2d_with_index(c, op):
    """Max pooling that also returns each maximum's position in its plane (Mask): only the
    adaptive form's pooled values are translated; a model reading Mask fails where it does."""
    if not op.attr("adaptive", False):
        c.fail(op, "only adaptive max_pool2d_with_index is supported")
    ksize = list(op.attr("ksize", op.attr("kernel_size", [])) or [])
    return [_adaptive_pool(c, op, c.x(op, "X"), ksize, "max")]


def _swap_last(c, op, name, v):
    r = c.rank_of(op, name)
    perm = list(range(r))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return c.node("Transpose", [v], perm=perm)[0]


def t_matmul(c, op):
    x, y = c.x(op, "X"), c.x(op, "Y")
    if op.attr("trans_x", op.attr("transpose_x", False)):
        x = _swap_last(c, op, op.names("X")[0], x)
    if op.attr("trans_y", op.attr("transpose_y", False)):
        y = _swap_last(c, op, op.names("Y")[0], y)
    return c.node("MatMul", [x, y])


def _binary(onnx_op):
    def t(c, op):
        x, y = c.x(op, "X"), c.x(op, "Y")
        axis = op.attr("axis", -1)
        if not op.pir and axis not in (-1, None):
            rx, ry = c.rank_of(op, op.names("X")[0]), c.rank_of(op, op.names("Y")[0])
            if not -rx <= axis < max(rx, 1):  # a file may hold any number: range() below would not end
                c.fail(op, f"axis {axis} is outside the rank {rx} of X")
            if axis < 0:
                axis += rx
            trailing = rx - axis - ry
            if trailing > 0:  # Paddle aligns Y at `axis`; numpy broadcasting aligns it at the end
                y = c.node("Unsqueeze", [y, c.i64(list(range(ry, ry + trailing)))])[0]
        return c.node(onnx_op, [x, y])
    return t


def _unary(onnx_op, **attrs):
    return lambda c, op: c.node(onnx_op, [c.x(op, "X")], **attrs)


def t_hard_swish(c, op):
    if (op.attr("threshold", 6.0), op.attr("scale", 6.0), op.attr("offset", 3.0)) != (6.0, 6.0, 3.0):
        x = c.x(op, "X")
        dt = c.dtype_of(op.names("X")[0])
        t = c.node("Clip", [c.node("Add", [x, c.const(np.array(op.attr("offset"), dt))])[0],
                            c.const(np.array(0, dt)), c.const(np.array(op.attr("threshold"), dt))])[0]
        return c.node("Div", [c.node("Mul", [x, t])[0], c.const(np.array(op.attr("scale"), dt))])
    return c.node("HardSwish", [c.x(op, "X")])


def t_hard_sigmoid(c, op):
    return c.node("HardSigmoid", [c.x(op, "X")], alpha=float(op.attr("slope", 0.2)), beta=float(op.attr("offset", 0.5)))


def _clip(c, op, lo, hi):
    dt = c.dtype_of(op.names("X")[0])
    return c.node("Clip", [c.x(op, "X"), c.const(np.array(lo, dt)), c.const(np.array(hi, dt))])


def t_relu6(c, op):
    return _clip(c, op, 0.0, float(op.attr("threshold", 6.0)))


def t_clip(c, op):
    lo, hi = op.attr("min", None), op.attr("max", None)
    klo, khi = c.cv(op, "min"), c.cv(op, "max")
    if op.names("min") and klo is None or op.names("max") and khi is None:
        c.fail(op, "computed clip bounds are not supported")
    lo = float(np.ravel(klo)[0]) if klo is not None else lo
    hi = float(np.ravel(khi)[0]) if khi is not None else hi
    return _clip(c, op, lo, hi)


def t_swish(c, op):
    x = c.x(op, "X")
    beta = float(op.attr("beta", 1.0))
    s = x if beta == 1.0 else c.node("Mul", [x, c.const(np.array(beta, np.float32))])[0]
    return c.node("Mul", [x, c.node("Sigmoid", [s])[0]])


def t_gelu(c, op):
    return c.node("Gelu", [c.x(op, "X")], approximate="tanh" if op.attr("approximate", False) else "none")


def t_leaky_relu(c, op):
    return c.node("LeakyRelu", [c.x(op, "X")], alpha=float(op.attr("alpha", op.attr("negative_slope", 0.02))))


def t_softmax(c, op):
    return c.node("Softmax", [c.x(op, "X")], axis=int(op.attr("axis", -1)))


def t_layer_norm(c, op):
    xn = op.names("X")[0]
    axis = int(op.attr("begin_norm_axis", 1))
    r = c.rank_of(op, xn)
    axis = axis + r if axis < 0 else axis
    x = c.x(op, "X")
    scale, bias = c.x(op, "Scale"), c.x(op, "Bias")
    if axis != r - 1:
        dims = c.dims_of(xn)[axis:]
        if any(d < 0 for d in dims):
            c.fail(op, "normalizing over several dims needs their sizes")
        shape = c.i64(dims)
        scale = c.node("Reshape", [scale, shape])[0] if scale is not None else None
        bias = c.node("Reshape", [bias, shape])[0] if bias is not None else None
    if scale is None:
        c.fail(op, "a layer_norm without Scale is not supported")
    return c.node("LayerNormalization", [x, scale, bias], axis=axis, epsilon=float(op.attr("epsilon", 1e-5)))


def _int_operand(c, op, slot, attr_name, tensor_slots=()):
    """An int list given as attribute, known operand or (else) a runtime tensor."""
    for s in (slot,) + tuple(tensor_slots):
        if op.names(s):
            known = c.cv(op, s)
            if known is not None:
                return [int(v) for v in np.ravel(known)], None
            vals = c.xs(op, s)
            if len(vals) == 1:
                return None, c.node("Cast", [vals[0]], to=7)[0]
            # list items are [1] or 0-d (a dim taken from a shape with decrease_axis)
            items = [c.node("Reshape", [c.node("Cast", [v], to=7)[0], c.i64([1])])[0] for v in vals]
            return None, c.node("Concat", items, axis=0)[0]
    v = op.attr(attr_name, [])
    return [int(i) for i in (v if isinstance(v, list) else [v])], None


def t_reshape(c, op):
    known, tensor = _int_operand(c, op, "shape", "shape", ("ShapeTensor", "Shape"))
    return c.node("Reshape", [c.x(op, "X"), tensor if tensor is not None else c.i64(known)])


def t_transpose(c, op):
    return c.node("Transpose", [c.x(op, "X")], perm=list(op.attr("axis", op.attr("perm", []))))


def _axis(c, op, slot, attr_name, default=0):
    if op.names(slot):
        known = c.cv(op, slot)
        if known is None:
            c.fail(op, f"a computed {slot} is not supported")
        return int(np.ravel(known)[0])
    return int(op.attr(attr_name, default))


def t_concat(c, op):
    return c.node("Concat", c.xs(op, "X"), axis=_axis(c, op, "AxisTensor" if not op.pir else "axis", "axis"))


def t_split(c, op):
    xn = op.names("X")[0]
    axis = _axis(c, op, "AxisTensor" if not op.pir else "axis", "axis")
    n_out = len(op.out_names()) if not op.pir else None
    sections = None
    if op.pir and op.pir_name == "split":
        known = c.cv(op, "sections")
        if known is None:
            c.fail(op, "computed split sections are not supported")
        sections = [int(v) for v in known]
    elif not op.pir and op.attr("sections"):
        sections = list(op.attr("sections"))
    num = op.attr("num", 0)
    if sections is None:
        if not num:
            c.fail(op, "a split with neither sections nor num")
        n = int(num)
        return c.node("Split", [c.x(op, "X")], outputs=n, axis=axis, num_outputs=n)
    if -1 in sections:
        dims = c.dims_of(xn)
        total = dims[axis] if dims else -1
        if total < 0:
            c.fail(op, "a -1 split section needs the split dim's size")
        sections[sections.index(-1)] = total - sum(s for s in sections if s != -1)
    del n_out
    return c.node("Split", [c.x(op, "X"), c.i64(sections)], outputs=len(sections), axis=axis)


def _slice(c, op, strided):
    xs = "Input" if (op.pir and not strided) or (not op.pir and not strided) else "X"
    axes = [int(a) for a in op.attr("axes", [])]
    starts, st = _int_operand(c, op, "starts", "starts", ("StartsTensor", "StartsTensorList"))
    ends, et = _int_operand(c, op, "ends", "ends", ("EndsTensor", "EndsTensorList"))
    ins = [c.x(op, xs), st if st is not None else c.i64(starts), et if et is not None else c.i64(ends), c.i64(axes)]
    if strided:
        steps, tt = _int_operand(c, op, "strides", "strides", ("StridesTensor", "StridesTensorList"))
        ins.append(tt if tt is not None else c.i64(steps))
    y = c.node("Slice", ins)[0]
    dec = [int(a) for a in op.attr("decrease_axis", []) or []]
    if dec:
        y = c.node("Squeeze", [y, c.i64(dec)])[0]
    return [y]


def t_slice(c, op):
    return _slice(c, op, False)


def t_strided_slice(c, op):
    return _slice(c, op, True)


def t_squeeze(c, op):
    axes, tensor = _int_operand(c, op, "axis", "axes", ("AxesTensor", "AxesTensorList"))
    if tensor is not None:
        return c.node("Squeeze", [c.x(op, "X"), tensor])
    if not axes:
        return c.node("Squeeze", [c.x(op, "X")])
    return c.node("Squeeze", [c.x(op, "X"), c.i64(axes)])


def t_unsqueeze(c, op):
    axes, tensor = _int_operand(c, op, "axis", "axes", ("AxesTensor", "AxesTensorList"))
    return c.node("Unsqueeze", [c.x(op, "X"), tensor if tensor is not None else c.i64(axes)])


def t_flatten(c, op):
    xn = op.names("X")[0]
    r = c.rank_of(op, xn)
    start, stop = int(op.attr("start_axis", 1)), int(op.attr("stop_axis", -1))
    start, stop = start + r if start < 0 else start, stop + r if stop < 0 else stop
    x = c.x(op, "X")
    dims = c.dims_of(xn)
    if all(d >= 0 for d in dims[stop + 1:]):
        # Leading dims copied by Reshape's 0, trailing ones static: no shape subgraph.
        return c.node("Reshape", [x, c.i64([0] * start + [-1] + list(dims[stop + 1:]))])
    shape = c.node("Shape", [x])[0]
    parts = []
    if start > 0:
        parts.append(c.node("Slice", [shape, c.i64([0]), c.i64([start])])[0])
    parts.append(c.i64([-1]))
    if stop + 1 < r:
        parts.append(c.node("Slice", [shape, c.i64([stop + 1]), c.i64([r])])[0])
    target = parts[0] if len(parts) == 1 else c.node("Concat", parts, axis=0)[0]
    return c.node("Reshape", [x, target])


def t_scale(c, op):
    x = c.x(op, "X")
    dt = c.dtype_of(op.names("X")[0])
    scale = c.cv(op, "scale") if op.pir else c.cv(op, "ScaleTensor")
    if (op.names("scale") if op.pir else op.names("ScaleTensor")) and scale is None:
        s = c.node("Cast", [c.x(op, "scale" if op.pir else "ScaleTensor")], to=_onnx_type(dt))[0]
    else:
        s = c.const(np.array(float(np.ravel(scale)[0]) if scale is not None else op.attr("scale", 1.0), dt))
    bias = float(op.attr("bias", 0.0))
    b = c.const(np.array(bias, dt))
    if op.attr("bias_after_scale", True):
        y = c.node("Mul", [x, s])[0]
        return c.node("Add", [y, b]) if bias else [y]
    y = c.node("Add", [x, b])[0] if bias else x
    return c.node("Mul", [y, s])


_ONNX_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9, "float16": 10, "float64": 11, "bfloat16": 16}


def _onnx_type(dtype_name: str) -> int:
    return _ONNX_TYPES[dtype_name]


def _paddle_dtype(v) -> str:
    if isinstance(v, str):
        return v if v in _ONNX_TYPES else _DTYPES.get(_PIR_DTYPE_NAMES.get(v, 5), "float32")
    return _DTYPES.get(int(v), "float32")


def t_interp(c, op):
    x = c.x(op, "X")
    xn = op.names("X")[0]
    if op.attr("data_layout", op.attr("data_format", "NCHW")) not in ("NCHW", "AnyLayout"):
        c.fail(op, "only NCHW interpolation is supported")
    method = op.attr("interp_method", "bilinear" if "bilinear" in op.kind else "nearest")
    align = bool(op.attr("align_corners", False))
    if method == "nearest":
        a = dict(mode="nearest", coordinate_transformation_mode="align_corners" if align else "asymmetric",
                 nearest_mode="round_prefer_ceil" if align else "floor")
    elif method == "bilinear":
        a = dict(mode="linear", coordinate_transformation_mode="align_corners" if align else
                 ("half_pixel" if int(op.attr("align_mode", 1)) == 0 else "asymmetric"))
    else:
        c.fail(op, f"interp_method '{method}' is not supported")
    shape = c.node("Shape", [x])[0]
    nc = c.node("Slice", [shape, c.i64([0]), c.i64([2])])[0]
    size_slot = "OutSize" if op.names("OutSize") else ("SizeTensor" if op.names("SizeTensor") else None)
    if size_slot:
        known = c.cv(op, size_slot)
        if known is not None:
            sizes = c.i64([int(v) for v in np.ravel(known)])
        else:
            vals = [c.node("Cast", [v], to=7)[0] for v in c.xs(op, size_slot)]
            sizes = vals[0] if len(vals) == 1 else c.node("Concat", vals, axis=0)[0]
        return c.node("Resize", [x, None, None, c.node("Concat", [nc, sizes], axis=0)[0]], **a)
    oh, ow = int(op.attr("out_h", -1)), int(op.attr("out_w", -1))
    scale = op.attr("scale", [])
    scale = [scale] if isinstance(scale, float) else list(scale or [])
    if op.names("Scale"):
        known = c.cv(op, "Scale")
        if known is None:
            c.fail(op, "a computed Scale is not supported")
        scale = [float(v) for v in np.ravel(known)]
    if scale and all(s > 0 for s in scale):
        # Paddle's output size is int(in * scale) and it samples with ratio 1 / scale: what
        # Resize does with scales (no shape subgraph, whatever the batch).
        s = [float(v) for v in (scale if len(scale) == 2 else scale * 2)]
        return c.node("Resize", [x, None, c.const(np.array([1.0, 1.0] + s, np.float32))], **a)
    if oh > 0 and ow > 0:
        return c.node("Resize", [x, None, None, c.node("Concat", [nc, c.i64([oh, ow])], axis=0)[0]], **a)
    c.fail(op, "neither an output size nor a scale")


def t_fill_constant(c, op):
    dtype = _paddle_dtype(op.attr("dtype", 5))
    shape = op.attr("shape", [])
    if op.names("ValueTensor"):
        c.fail(op, "a computed ValueTensor is not supported")
    value = op.attr("value", 0.0)
    if not op.pir and op.attr("str_value"):
        value = float(op.attr("str_value"))
    if op.names("ShapeTensor") or op.names("ShapeTensorList"):
        # a shape computed from the input (an RNN's zero initial state for the batch)
        known, tensor = _int_operand(c, op, "ShapeTensor", "shape", ("ShapeTensorList",))
        if tensor is not None:
            fill = np.array(value, dtype=dtype if dtype != "bfloat16" else "float32")
            return c.node("Expand", [c.const(fill), tensor])
        shape = known
    return [np.full([int(d) for d in shape], value, dtype=dtype if dtype != "bfloat16" else "float32")]


def t_full_int_array(c, op):
    return [np.array(op.attr("value", []), dtype=_paddle_dtype(op.attr("dtype", "int64")))]


def t_assign_value(c, op):
    dtype = _paddle_dtype(op.attr("dtype", 5))
    for k in ("fp32_values", "int32_values", "int64_values", "bool_values", "values"):
        if op.attr(k):
            return [np.array(op.attr(k), dtype=dtype).reshape([int(d) for d in op.attr("shape", [len(op.attr(k))])])]
    return [np.zeros([int(d) for d in op.attr("shape", [0])], dtype=dtype)]


def t_shape(c, op):
    slot = "Input"
    y = c.node("Shape", [c.x(op, slot)])[0]
    out = op.out_names()[0]
    want = c.dtype_of(out)
    return c.node("Cast", [y], to=_onnx_type(want)) if want != "int64" else [y]


def t_gather(c, op):
    axis = _axis(c, op, "axis" if op.pir else "Axis", "axis")
    return c.node("Gather", [c.x(op, "X"), c.x(op, "Index")], axis=axis)


def t_arg_max(c, op):
    x = c.x(op, "X")
    axis = _axis(c, op, "axis", "axis") if op.pir else int(op.attr("axis", -1))
    if op.attr("flatten", False):
        x = c.node("Reshape", [x, c.i64([-1])])[0]
        axis = 0
    y = c.node("ArgMax", [x], axis=axis, keepdims=int(bool(op.attr("keepdims", False))))[0]
    want = _paddle_dtype(op.attr("dtype", 3))
    return c.node("Cast", [y], to=_onnx_type(want)) if want != "int64" else [y]


def _reduce(onnx_op):
    def t(c, op):
        x = c.x(op, "X")
        if op.pir:
            axes = [int(a) for a in np.ravel(c.cv(op, "axis"))] if op.names("axis") else list(op.attr("axis", []))
            keep = bool(op.attr("keepdim", False))
            reduce_all = not axes
        else:
            axes = list(op.attr("dim", []))
            keep = bool(op.attr("keep_dim", False))
            reduce_all = bool(op.attr("reduce_all", False)) or not axes
        if reduce_all:
            return c.node(onnx_op, [x], keepdims=int(keep))
        return c.node(onnx_op, [x, c.i64(axes)], keepdims=int(keep))
    return t


def t_multiclass_nms3(c, op):
    """irforge::MulticlassNms (cpp/io/openvino/ops/multiclass_nms.cc): OpenVINO's MulticlassNms
    has Paddle's semantics; the ONNX writer refuses it (NonMaxSuppression cannot express it)."""
    if op.names("RoisNum"):
        raise UnsupportedError(f"{c.label}: {op.where} ({op.raw['type']}): boxes given per RoI (RoisNum) are not supported, "
                               "only BBoxes [N, M, 4] with Scores [N, C, M]")
    for slot, rank in (("BBoxes", 3), ("Scores", 3)):
        dims = c.dims_of(c.first_name(op, slot))
        if dims is not None and len(dims) != rank:
            c.fail(op, f"{slot} has rank {len(dims)}, not {rank}")
    attrs = dict(score_threshold=float(op.attr("score_threshold", 0.0)), nms_top_k=int(op.attr("nms_top_k", -1)),
                 keep_top_k=int(op.attr("keep_top_k", -1)), nms_threshold=float(op.attr("nms_threshold", 0.3)),
                 normalized=int(bool(op.attr("normalized", True))), nms_eta=float(op.attr("nms_eta", 1.0)),
                 background_label=int(op.attr("background_label", 0)))
    return c.b.node("MulticlassNms", [c.x(op, "BBoxes"), c.x(op, "Scores")], attrs, outputs=3, domain="irforge", graph=c.graph)


def t_cast(c, op):
    return c.node("Cast", [c.x(op, "X")], to=_onnx_type(_paddle_dtype(op.attr("out_dtype", op.attr("dtype", 5)))))


def t_dropout(c, op):
    x = c.x(op, "X")
    if op.attr("dropout_implementation", op.attr("mode", "upscale_in_train")) == "downgrade_in_infer":
        p = float(op.attr("dropout_prob", op.attr("p", 0.5)))
        return c.node("Mul", [x, c.const(np.array(1.0 - p, c.dtype_of(op.names("X")[0])))])
    return c.node("Identity", [x])


_TRANSLATORS = {
    "conv2d": t_conv2d, "depthwise_conv2d": t_conv2d, "conv2d_transpose": t_conv2d_transpose,
    "depthwise_conv2d_transpose": t_conv2d_transpose, "batch_norm": t_batch_norm, "pool2d": t_pool2d, "matmul_v2": t_matmul,
    "elementwise_add": _binary("Add"), "elementwise_sub": _binary("Sub"), "elementwise_mul": _binary("Mul"),
    "elementwise_div": _binary("Div"), "elementwise_pow": _binary("Pow"), "elementwise_max": _binary("Max"),
    "elementwise_min": _binary("Min"),
    "hard_swish": t_hard_swish, "hard_sigmoid": t_hard_sigmoid, "relu": _unary("Relu"), "relu6": t_relu6, "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"), "exp": _unary("Exp"), "sqrt": _unary("Sqrt"), "abs": _unary("Abs"), "log": _unary("Log"),
    "swish": t_swish, "silu": t_swish, "gelu": t_gelu, "leaky_relu": t_leaky_relu, "softmax": t_softmax, "layer_norm": t_layer_norm,
    "reshape2": t_reshape, "transpose2": t_transpose, "concat": t_concat, "split": t_split, "slice": t_slice,
    "strided_slice": t_strided_slice, "squeeze2": t_squeeze, "unsqueeze2": t_unsqueeze, "flatten_contiguous_range": t_flatten,
    "scale": t_scale, "clip": t_clip, "bilinear_interp": t_interp, "bilinear_interp_v2": t_interp, "nearest_interp": t_interp,
    "nearest_interp_v2": t_interp, "fill_constant": t_fill_constant, "full_int_array": t_full_int_array,
    "assign_value": t_assign_value, "shape": t_shape, "gather": t_gather, "arg_max": t_arg_max,
    "reduce_mean": _reduce("ReduceMean"), "reduce_sum": _reduce("ReduceSum"), "reduce_max": _reduce("ReduceMax"),
    "cast": t_cast, "dropout": t_dropout, "assign": _unary("Identity"),
    "greater_than": _binary("Greater"), "less_than": _binary("Less"), "equal": _binary("Equal"),
    "greater_equal": _binary("GreaterOrEqual"), "less_equal": _binary("LessOrEqual"), "logical_not": _unary("Not"),
    "logical_and": _binary("And"), "logical_or": _binary("Or"), "select_input": t_select_input,
    "multiclass_nms3": t_multiclass_nms3, "max_pool2d_with_index": t_max_pool2d_with_index,
    "stack": t_stack, "full_with_tensor": t_full_with_tensor,
}


# ---- files ---------------------------------------------------------------------------------------

def _persistable_names(program: dict) -> List[str]:
    if program["pir"]:
        names = set()
        for blk in program["blocks"]:
            for op in blk["ops"]:
                if op["type"] == "builtin.parameter" and op["attrs"].get("persistable", True):
                    names.add(op["attrs"]["parameter_name"])
        return sorted(names)
    skip = {"feed", "fetch"}
    names = set()
    for blk in program["blocks"]:
        for name, (vtype, _, _, persistable) in blk["vars"].items():
            if persistable and name not in skip and vtype == 7:
                names.add(name)
    return sorted(names)


def resolve(path: str):
    """(program file, pir?, parameter file or folder) for a .pdmodel, a PIR .json, a path prefix,
    a .pdiparams or a folder with __model__."""
    path = os.fspath(path)
    if os.path.isdir(path):
        model = os.path.join(path, "__model__")
        if not os.path.isfile(model):
            raise ModelFileError(f"{path}: a folder without __model__ is not a Paddle model")
        for combined in ("__params__", "params"):
            if os.path.isfile(os.path.join(path, combined)):
                return model, False, os.path.join(path, combined)
        return model, False, path
    stem, ext = os.path.splitext(path)
    if ext in (".pdiparams", ""):
        for cand, pir in ((stem + ".json", True), (stem + ".pdmodel", False)):
            if os.path.isfile(cand):
                return cand, pir, stem + ".pdiparams"
        raise ModelFileError(f"{path}: no {os.path.basename(stem)}.json or .pdmodel beside it")
    return path, ext == ".json", stem + ".pdiparams"


def is_pir_json(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return b'"base_code"' in head and b'"pir"' in head


def convert_file(path: str):
    """A Paddle inference model (.pdmodel + .pdiparams, PIR .json + .pdiparams, a path prefix,
    or a folder with __model__) as an irforge Model, without Paddle."""
    from irforge import _core
    from irforge.model import Model

    program_path, pir, params_path = resolve(path)
    program = _core.pd_read_pir(program_path) if pir else _core.pd_read_program(program_path)
    try:
        return _convert(program, program_path, params_path)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        # Decoded structure that is valid protobuf/JSON but not a valid Paddle program (an attribute
        # of the wrong kind, a missing operand): a model problem, not an irforge crash.
        raise InvalidModelError(f"{program_path}: malformed Paddle program ({type(e).__name__}: {e})") from None


def _convert(program, program_path, params_path):
    from irforge import _core
    from irforge.model import Model

    names = _persistable_names(program)
    params: Dict[str, tuple] = {}
    if names:
        if os.path.isdir(params_path):  # older folder form: one file per variable
            for n in names:
                f = os.path.join(params_path, n)
                if not os.path.isfile(f):
                    raise ModelFileError(f"{params_path}: no file for the persistable variable '{n}'")
                for name, dtype, dims, offset, nbytes in _core.pd_scan_params(f, [n]):
                    params[name] = (dtype, dims, offset, nbytes, f)
        else:
            if not os.path.isfile(params_path):
                raise ModelFileError(f"{params_path}: no such file (the parameters of {program_path})")
            for name, dtype, dims, offset, nbytes in _core.pd_scan_params(params_path, names):
                params[name] = (dtype, dims, offset, nbytes, params_path)
    model = _FolderAwareConverter(program, params, program_path).run()
    return model if isinstance(model, Model) else Model(model)


class _FolderAwareConverter(Converter):
    """Parameters may live in several files (the folder form)."""

    def __init__(self, program, params, label):
        super().__init__(program, {k: v[:4] for k, v in params.items()}, "", label)
        self.files = {k: v[4] for k, v in params.items()}

    def _params(self):
        for name, (dtype, dims, offset, nbytes) in self.params.items():
            if dtype not in _DTYPES:
                raise UnsupportedError(f"{self.label}: parameter '{name}' has unsupported data type {dtype}")
            self.set(name, self.b.constant_from_file(name, self.files[name], offset, _DTYPES[dtype], dims), global_=True)
