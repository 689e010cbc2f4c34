"""TensorFlow frontend: SavedModel folders, frozen GraphDef .pb files and TF1 MetaGraph +
checkpoint, read without TensorFlow, plus Keras models / `.keras` files (exported to a SavedModel
by TensorFlow, which the user then has).

The C++ reader (irforge._core.tf_*: cpp/io/tensorflow) decodes the protobufs and the
tensor-bundle index; weights never pass through Python: a variable or a large Const becomes a
constant viewing its memory-mapped file (Builder.constant_from_file). This module freezes the
graph while translating it, from the outputs backwards, so only what the outputs need is read:

- variables (VarHandleOp / VariableV2 + ReadVariableOp / ResourceGather) become constants, the
  checkpoint key of each found through the graph's own restore function (RestoreV2 + Assign);
- PartitionedCall / StatefulPartitionedCall bodies are inlined from the function library;
- Identity, StopGradient, CheckNumerics, NoOp, Assert, summaries and control edges disappear;
- PlaceholderWithDefault takes its default; frozen inputs (`input="is_training->False"`) are
  constants here, so TF1 Switch/Merge and If/While whose predicate they decide are resolved
  and the branch not taken is never translated. A TF1 tf.cond whose predicate stays an input
  (an unfrozen is_training) becomes an If per Merge (_cond_to_if).

TensorLists (tf.TensorArray, Keras LSTM/GRU) are their elements stacked on axis 0; a list a
While fills one element per iteration becomes the ONNX Loop's scan output.

TF1 loops (control flow v1: Enter/Merge/Switch/LoopCond/NextIteration/Exit) become one ONNX
Loop per frame; parts of a partitioned variable read their slices of the checkpoint.

Ops map onto ONNX ops; NHWC ops are emitted as their NCHW ONNX form between Transposes (a
general transpose-sinking pass cancels pairs). An op nobody translates: one error lists them all.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np

from irforge import _core
from irforge.builder import Builder
from irforge.errors import InvalidModelError, ModelFileError, UnsupportedError, UsageError

# TF DataType number -> numpy dtype (types.proto); ONNX codes come from Builder.elem_type.
_NP = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64, 10: np.bool_,
       17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
_ONNX_NAME = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 9: "int64", 10: "bool",
              14: "bfloat16", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}
_ONNX_CODE = {1: 1, 2: 11, 3: 6, 4: 2, 5: 5, 6: 3, 9: 7, 10: 9, 14: 16, 17: 4, 19: 10, 22: 12, 23: 13}
_INLINE_LIMIT = 4096  # Const bytes read into Python (shapes, axes); larger ones stay mapped views
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min

# Output arguments of multi-output ops, in order (function bodies name outputs "node:arg:index").
_OUTPUT_ARGS = {
    "FusedBatchNorm": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV2": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV3": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"],
    "TopKV2": ["values", "indices"],
    "Unique": ["y", "idx"],
    "NonMaxSuppressionV5": ["selected_indices", "selected_scores", "valid_outputs"],
    "NonMaxSuppressionV4": ["selected_indices", "valid_outputs"],
    "Switch": ["output_false", "output_true"],
    "Merge": ["output", "value_index"],
}
# Ops that only exist for training, checks or bookkeeping; they are never on a data path that
# matters once control edges are dropped.
_PASS_THROUGH = {"Identity", "StopGradient", "CheckNumerics", "Snapshot", "PreventGradient", "EnsureShape",
                 "PlaceholderWithDefault", "DebugIdentity", "DebugGradientIdentity"}


class TV:
    """A translated TF tensor: an IR value and/or a statically known numpy value, its TF dtype
    and static shape when known; or a resource (a variable's checkpoint key)."""

    __slots__ = ("v", "const", "dtype", "shape", "resource", "tlist")

    def __init__(self, v=None, const=None, dtype=None, shape=None, resource=None, tlist=None):
        self.v, self.const, self.dtype, self.shape, self.resource = v, const, dtype, shape, resource
        # A TensorList: "tensor" (v holds the elements stacked on axis 0, dtype is theirs),
        # ("reserved", element shape) before a loop fills it, ("scan", slot) inside the loop
        # body that fills it, ("written", slot, item, index) once the body has set its item.
        self.tlist = tlist
        if const is not None and shape is None:
            self.shape = list(const.shape)

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape)


def _np_dtype(tf_dtype, who):
    if tf_dtype not in _NP:
        raise UnsupportedError(f"{who}: element type {tf_dtype} (TF DataType) is not supported")
    return _NP[tf_dtype]


def _parse_ref(ref: str):
    """('node', out_arg or None, index, is_control) of an input reference."""
    if ref.startswith("^"):
        return ref[1:], None, 0, True
    parts = ref.split(":")
    if len(parts) == 1:
        return parts[0], None, 0, False
    if len(parts) == 2:
        return parts[0], None, int(parts[1]), False
    return parts[0], parts[1], int(parts[2]), False


def _shape_attr(node, index=0):
    shapes = node["attr"].get("_output_shapes")
    if isinstance(shapes, list) and index < len(shapes) and isinstance(shapes[index], tuple):
        dims = shapes[index][1]
        return None if dims is None else list(dims)
    return None


class Source:
    """A decoded TensorFlow model: the main graph, its function library, the chosen signature
    (input and output tensor names) and the variables' checkpoint."""

    def __init__(self, path: str, tags: Optional[Sequence[str]] = None, signature: Optional[str] = None):
        self.path = path
        self.bundle = None
        self.signature_inputs: Dict[str, tuple] = {}  # name -> (tensor, dtype, shape)
        self.signature_outputs: Dict[str, tuple] = {}
        self.const_file = None  # the file Const tensor_content offsets refer to
        self.scratch = None  # a temporary file to remove after converting
        restore_op = ""
        if os.path.isdir(path):
            pb = os.path.join(path, "saved_model.pb")
            if not os.path.isfile(pb):
                raise ModelFileError(f"{path}: a folder without saved_model.pb (not a SavedModel)")
            metas = _core.tf_read_saved_model(pb)
            meta = self._pick_meta(metas, tags, pb)
            self.const_file = pb
            self._use_signature(meta, signature, pb)
            prefix = os.path.join(path, "variables", "variables")
            if os.path.isfile(prefix + ".index"):
                self.bundle = _core.TfBundle.open(prefix)
            restore_op = meta["saver_restore_op"]
            graph = meta["graph"]
        elif path.endswith(".meta"):
            meta = _core.tf_read_meta_graph(path)
            self.const_file = path
            if tags and set(meta["tags"]) != set(tags):
                raise UsageError(f"{path}: the MetaGraph's tags are {meta['tags']}, not {sorted(tags)}")
            if signature and not meta["signatures"]:
                raise UsageError(f"{path}: no signature '{signature}' (the MetaGraph has no signatures)")
            if meta["signatures"]:
                self._use_signature(meta, signature, path)
            prefix = path[: -len(".meta")]
            if os.path.isfile(prefix + ".index"):
                self.bundle = _core.TfBundle.open(prefix)
            restore_op = meta["saver_restore_op"]
            graph = meta["graph"]
        elif tags or signature:
            raise UsageError(f"{path}: a frozen GraphDef has no MetaGraph tags or signatures; saved_model_tags= and "
                             "signature= are for SavedModel folders and TF1 .meta files")
        elif path.endswith(".pbtxt"):
            # Re-encoded as binary into a scratch file the constants can view (text holds its
            # tensors as escaped strings: there is nothing to map in place).
            fd, self.scratch = tempfile.mkstemp(prefix="irforge-pbtxt-", suffix=".pb")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_core.tf_text_graph_to_binary(path))
                graph = _core.tf_read_graph_def(self.scratch)
            except BaseException:
                os.unlink(self.scratch)
                raise
            self.const_file = self.scratch
        else:
            graph = _core.tf_read_graph_def(path)
            self.const_file = path
        self.nodes: List[dict] = graph["nodes"]
        self.functions: Dict[str, dict] = graph["functions"]
        self.by_name = {n["name"]: n for n in self.nodes}
        self.var_keys = self._variable_keys(restore_op) if self.bundle is not None else {}
        if not self.signature_outputs:
            self._default_endpoints()

    def _pick_meta(self, metas, tags, pb):
        if tags:
            for m in metas:
                if set(m["tags"]) == set(tags):
                    return m
            raise UsageError(f"{pb}: no MetaGraph with tags {sorted(tags)} (there are {[m['tags'] for m in metas]})")
        for m in metas:
            if "serve" in m["tags"]:
                return m
        return metas[0]

    def _use_signature(self, meta, signature, where):
        sigs = {k: v for k, v in meta["signatures"].items() if v["outputs"] and k != "__saved_model_init_op"}
        if signature is None:
            signature = "serving_default" if "serving_default" in sigs else (sorted(sigs)[0] if sigs else None)
        if signature is None:
            return
        if signature not in sigs:
            raise UsageError(f"{where}: no signature '{signature}' (signatures: {', '.join(sorted(sigs)) or 'none'})")
        self.signature = signature
        self.signature_inputs = dict(sorted(sigs[signature]["inputs"].items()))
        self.signature_outputs = dict(sorted(sigs[signature]["outputs"].items()))

    def _default_endpoints(self):
        """A plain GraphDef: Placeholders are inputs, nodes nobody consumes are outputs."""
        consumed = set()
        for n in self.nodes:
            for ref in n["inputs"]:
                consumed.add(_parse_ref(ref)[0])
        skip = {"NoOp", "Assert", "SaveV2", "RestoreV2", "Assign", "AssignVariableOp", "VarHandleOp", "VariableV2",
                "VarIsInitializedOp", "Const", "Placeholder", "PlaceholderWithDefault",
                "ReadVariableOp",  # TF1 resource variables' own <var>/Read snapshot
                "Exit"}  # a TF1 loop variable nobody reads after the loop (its counter)
        for n in self.nodes:
            if n["op"] == "Placeholder":
                dtype = n["attr"].get("dtype", 1)
                shape = n["attr"].get("shape")
                dims = shape[1] if isinstance(shape, tuple) else None
                self.signature_inputs[n["name"]] = (n["name"] + ":0", dtype, dims)
        saver = re.compile(r"^save(_\d+)?/")  # tf.train.Saver's own subgraph

        predicates = {_parse_ref(n["inputs"][1])[0] for n in self.nodes if n["op"] == "Switch" and len(n["inputs"]) > 1}

        def cond_scaffolding(n):  # tf.cond v1's switch_t / switch_f markers and pred_id (unused when
            # the branches are constants)
            src = self.by_name.get(_parse_ref(n["inputs"][0])[0]) if n["op"] == "Identity" and n["inputs"] else None
            return src is not None and (src["op"] == "Switch" or src["name"] in predicates)

        for n in self.nodes:
            if n["name"] not in consumed and n["op"] not in skip and not saver.match(n["name"]) and not cond_scaffolding(n) and not n["op"].startswith(("Save", "Restore")) \
                    and "summary" not in n["op"].lower():
                self.signature_outputs[n["name"]] = (n["name"] + ":0", None, None)
        if not self.signature_outputs:
            raise InvalidModelError(f"{self.path}: the graph has no output (every node is consumed or bookkeeping)")

    # ---- variables -----------------------------------------------------------------------------

    def _variable_keys(self, restore_op: str) -> Dict[str, str]:
        """Variable node name -> checkpoint key, from the graph's restore code: each Assign /
        AssignVariableOp whose value comes (through Identity) from RestoreV2 output k names
        tensor_names[k] as its variable's key."""
        keys: Dict[str, str] = {}

        def restored_key(nodes_by_name, ref, fn_style):
            name, arg, idx, _ = _parse_ref(ref)
            for _ in range(8):
                n = nodes_by_name.get(name)
                if n is None:
                    return None
                if n["op"] == "Identity":
                    name, arg, idx, _ = _parse_ref(n["inputs"][0])
                    continue
                if n["op"] in ("RestoreV2", "Restore", "RestoreSlice") and len(n["inputs"]) >= 2:
                    tn = nodes_by_name.get(_parse_ref(n["inputs"][1])[0])
                    if tn is None or tn["op"] != "Const":
                        return None
                    names = tn["attr"]["value"]["string_val"]
                    if idx >= len(names):
                        return None
                    name = names[idx].decode("utf-8", "replace")
                    # A partitioned variable's part restores one slice of the saved tensor.
                    sn = nodes_by_name.get(_parse_ref(n["inputs"][2])[0]) if len(n["inputs"]) > 2 else None
                    slices = sn["attr"]["value"]["string_val"] if sn is not None and sn["op"] == "Const" else []
                    spec = slices[idx].decode("utf-8", "replace") if idx < len(slices) else ""
                    return (name, spec) if spec else name
                return None
            return None

        by_name = self.by_name
        # TF1: assignments in the main graph.
        for n in self.nodes:
            if n["op"] in ("Assign", "AssignVariableOp") and len(n["inputs"]) >= 2:
                key = restored_key(by_name, n["inputs"][1], False)
                if key is not None:
                    keys[_parse_ref(n["inputs"][0])[0]] = key
        # TF2: the restore function called by the saver's restore op (args bound at the call).
        call = by_name.get(restore_op.split(":")[0]) if restore_op else None
        if call is not None and isinstance(call["attr"].get("f"), dict):
            fn = self.functions.get(call["attr"]["f"]["func"])
            if fn is not None:
                fnodes = {n["name"]: n for n in fn["nodes"]}
                arg_pos = {a["name"]: i for i, a in enumerate(fn["inputs"])}
                for n in fn["nodes"]:
                    if n["op"] == "AssignVariableOp" and len(n["inputs"]) >= 2:
                        key = restored_key(fnodes, n["inputs"][1], True)
                        arg = _parse_ref(n["inputs"][0])[0]
                        if key is not None and arg in arg_pos and arg_pos[arg] < len(call["inputs"]):
                            keys[_parse_ref(call["inputs"][arg_pos[arg]])[0]] = key
        # Keras 3 keeps a second handle per variable, initialised by reading the first one.
        for n in self.nodes:
            if n["op"] == "AssignVariableOp" and len(n["inputs"]) >= 2:
                target = _parse_ref(n["inputs"][0])[0]
                src = by_name.get(_parse_ref(n["inputs"][1])[0])
                if target in keys and src is not None and src["op"] == "ReadVariableOp":
                    keys.setdefault(_parse_ref(src["inputs"][0])[0], keys[target])
        return keys

    def variable_key(self, node) -> str:
        name = node["name"]
        if name in self.var_keys:
            return self.var_keys[name]
        if self.bundle is not None:
            shared = node["attr"].get("shared_name", b"")
            for cand in (shared.decode() if isinstance(shared, bytes) else "", name):
                if cand and cand in set(self.bundle.keys()):
                    return cand
        raise InvalidModelError(f"{self.path}: variable '{name}' ({node['op']}): no value for it in the checkpoint "
                                f"({'no variables/ bundle' if self.bundle is None else 'not restored by the saver'})")


class _Scope:
    """A body being translated: the main graph or an inlined function, with its bound args."""

    def __init__(self, nodes: List[dict], args: Dict[str, TV], fn: Optional[dict], prefix: str):
        self.nodes = {n["name"]: n for n in nodes}
        self.args = args
        self.fn = fn
        self.prefix = prefix
        self.values: Dict[str, List[TV]] = {}
        self.conds: Dict[str, "_Cond"] = {}  # Merges to build as an If (a run-time tf.cond v1)
        self.inner_switches: Dict[str, set] = {}  # a nested cond's Merge -> the Switches of its branches


class _Cond:
    """A tf.cond (v1) on a run-time predicate, seen from its Merge: the predicate reference and,
    per side (1 true, 0 false), the Merge input it gives and the Switches its branch reads."""

    def __init__(self, pred_ref: str, branches: Dict[int, tuple], true_input: int):
        self.pred_ref, self.branches, self.true_input = pred_ref, branches, true_input


def _strip_identity(nodes, ref):
    name, arg, idx, _ = _parse_ref(ref)
    for _ in range(256):
        n = nodes.get(name)
        if n is None or n["op"] not in ("Identity", "Snapshot") or not n["inputs"]:
            break
        name, arg, idx, _ = _parse_ref(n["inputs"][0])
    return f"{name}:{arg + ':' if arg else ''}{idx}"


class Converter:
    def __init__(self, src: Source, frozen: Dict[str, np.ndarray], shapes: Dict[str, list]):
        self.src = src
        self.b = Builder(src.path)
        self.frozen = frozen
        self.shapes = shapes
        self.graph = None
        self._weights: Dict[str, TV] = {}
        self._depth = 0
        self._conds_building = set()  # Merges whose If is being built (a branch reaching one again is a cycle)

    # ---- IR helpers ------------------------------------------------------------------------------

    def op(self, op_type, inputs, outputs=1, **attrs):
        ins = [None if x is None else self.val(x) for x in inputs]
        # Node names share the builder's namespace with values: "<tf node>/<op>" leaves the TF
        # node's own name free for the graph output that a plain GraphDef names after it.
        outs = self.b.node(op_type, ins, attrs, outputs=outputs, name=f"{self._name}/{op_type}", graph=self.graph)
        return outs[0] if outputs == 1 else outs

    def val(self, x):
        """The IR value of a TV (creating a constant for a static value), or x when it is one."""
        if not isinstance(x, TV):
            return x
        if x.v is None:
            if x.const is None:
                raise InvalidModelError(f"{self.src.path}: node '{self._name}': uses a resource as a tensor")
            arr = np.ascontiguousarray(x.const) if x.const.ndim else x.const.copy()
            x.v = self.b.constant("const", arr)
        return x.v

    def const(self, array, dtype=None):
        return TV(const=np.asarray(array, dtype=dtype))

    def i64(self, values):
        return self.val(self.const(np.asarray(values, np.int64)))

    def to_i64(self, x: TV):
        if x.const is not None:
            return self.val(self.const(x.const.astype(np.int64)))
        return self.op("Cast", [x], to=7) if x.dtype != 9 else self.val(x)

    def nchw(self, x):
        return self.op("Transpose", [x], perm=[0, 3, 1, 2])

    def nhwc(self, x):
        return self.op("Transpose", [x], perm=[0, 2, 3, 1])

    def static(self, x: TV, what):
        if x.const is None:
            raise UnsupportedError(f"{self.src.path}: node '{self._name}': {what} must be a constant")
        return x.const

    # ---- traversal -------------------------------------------------------------------------------

    def output_index(self, scope: _Scope, node, arg, idx):
        if arg is None:
            return idx
        op = node["op"]
        names = _OUTPUT_ARGS.get(op)
        fn = self._callee(node)
        if fn is not None:
            names = [a["name"] for a in fn["outputs"]]
        if names and arg in names:
            return names.index(arg) + idx
        return idx

    def _callee(self, node):
        f = node["attr"].get("f")
        if node["op"] in ("StatefulPartitionedCall", "PartitionedCall") and isinstance(f, dict):
            return self.src.functions.get(f["func"])
        if node["op"] in self.src.functions:
            return self.src.functions[node["op"]]
        return None

    def resolve(self, scope: _Scope, ref: str) -> TV:
        name, arg, idx, _ = _parse_ref(ref)
        if name in scope.args and arg is None and name not in scope.nodes:
            return scope.args[name]
        if name not in scope.values:
            self.compute(scope, name)
        node = scope.nodes[name]
        outs = scope.values[name]
        i = self.output_index(scope, node, arg, idx)
        if i >= len(outs) or outs[i] is None:
            raise InvalidModelError(f"{self.src.path}: node '{name}' ({node['op']}) has no output {ref.split(':', 1)[-1]}")
        return outs[i]

    def compute(self, scope: _Scope, target: str):
        """Translates `target` and what it needs, in dependency order, without recursion."""
        stack = [(target, False)]
        in_progress = set()
        while stack:
            name, ready = stack.pop()
            if name in scope.values:
                continue
            node = scope.nodes.get(name)
            if node is None:
                raise InvalidModelError(f"{self.src.path}: {'function ' + repr(scope.fn['name']) + ': ' if scope.fn else ''}"
                                        f"an input refers to '{name}', which no node defines")
            deps = self._data_deps(scope, node)
            if ready:
                in_progress.discard(name)
                self._translate(scope, node, deps)
                continue
            if name in in_progress:
                raise InvalidModelError(f"{self.src.path}: a cycle through node '{name}' ({node['op']}); "
                                        "a cycle that is not a TF1 loop's NextIteration -> Merge")
            in_progress.add(name)
            stack.append((name, True))
            for d in deps:
                dn = _parse_ref(d)[0]
                if dn not in scope.values and not (dn in scope.args and dn not in scope.nodes):
                    stack.append((dn, False))

    def _data_deps(self, scope, node):
        """Inputs this node's translation reads; Switch/Merge read only what the frozen
        predicate leaves alive."""
        ins = [r for r in node["inputs"] if not r.startswith("^")]
        if node["op"] == "Exit":  # the whole TF1 loop is built from its frame (_tf1_loop)
            return []
        if node["op"] == "Merge":
            cond = self._runtime_cond(scope, node)
            if cond is not None:  # both branches are built inside the If (_merge)
                scope.conds[node["name"]] = cond
                return []
            live = [r for r in ins if self._alive(scope, r)]
            return live[:1] if live else ins[:1]
        return ins

    def _alive(self, scope, ref):
        """False when `ref` lies on the dead side of a Switch whose predicate is constant."""
        seen, todo = set(), [(ref, 0)]
        while todo:
            r, d = todo.pop()
            n_name, arg, idx, _ = _parse_ref(r)
            if n_name in seen or d > 4000:
                continue
            seen.add(n_name)
            node = scope.nodes.get(n_name)
            if node is None:
                continue
            if node["op"] == "Switch":
                pred = self.resolve(scope, node["inputs"][1])
                if pred.const is not None:
                    want = 1 if bool(pred.const) else 0
                    if self.output_index(scope, node, arg, idx) != want:
                        return False
                    continue
            if node["op"] == "Merge":
                continue
            for i in node["inputs"]:
                if not i.startswith("^"):
                    todo.append((i, d + 1))
        return True

    def _cond_switches(self, scope, ref, depth=0):
        """The Switches a tf.cond (v1) branch reads its outer values through: {Switch name: {output
        index}} found walking back from `ref` over data and control edges (a branch's constants hang
        on its pivot, switch_t/switch_f, by a control edge). A nested cond is crossed as a whole:
        the walk goes on from the inputs of its own Switches."""
        if depth > 64:
            raise UnsupportedError(f"{self.src.path}: tf.cond regions nest more than 64 deep at '{_parse_ref(ref)[0]}'")
        found: Dict[str, set] = {}
        seen, todo = set(), [ref]
        while todo:
            name, arg, idx, control = _parse_ref(todo.pop())
            node = scope.nodes.get(name)
            if node is None or name in scope.values:  # computed outside this region (or bound: a loop variable)
                continue
            if node["op"] == "Switch":
                if not control:
                    found.setdefault(name, set()).add(self.output_index(scope, node, arg, idx))
                continue
            if name in seen:
                continue
            seen.add(name)
            if node["op"] in ("Enter", "NextIteration"):
                continue
            if node["op"] == "Merge" and not self._loop_merge(scope, node):
                if name not in scope.inner_switches:  # once per Merge: no exponential walk through shared ones
                    scope.inner_switches[name] = set()  # (and none through a cycle back to it)
                    scope.inner_switches[name] = set().union(*(self._cond_switches(scope, r, depth + 1) for r in node["inputs"]))
                for inner in scope.inner_switches[name]:
                    todo.extend(scope.nodes[inner]["inputs"][:2])
                continue
            todo.extend(node["inputs"])
        return found

    def _loop_merge(self, scope, node):
        return any(scope.nodes.get(_parse_ref(r)[0], {}).get("op") in ("Enter", "NextIteration") for r in node["inputs"])

    def _runtime_cond(self, scope, node):
        """The tf.cond (v1) a Merge ends when its predicate is only known at run time (None when
        it is constant, e.g. a frozen is_training, or the Merge is a TF1 loop's)."""
        if self._loop_merge(scope, node):
            return None
        ins = [r for r in node["inputs"] if not r.startswith("^")]
        per_input = [self._cond_switches(scope, r) for r in ins]
        preds: Dict[str, str] = {}  # the predicate with Identity (cond/pred_id) stripped -> a reference to it
        for switches in per_input:
            for s in switches:
                ref = scope.nodes[s]["inputs"][1]
                preds.setdefault(_strip_identity(scope.nodes, ref), ref)
        if all(self.resolve(scope, ref).const is not None for ref in preds.values()):
            return None
        who = f"{self.src.path}: node '{node['name']}' (Merge)"
        if len(preds) != 1:
            raise UnsupportedError(f"{who}: its inputs come through Switches on {len(preds)} different predicates "
                                   f"({', '.join(sorted(preds))}); only a tf.cond whose two branches hang on one "
                                   "predicate becomes an If")
        sides = [set().union(*switches.values()) if switches else set() for switches in per_input]
        if len(ins) != 2 or any(len(sd) > 1 for sd in sides) or not (sides[0] or sides[1]) or sides[0] == sides[1]:
            shown = ["none" if not sd else ("both" if len(sd) > 1 else ("true" if 1 in sd else "false")) for sd in sides]
            raise UnsupportedError(f"{who}: not a two-way tf.cond join on the run-time predicate '{next(iter(preds))}' "
                                   f"(Switch sides reaching its {len(ins)} inputs: {', '.join(shown)}); freeze the "
                                   "predicate (input='name->False') to convert this graph")
        side = [next(iter(sd)) if sd else None for sd in sides]
        side = [sd if sd is not None else 1 - side[1 - k] for k, sd in enumerate(side)]
        return _Cond(next(iter(preds.values())), {side[k]: (ins[k], per_input[k]) for k in range(2)}, side.index(1))

    def _translate(self, scope: _Scope, node, deps):
        op = node["op"]
        self._name = scope.prefix + node["name"]
        self._scope = scope
        ins = [self.resolve(scope, r) for r in deps]
        fn = self._callee(node)
        if fn is not None:
            outs = self.inline(fn, ins, scope.prefix + node["name"] + "/")
        else:
            handler = _OPS.get(op)
            if handler is None:
                raise UnsupportedError(f"{self.src.path}: node '{node['name']}': op {op} is not supported")
            try:
                outs = handler(self, node, ins)
            except (UnsupportedError, InvalidModelError, UsageError):
                raise
            except (KeyError, IndexError, ValueError, TypeError) as e:
                raise InvalidModelError(f"{self.src.path}: node '{node['name']}' ({op}): {type(e).__name__}: {e}") from None
        if not isinstance(outs, list):
            outs = [outs]
        outs = [o if (o is None or isinstance(o, TV)) else TV(v=o) for o in outs]
        for i, o in enumerate(outs):
            if o is not None and o.shape is None:
                o.shape = _shape_attr(node, i)
            if o is not None and o.dtype is None:
                o.dtype = _out_dtype(node, o)
        scope.values[node["name"]] = outs

    def inline(self, fn, ins: List[TV], prefix: str) -> List[TV]:
        self._depth += 1
        if self._depth > 64:
            raise InvalidModelError(f"{self.src.path}: function '{fn['name']}' calls itself, or calls nest more than 64 deep")
        if len(ins) != len(fn["inputs"]):
            raise InvalidModelError(f"{self.src.path}: function '{fn['name']}' takes {len(fn['inputs'])} inputs, called with {len(ins)}")
        scope = _Scope(fn["nodes"], {a["name"]: v for a, v in zip(fn["inputs"], ins)}, fn, prefix)
        caller = self._name
        outs = []
        for a in fn["outputs"]:
            ref = fn["ret"].get(a["name"])
            if ref is None:
                raise InvalidModelError(f"{self.src.path}: function '{fn['name']}' does not return its output '{a['name']}'")
            outs.append(self.resolve(scope, ref))
        self._depth -= 1
        self._name = caller
        return outs

    # ---- whole model -----------------------------------------------------------------------------

    def run(self):
        src = self.src
        main = _Scope(src.nodes, {}, None, "")
        self._name = ""
        self.check_supported()
        for key, (tensor, dtype, dims) in src.signature_inputs.items():
            node_name = _parse_ref(tensor)[0]
            node = src.by_name.get(node_name)
            if node is None:
                raise InvalidModelError(f"{src.path}: signature input '{key}' names '{tensor}', which no node defines")
            dtype = dtype or node["attr"].get("dtype", 1)
            if key in self.frozen or node_name in self.frozen:
                value = self.frozen.get(key, self.frozen.get(node_name))
                main.values[node_name] = [self.const(np.asarray(value, _np_dtype(dtype, key)))]
                continue
            dims = self.shapes.get(key, self.shapes.get(node_name, dims))
            shape = None if dims is None else [None if d is None or d < 0 else int(d) for d in dims]
            v = self.b.input(key, _ONNX_NAME.get(dtype, "float32"), shape)
            main.values[node_name] = [TV(v=v, dtype=dtype, shape=None if dims is None else list(dims))]
        outs = []
        for key, (tensor, _dtype, _dims) in src.signature_outputs.items():
            outs.append((key, self.resolve(main, tensor)))
        for key, tv in outs:
            self.b.output(self.val(tv), key)
        return self.b.finish()

    def check_supported(self):
        """One error listing every op no translator knows, over what the outputs reach."""
        missing = {}
        seen_fns = set()

        def scan(nodes, where):
            for n in nodes:
                op = n["op"]
                fn = self._callee(n)
                if fn is not None:
                    if fn["name"] not in seen_fns:
                        seen_fns.add(fn["name"])
                        scan(fn["nodes"], fn["name"])
                    continue
                for a in ("then_branch", "else_branch", "body", "cond"):
                    f = n["attr"].get(a)
                    if isinstance(f, dict) and f["func"] in self.src.functions and f["func"] not in seen_fns:
                        seen_fns.add(f["func"])
                        scan(self.src.functions[f["func"]]["nodes"], f["func"])
                if op not in _OPS and op not in _IGNORED:
                    missing.setdefault(op, n["name"])

        needed = self._reachable()
        scan([n for n in self.src.nodes if n["name"] in needed], "")
        if missing:
            listed = ", ".join(f"{op} (e.g. node '{name}')" for op, name in sorted(missing.items()))
            raise UnsupportedError(f"{self.src.path}: {len(missing)} TensorFlow op type(s) are not supported: {listed}")

    def _reachable(self):
        todo = [_parse_ref(t)[0] for t, _, _ in self.src.signature_outputs.values()]
        seen = set()
        while todo:
            n = todo.pop()
            if n in seen or n not in self.src.by_name:
                continue
            seen.add(n)
            for r in self.src.by_name[n]["inputs"]:
                if not r.startswith("^"):
                    todo.append(_parse_ref(r)[0])
        return seen

    # ---- weights ---------------------------------------------------------------------------------

    def weight(self, key: str) -> TV:
        if key not in self._weights:
            sliced = isinstance(key, tuple)  # (name, "shape slice"): one part of a partitioned variable
            dtype, dims, shard, offset, size = self.src.bundle.slice_entry(*key) if sliced else self.src.bundle.entry(key)
            if dtype not in _ONNX_NAME:
                raise UnsupportedError(f"{self.src.bundle.index_path}: tensor '{key}' has unsupported TF dtype {dtype}")
            if size <= 64:  # small enough to know statically (BN epsilon-like scalars, shapes)
                with open(shard, "rb") as f:
                    f.seek(offset)
                    arr = np.frombuffer(f.read(size), dtype=_NP[dtype]).reshape(dims)
                self._weights[key] = TV(const=arr.copy(), dtype=dtype)
            else:
                v = self.b.constant_from_file(f"{key[0]}/slice" if sliced else key, shard, offset, _ONNX_NAME[dtype], dims)
                self._weights[key] = TV(v=v, dtype=dtype, shape=list(dims))
        return self._weights[key]


_IGNORED = {"NoOp", "Assert", "SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
            "AssignVariableOp", "Assign", "VarIsInitializedOp", "ScalarSummary", "HistogramSummary", "MergeSummary"}


def _out_dtype(node, tv):
    a = node["attr"]
    for k in ("T", "dtype", "DstT", "out_type", "output_type", "Tidx"):
        if k in a and isinstance(a[k], int) and not isinstance(a[k], bool):
            if node["op"] in ("Shape", "Size", "Rank", "ArgMax", "ArgMin", "Cast") and k == "T":
                continue
            return a[k]
    return None


# ---- op translators ----------------------------------------------------------------------------

_OPS = {}


def _reg(*names):
    def deco(fn):
        for n in names:
            _OPS[n] = fn
        return fn

    return deco


def _data_format(node):
    fmt = node["attr"].get("data_format", b"NHWC")
    return fmt.decode() if isinstance(fmt, bytes) else fmt


def _pad_attrs(c, node, kernel_spatial: int = 2):
    padding = node["attr"].get("padding", b"VALID").decode()
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "VALID":
        return {"auto_pad": "VALID"}
    if padding == "EXPLICIT":
        ex = list(node["attr"].get("explicit_paddings", []))
        nhwc = _data_format(node) == "NHWC"
        spatial = [1, 2] if nhwc else [2, 3]
        begins = [ex[2 * d] for d in spatial]
        ends = [ex[2 * d + 1] for d in spatial]
        return {"pads": begins + ends}
    raise UnsupportedError(f"{c.src.path}: node '{node['name']}': padding '{padding}'")


def _hw(node, key, default=1):
    v = list(node["attr"].get(key, [default] * 4))
    return v[1:3] if _data_format(node) == "NHWC" else v[2:4]


@_reg("Const")
def _const(c, node, ins):
    t = node["attr"]["value"]
    dtype = t["dtype"]
    dims = t["shape"] or []
    who = f"{c.src.path}: Const '{node['name']}'"
    if dtype == 7:  # strings: only names of checkpoint tensors and the like, never on the data path
        return TV(const=np.array(t["string_val"], dtype=object).reshape(dims) if t["string_val"] else None, dtype=7, shape=dims)
    npd = _np_dtype(dtype, who)
    count = int(np.prod(dims)) if dims else 1
    if t["offset"] is not None:
        if t["size"] != count * np.dtype(npd).itemsize:
            raise InvalidModelError(f"{who}: tensor_content has {t['size']} bytes, {np.dtype(npd).name} x {dims} needs "
                                    f"{count * np.dtype(npd).itemsize}")
        if t["size"] > _INLINE_LIMIT:
            return TV(v=c.b.constant_from_file(node["name"], c.src.const_file, t["offset"], _ONNX_NAME[dtype], dims),
                      dtype=dtype, shape=list(dims))
        with open(c.src.const_file, "rb") as f:
            f.seek(t["offset"])
            arr = np.frombuffer(f.read(t["size"]), dtype=npd).reshape(dims).copy()
        return TV(const=arr, dtype=dtype)
    vals = t["float_val"] if np.issubdtype(npd, np.floating) else t["int_val"]
    if count > (1 << 24):
        raise InvalidModelError(f"{who}: a typed-value constant of {count} elements")
    if not vals:
        arr = np.zeros(dims, npd)
    elif len(vals) >= count:
        arr = np.asarray(vals[:count], npd).reshape(dims)
    else:  # TF repeats the last value to fill the shape
        arr = np.concatenate([np.asarray(vals, npd), np.full(count - len(vals), vals[-1], npd)]).reshape(dims)
    return TV(const=arr, dtype=dtype)


@_reg(*_PASS_THROUGH)
def _identity(c, node, ins):
    return ins[0]


@_reg("IdentityN")
def _identity_n(c, node, ins):
    return list(ins)


@_reg("VarHandleOp", "VariableV2", "Variable")
def _var_handle(c, node, ins):
    key = c.src.variable_key(node)
    if node["op"] in ("VariableV2", "Variable"):  # TF1 ref variables are read by using them
        return c.weight(key)
    return TV(resource=key, dtype=20)


@_reg("ReadVariableOp")
def _read_variable(c, node, ins):
    if ins[0].resource is None:
        raise InvalidModelError(f"{c.src.path}: node '{node['name']}': ReadVariableOp of something that is not a variable")
    return c.weight(ins[0].resource)


@_reg("ResourceGather")
def _resource_gather(c, node, ins):
    w = c.weight(ins[0].resource)
    if node["attr"].get("batch_dims", 0):
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}': ResourceGather with batch_dims")
    return c.op("Gather", [w, ins[1]], axis=0)


def _frozen_pred(c, node, pred: TV):
    if pred.const is None:
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}' ({node['op']}): the predicate is not constant; "
                               "freeze the placeholder that decides it (input='name->False') to convert this graph")
    return bool(np.asarray(pred.const).reshape(-1)[0])


@_reg("Switch")
def _switch(c, node, ins):
    # A decided Switch: the branch not taken is never translated (TF1 tf.cond trains with one side
    # and infers with the other; freezing the flag picks the inference side). A Switch on a
    # run-time predicate is translated only inside an If that its cond's Merge builds (_merge).
    if ins[1].const is None:
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}' (Switch): the predicate is only known at run time "
                               "and this output is used without passing through a Merge of the same predicate, so no If "
                               "can hold it; freeze the placeholder that decides it (input='name->False')")
    taken = _frozen_pred(c, node, ins[1])
    return [None, ins[0]] if taken else [ins[0], None]


@_reg("Merge")
def _merge(c, node, ins):
    cond = c._scope.conds.get(node["name"])
    if cond is None:
        return [ins[0], c.const(np.int32(0))]
    return _cond_to_if(c, node, cond)


def _cond_to_if(c, node, cond: _Cond):
    """A tf.cond (v1) on a run-time predicate as an If: each branch is its Merge input translated
    in a subgraph where the branch's Switches give their data input. One If per Merge: a cond
    with several outputs becomes several Ifs on the same predicate (exact; the work shared by
    two outputs of one branch is done in each)."""
    scope, name = c._scope, c._name
    if node["name"] in c._conds_building:  # a branch reads its own Merge: no tf.cond makes that
        raise InvalidModelError(f"{c.src.path}: node '{node['name']}' (Merge): a cycle through it that is not a TF1 "
                                "loop's NextIteration -> Merge")
    c._conds_building.add(node["name"])
    try:
        return _cond_to_if_built(c, node, cond, scope, name)
    finally:
        c._conds_building.discard(node["name"])


def _cond_to_if_built(c, node, cond: _Cond, scope, name):
    pred = _as_bool(c, c.resolve(scope, cond.pred_ref))
    data = {s: c.resolve(scope, scope.nodes[s]["inputs"][0]) for _, switches in cond.branches.values() for s in switches}
    graphs = {}
    for side, attr in ((1, "then_branch"), (0, "else_branch")):
        ref, switches = cond.branches[side]

        def build(sub, ref=ref, switches=switches, side=side, attr=attr):
            sc = _Scope([], scope.args, scope.fn, scope.prefix)
            sc.nodes = scope.nodes
            sc.values.update(scope.values)
            for s in switches:
                sc.values[s] = [None, data[s]] if side else [data[s], None]
            out = c.resolve(sc, ref)
            c._name = name
            # An Identity inside the branch: a subgraph output must be produced there, not be an
            # outer value or a constant the branch merely passes on.
            c.b.output(c.op("Identity", [out]), f"{name}/{attr}:0", graph=sub)

        graphs[attr], _ = _body_graph(c, f"{name}/{attr}", build)
    c._name = name
    out = c.b.node("If", [pred], {"then_branch": graphs["then_branch"], "else_branch": graphs["else_branch"]},
                   outputs=1, name=name + "/If", graph=c.graph)[0]
    taken = c.op("Cast", [pred], to=6)  # value_index: the input the value came from
    index = taken if cond.true_input == 1 else c.op("Sub", [c.val(c.const(np.int32(1))), taken])
    return [TV(v=out), TV(v=index, dtype=3, shape=[])]


def _branch_fn(c, node, attr):
    name = node["attr"][attr]["func"]
    fn = c.src.functions.get(name)
    if fn is None:
        raise InvalidModelError(f"{c.src.path}: node '{node['name']}': function '{name}' ({attr}) is not in the library")
    return fn


def _as_bool(c, x: TV):
    if x.dtype == 10:
        return c.op("Reshape", [x, c.i64([])]) if x.rank not in (0, None) else c.val(x)
    return c.op("Cast", [c.op("Reshape", [x, c.i64([])])], to=9)


def _body_graph(c, name, build):
    """Runs build() with new nodes going into a fresh subgraph of the current graph."""
    outer = c.graph
    sub = c.b.subgraph(name, outer)
    c.graph = sub
    try:
        outs = build(sub)
    finally:
        c.graph = outer
    return sub, outs


@_reg("If", "StatelessIf")
def _if(c, node, ins):
    if ins[0].const is not None:  # decided (a frozen input, a constant): inline the branch taken
        taken = bool(np.asarray(ins[0].const).reshape(-1)[0])
        fn = _branch_fn(c, node, "then_branch" if taken else "else_branch")
        return c.inline(fn, ins[1:], c._name + ("/then/" if taken else "/else/"))
    cond = _as_bool(c, ins[0])
    n_out = len(_branch_fn(c, node, "then_branch")["outputs"])
    graphs = {}
    for attr in ("then_branch", "else_branch"):
        fn = _branch_fn(c, node, attr)

        def build(sub, fn=fn, attr=attr):
            outs = c.inline(fn, ins[1:], c._name + "/" + attr + "/")
            for i, o in enumerate(outs):
                c.b.output(c.val(o), f"{c._name}/{attr}:{i}", graph=sub)
            return outs

        graphs[attr], _ = _body_graph(c, c._name + "/" + attr, build)
    outs = c.b.node("If", [c.val(cond)], {"then_branch": graphs["then_branch"], "else_branch": graphs["else_branch"]},
                    outputs=n_out, name=c._name + "/If", graph=c.graph)
    return [TV(v=o) for o in outs]


def _loop_step(c, fn, i):
    """True when the body `fn` returns its input i plus 1 (a step counter)."""
    nodes = {n["name"]: n for n in fn["nodes"]}
    arg = fn["inputs"][i]["name"]
    ref = fn["ret"].get(fn["outputs"][i]["name"], "")
    n = nodes.get(_parse_ref(ref)[0])
    while n is not None and n["op"] == "Identity":
        n = nodes.get(_parse_ref(n["inputs"][0])[0])
    if n is None or n["op"] not in ("AddV2", "Add"):
        return False
    a, b = (_parse_ref(r)[0] for r in n["inputs"][:2])
    one = nodes.get(b)
    if a != arg or one is None or one["op"] != "Const":
        return False
    t = one["attr"]["value"]
    return list(t["int_val"]) == [1] and not t["shape"]


@_reg("While", "StatelessWhile")
def _while(c, node, ins):
    cond_fn, body_fn = _branch_fn(c, node, "cond"), _branch_fn(c, node, "body")
    # Variables passed through the loop are not carried: the body reads the same handle. Nor are
    # TensorLists: one read in the body is loop-invariant (the body must return it unchanged),
    # one reserved before the loop and set at the step counter's index each iteration becomes a
    # scan output (one element per iteration, stacked by the Loop itself).
    lists = [i for i, x in enumerate(ins) if x.tlist is not None]
    scans = [i for i in lists if isinstance(ins[i].tlist, tuple) and ins[i].tlist[0] == "reserved"]
    carried = [i for i, x in enumerate(ins) if x.resource is None and x.tlist is None]
    for i in carried:
        if ins[i].dtype is None or ins[i].dtype not in _ONNX_NAME:
            raise UnsupportedError(f"{c.src.path}: node '{node['name']}': loop variable {i} has an unknown type")
    for i in lists:
        if i not in scans and ins[i].tlist != "tensor":
            raise UnsupportedError(f"{c.src.path}: node '{node['name']}': loop variable {i} is a TensorList the loop cannot use")
    init_cond = _as_bool(c, c.inline(cond_fn, list(ins), c._name + "/cond0/")[0])
    scan_items, last_only = {}, set()

    def build(sub):
        c.b.input(c._name + "/iter", "int64", [], graph=sub)
        c.b.input(c._name + "/cond_in", "bool", [], graph=sub)
        args = list(ins)
        for i in carried:
            shape = ins[i].shape
            dims = None if shape is None else [None] * len(shape)
            v = c.b.input(f"{c._name}/var{i}", _ONNX_NAME[ins[i].dtype], dims, graph=sub)
            args[i] = TV(v=v, dtype=ins[i].dtype, shape=dims)
        for i in scans:
            args[i] = TV(dtype=ins[i].dtype, tlist=("scan", i))
        outs = c.inline(body_fn, args, c._name + "/body/")
        for i in lists:
            if i in scans:
                o = outs[i]
                if not (isinstance(o.tlist, tuple) and o.tlist[0] == "written" and o.tlist[1] == i):
                    raise UnsupportedError(f"{c.src.path}: node '{node['name']}': the TensorList in loop variable {i} "
                                           "is not set exactly once per iteration")
                index = o.tlist[3]
                if index.const is not None and int(np.asarray(index.const).reshape(-1)[0]) == 0 \
                        and ins[i].tlist[1] is not None and int(np.asarray(ins[i].tlist[1]).reshape(-1)[0]) == 1:
                    last_only.add(i)  # a one-element list overwritten each time: the last item wins
                    scan_items[i] = o.tlist[2]
                    continue
                step = [j for j in carried if args[j] is index]
                if not step or ins[step[0]].const is None or int(np.asarray(ins[step[0]].const)) != 0 \
                        or not _loop_step(c, body_fn, step[0]):
                    raise UnsupportedError(f"{c.src.path}: node '{node['name']}': the TensorList in loop variable {i} "
                                           "is set at an index other than the iteration number")
                scan_items[i] = o.tlist[2]
            elif outs[i] is not args[i]:
                raise UnsupportedError(f"{c.src.path}: node '{node['name']}': the loop changes the TensorList in loop variable {i}")
        keep = _as_bool(c, c.inline(cond_fn, outs, c._name + "/cond/")[0])
        c.b.output(keep, c._name + "/cond_out", graph=sub)
        for i in carried:
            c.b.output(c.val(outs[i]), f"{c._name}/out{i}", graph=sub)
        for i in scans:
            c.b.output(c.val(scan_items[i]), f"{c._name}/scan{i}", graph=sub)
        return outs

    body, _ = _body_graph(c, c._name + "/body", build)
    results = c.b.node("Loop", [None, c.val(init_cond)] + [c.val(ins[i]) for i in carried], {"body": body},
                       outputs=len(carried) + len(scans), name=c._name + "/Loop", graph=c.graph)
    out = list(ins)
    for i, r in zip(carried, results):
        out[i] = TV(v=r, dtype=ins[i].dtype)
    for i, r in zip(scans, results[len(carried):]):
        item = scan_items[i]
        if i in last_only:
            r = c.op("Slice", [r, c.i64([-1]), c.i64([_INT64_MAX]), c.i64([0])])
        out[i] = TV(v=r, dtype=ins[i].dtype, shape=None if item.shape is None else [None] + list(item.shape), tlist="tensor")
    return out


@_reg("ReverseV2")
def _reverse(c, node, ins):
    x, axes = ins
    axes = [int(a) for a in np.asarray(c.static(axes, "the axis")).reshape(-1)]
    if not axes:
        return x
    k = len(axes)  # a backwards Slice over each axis (Keras go_backwards / Bidirectional)
    return c.op("Slice", [x, c.i64([-1] * k), c.i64([_INT64_MIN] * k), c.i64(axes), c.i64([-1] * k)])


# -- TensorLists (tf.TensorArray in TF2): a list is its elements stacked on axis 0 --


def _list_dtype(node):
    return node["attr"].get("element_dtype", 1)


def _tensor_list(c, node, x: TV):
    if x.tlist != "tensor":
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}' ({node['op']}): a TensorList that is only filled "
                               "inside a loop as its iteration's element can be read only after that loop")
    return x


@_reg("TensorListFromTensor")
def _tl_from_tensor(c, node, ins):
    x = ins[0]
    return TV(v=c.val(x), dtype=_list_dtype(node), shape=x.shape, tlist="tensor")


@_reg("TensorListReserve", "EmptyTensorList")
def _tl_reserve(c, node, ins):
    return TV(dtype=_list_dtype(node), tlist=("reserved", ins[1].const))


@_reg("TensorListGetItem")
def _tl_get_item(c, node, ins):
    lst = _tensor_list(c, node, ins[0])
    return TV(v=c.op("Gather", [lst, c.to_i64(ins[1])], axis=0), dtype=lst.dtype,
              shape=None if lst.shape is None else list(lst.shape[1:]))


@_reg("TensorListSetItem")
def _tl_set_item(c, node, ins):
    lst, index, item = ins[:3]
    if isinstance(lst.tlist, tuple) and lst.tlist[0] == "scan":
        return TV(dtype=lst.dtype, tlist=("written", lst.tlist[1], item, index))
    lst = _tensor_list(c, node, lst)
    where = c.op("Reshape", [c.to_i64(index), c.i64([1, 1])])
    updated = c.op("ScatterND", [lst, where, c.op("Unsqueeze", [item, c.i64([0])])])
    return TV(v=updated, dtype=lst.dtype, shape=lst.shape, tlist="tensor")


@_reg("TensorListStack")
def _tl_stack(c, node, ins):
    lst = _tensor_list(c, node, ins[0])
    return TV(v=c.val(lst), dtype=lst.dtype, shape=lst.shape)


@_reg("TensorListLength")
def _tl_length(c, node, ins):
    lst = _tensor_list(c, node, ins[0])
    n = c.op("Gather", [c.op("Shape", [lst]), c.i64(0)], axis=0)
    return TV(v=c.op("Cast", [n], to=6), dtype=3, shape=[])


@_reg("TensorListElementShape")
def _tl_element_shape(c, node, ins):
    lst = _tensor_list(c, node, ins[0])
    dims = c.op("Slice", [c.op("Shape", [lst]), c.i64([1]), c.i64([_INT64_MAX])])
    to = node["attr"].get("shape_type", 3)
    return TV(v=c.op("Cast", [dims], to=_ONNX_CODE.get(to, 6)) if to != 9 else dims, dtype=to)


# -- TF1 control flow v1 loops: Enter -> Merge <- NextIteration, Merge -> Switch(LoopCond) ->
# Exit (done) / Identity (the body) -- become an ONNX Loop carrying the non-constant Enters.


def _tf1_frame(c, scope, exit_node):
    """The loop an Exit leaves: (frame name, [(Enter, Merge, Switch, NextIteration)] per loop
    variable, constant Enters, LoopCond)."""
    who = f"{c.src.path}: node '{exit_node['name']}' (Exit)"
    nodes = scope.nodes

    def producer(ref, op):
        n = nodes.get(_parse_ref(ref)[0])
        if n is None or n["op"] != op:
            raise InvalidModelError(f"{who}: expected a {op} at '{ref}' in the TF1 loop structure")
        return n

    sw = producer(exit_node["inputs"][0], "Switch")
    merge = producer(sw["inputs"][0], "Merge")
    enter = next((nodes[_parse_ref(r)[0]] for r in merge["inputs"] if nodes.get(_parse_ref(r)[0], {}).get("op") == "Enter"), None)
    if enter is None:
        raise InvalidModelError(f"{who}: the loop variable's Merge '{merge['name']}' has no Enter input")
    frame = enter["attr"].get("frame_name", b"")
    loop_cond = producer(sw["inputs"][1], "LoopCond")
    consumers: Dict[str, List[dict]] = {}
    for n in nodes.values():
        for r in n["inputs"]:
            if not r.startswith("^"):
                consumers.setdefault(_parse_ref(r)[0], []).append(n)
    variables, constants = [], []
    for e in nodes.values():
        if e["op"] != "Enter" or e["attr"].get("frame_name", b"") != frame:
            continue
        if e["attr"].get("is_constant", False):
            constants.append(e)
            continue
        m = next((n for n in consumers.get(e["name"], []) if n["op"] == "Merge"), None)
        if m is None:
            raise UnsupportedError(f"{who}: loop variable Enter '{e['name']}' does not feed a Merge")
        s = next((n for n in consumers.get(m["name"], []) if n["op"] == "Switch"), None)
        nxt = [nodes.get(_parse_ref(r)[0]) for r in m["inputs"] if _parse_ref(r)[0] != e["name"]]
        if s is None or len(nxt) != 1 or nxt[0] is None or nxt[0]["op"] != "NextIteration":
            raise UnsupportedError(f"{who}: loop variable '{m['name']}' is not Merge(Enter, NextIteration) -> Switch")
        variables.append((e, m, s, nxt[0]))
    exits = {n["name"]: i for i, (_, _, s, _) in enumerate(variables) for n in consumers.get(s["name"], []) if n["op"] == "Exit"}
    return frame, variables, constants, loop_cond, exits


@_reg("Exit")
def _tf1_loop(c, node, ins):
    scope = c._scope
    frame, variables, constants, loop_cond, exits = _tf1_frame(c, scope, node)
    name = c._name
    outer = {e["name"]: [c.resolve(scope, e["inputs"][0])] for e in constants}
    inits = [c.resolve(scope, e["inputs"][0]) for e, _, _, _ in variables]
    for (e, _, _, _), x in zip(variables, inits):
        if x.dtype not in _ONNX_NAME:
            raise UnsupportedError(f"{c.src.path}: TF1 loop '{frame.decode(errors='replace')}': loop variable "
                                   f"'{e['name']}' has an unsupported or unknown type")

    def bound(values, with_switch):
        """A scope over the same nodes where the loop variables' Merges (and, in the body, their
        Switches) hold `values`: what the body and the condition compute from."""
        sc = _Scope([], scope.args, scope.fn, scope.prefix)
        sc.nodes = scope.nodes
        sc.values.update(outer)
        for (e, m, s, _), v in zip(variables, values):
            sc.values[m["name"]] = [v, c.const(np.int32(0))]
            if with_switch:
                sc.values[s["name"]] = [None, v]
        return sc

    def cond(values):
        return _as_bool(c, c.resolve(bound(values, False), loop_cond["inputs"][0]))

    init_cond = cond(inits)

    def build(sub):
        c.b.input(name + "/iter", "int64", [], graph=sub)
        c.b.input(name + "/cond_in", "bool", [], graph=sub)
        args = []
        for k, x in enumerate(inits):
            dims = None if x.shape is None else [None] * len(x.shape)
            args.append(TV(v=c.b.input(f"{name}/var{k}", _ONNX_NAME[x.dtype], dims, graph=sub), dtype=x.dtype, shape=dims))
        body = bound(args, True)
        nexts = [c.resolve(body, nxt["inputs"][0]) for _, _, _, nxt in variables]
        c.b.output(cond(nexts), name + "/cond_out", graph=sub)
        for k, v in enumerate(nexts):
            c.b.output(c.val(v), f"{name}/out{k}", graph=sub)

    body_graph, _ = _body_graph(c, name + "/body", build)
    c._name = name
    results = c.b.node("Loop", [None, c.val(init_cond)] + [c.val(x) for x in inits], {"body": body_graph},
                       outputs=len(inits), name=name + "/Loop", graph=c.graph)
    # Every Exit of the frame is this Loop's output: the other Exits are not built again.
    for exit_name, k in exits.items():
        scope.values[exit_name] = [TV(v=results[k], dtype=inits[k].dtype)]
    return scope.values[node["name"]]


@_reg("Enter", "NextIteration", "LoopCond")
def _tf1_loop_part(c, node, ins):
    raise InvalidModelError(f"{c.src.path}: node '{node['name']}' ({node['op']}) is used outside the TF1 loop it belongs to "
                            "(not through that loop's Exit)")


@_reg("Placeholder")
def _placeholder(c, node, ins):
    raise UsageError(f"{c.src.path}: placeholder '{node['name']}' is needed by the outputs but is not an input of the "
                     "signature; give it a value with input='{0}->...'".format(node["name"]))


# -- NN ops --


@_reg("Conv2D")
def _conv2d(c, node, ins):
    x, w = ins
    nhwc = _data_format(node) == "NHWC"
    weight = c.op("Transpose", [w], perm=[3, 2, 0, 1])
    y = c.op("Conv", [c.nchw(x) if nhwc else x, weight], strides=_hw(node, "strides"), dilations=_hw(node, "dilations"),
             **_pad_attrs(c, node))
    return c.nhwc(y) if nhwc else y


@_reg("DepthwiseConv2dNative")
def _depthwise(c, node, ins):
    x, w = ins
    if w.shape is None or len(w.shape) != 4 or any(d is None or d < 0 for d in w.shape):
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}': depthwise filter of unknown shape")
    kh, kw, ch, mult = w.shape
    nhwc = _data_format(node) == "NHWC"
    weight = c.op("Transpose", [c.op("Reshape", [w, c.i64([kh, kw, 1, ch * mult])])], perm=[3, 2, 0, 1])
    y = c.op("Conv", [c.nchw(x) if nhwc else x, weight], group=int(ch), strides=_hw(node, "strides"),
             dilations=_hw(node, "dilations"), **_pad_attrs(c, node))
    return c.nhwc(y) if nhwc else y


@_reg("BiasAdd", "BiasAddV1")
def _bias_add(c, node, ins):
    x, b = ins
    if _data_format(node) == "NCHW":
        rank = x.rank or 4
        b = c.op("Reshape", [b, c.i64([-1] + [1] * (rank - 2))])
    return c.op("Add", [x, b])


@_reg("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_bn(c, node, ins):
    x, scale, offset, mean, var = ins[:5]
    eps = float(node["attr"].get("epsilon", 1e-3))
    nchw = _data_format(node) == "NCHW"
    if node["attr"].get("is_training", False):
        return _fused_bn_training(c, node, x, scale, offset, mean, var, eps, nchw)
    # y = x * s + (offset - mean * s), s = scale / sqrt(var + eps): folds to two constants.
    s = c.op("Mul", [scale, c.op("Reciprocal", [c.op("Sqrt", [c.op("Add", [var, c.const(np.float32(eps))])])])])
    shift = c.op("Sub", [offset, c.op("Mul", [mean, s])])
    if nchw:
        shape = c.i64([-1, 1, 1])
        s, shift = c.op("Reshape", [s, shape]), c.op("Reshape", [shift, shape])
    y = c.op("Add", [c.op("Mul", [x, s]), shift])
    return [TV(v=y), mean, var, mean, var, mean]


def _fused_bn_training(c, node, x, scale, offset, mean, var, eps, nchw):
    """Batch statistics (the training branch of a TF1 batch norm whose is_training stays an
    input): y from the biased variance; batch_variance is the unbiased one, and with
    exponential_avg_factor f < 1 both statistics are blended with the running ones, as TF does."""
    if x.rank not in (None, 4):
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}': FusedBatchNorm in training mode on a rank {x.rank} input")
    axes = c.i64([0, 2, 3] if nchw else [0, 1, 2])
    per_channel = (lambda t: c.op("Reshape", [t, c.i64([-1, 1, 1])])) if nchw else (lambda t: t)
    batch_mean = c.op("ReduceMean", [x, axes], keepdims=0)
    centered = c.op("Sub", [x, per_channel(batch_mean)])
    biased = c.op("ReduceMean", [c.op("Mul", [centered, centered]), axes], keepdims=0)
    s = c.op("Mul", [scale, c.op("Reciprocal", [c.op("Sqrt", [c.op("Add", [biased, c.const(np.float32(eps))])])])])
    y = c.op("Add", [c.op("Mul", [centered, per_channel(s)]), per_channel(offset)])
    # n values per channel: Size(x) / channels; Bessel's correction n / max(n - 1, 1).
    channels = c.op("Gather", [c.op("Shape", [x]), c.i64(1 if nchw else 3)], axis=0)
    n = c.op("Cast", [c.op("Div", [c.op("Size", [x]), channels])], to=1)
    one = c.val(c.const(np.float32(1)))
    unbiased = c.op("Mul", [biased, c.op("Div", [n, c.op("Max", [c.op("Sub", [n, one]), one])])])
    f = float(node["attr"].get("exponential_avg_factor", 1.0))
    if f != 1.0:
        keep = c.val(c.const(np.float32(1 - f)))
        blend = c.val(c.const(np.float32(f)))
        batch_mean = c.op("Add", [c.op("Mul", [mean, keep]), c.op("Mul", [batch_mean, blend])])
        unbiased = c.op("Add", [c.op("Mul", [var, keep]), c.op("Mul", [unbiased, blend])])
    out_mean, out_var = TV(v=batch_mean, dtype=1), TV(v=unbiased, dtype=1)
    return [TV(v=y), out_mean, out_var, out_mean, TV(v=biased, dtype=1), out_mean]


def _pool(onnx_op):
    def fn(c, node, ins):
        nhwc = _data_format(node) == "NHWC"
        x = ins[0]
        y = c.op(onnx_op, [c.nchw(x) if nhwc else x], kernel_shape=_hw(node, "ksize"), strides=_hw(node, "strides"),
                 **_pad_attrs(c, node))
        return c.nhwc(y) if nhwc else y

    return fn


_OPS["MaxPool"] = _pool("MaxPool")
_OPS["AvgPool"] = _pool("AveragePool")


@_reg("Relu6")
def _relu6(c, node, ins):
    return c.op("Clip", [ins[0], c.const(np.float32(0)), c.const(np.float32(6))])


@_reg("LeakyRelu")
def _leaky(c, node, ins):
    return c.op("LeakyRelu", [ins[0]], alpha=float(node["attr"].get("alpha", 0.2)))


def _unary(onnx_op):
    return lambda c, node, ins: c.op(onnx_op, [ins[0]])


for _tf, _ox in {"Relu": "Relu", "Elu": "Elu", "Selu": "Selu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softplus": "Softplus",
                 "Softsign": "Softsign", "Exp": "Exp", "Log": "Log", "Neg": "Neg", "Abs": "Abs", "Sqrt": "Sqrt", "Erf": "Erf",
                 "Floor": "Floor", "Ceil": "Ceil", "Round": "Round", "Sign": "Sign", "Sin": "Sin", "Cos": "Cos",
                 "Reciprocal": "Reciprocal", "Inv": "Reciprocal", "LogicalNot": "Not", "IsNan": "IsNaN"}.items():
    _OPS[_tf] = _unary(_ox)


@_reg("Rsqrt")
def _rsqrt(c, node, ins):
    return c.op("Reciprocal", [c.op("Sqrt", [ins[0]])])


@_reg("Erfc")
def _erfc(c, node, ins):
    return c.op("Sub", [c.const(np.ones((), _np_dtype(ins[0].dtype or 1, node["name"]))), c.op("Erf", [ins[0]])])


@_reg("Square")
def _square(c, node, ins):
    return c.op("Mul", [ins[0], ins[0]])


@_reg("Softmax", "LogSoftmax")
def _softmax(c, node, ins):
    return c.op(node["op"], [ins[0]], axis=-1)


def _binary(onnx_op):
    return lambda c, node, ins: c.op(onnx_op, [ins[0], ins[1]])


for _tf, _ox in {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Div": "Div",
                 "Maximum": "Max", "Minimum": "Min", "Pow": "Pow", "Equal": "Equal", "Less": "Less",
                 "LessEqual": "LessOrEqual", "Greater": "Greater", "GreaterEqual": "GreaterOrEqual",
                 "LogicalAnd": "And", "LogicalOr": "Or"}.items():
    _OPS[_tf] = _binary(_ox)


@_reg("NotEqual")
def _not_equal(c, node, ins):
    return c.op("Not", [c.op("Equal", [ins[0], ins[1]])])


@_reg("SquaredDifference")
def _sqdiff(c, node, ins):
    d = c.op("Sub", [ins[0], ins[1]])
    return c.op("Mul", [d, d])


@_reg("FloorDiv")
def _floordiv(c, node, ins):
    if ins[0].dtype in (1, 2, 19):
        return c.op("Floor", [c.op("Div", [ins[0], ins[1]])])
    # integers: floor(a / b) = (a - mod(a, b)) / b with a floored modulus
    m = c.op("Mod", [ins[0], ins[1]], fmod=0)
    return c.op("Div", [c.op("Sub", [ins[0], m]), ins[1]])


@_reg("FloorMod")
def _floormod(c, node, ins):
    return c.op("Mod", [ins[0], ins[1]], fmod=1 if ins[0].dtype in (1, 2, 19) else 0)


@_reg("AddN")
def _addn(c, node, ins):
    return c.op("Sum", list(ins)) if len(ins) > 1 else ins[0]


@_reg("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _matmul(c, node, ins):
    a, b = ins
    attr = node["attr"]
    ta = attr.get("transpose_a", False) or attr.get("adj_x", False)
    tb = attr.get("transpose_b", False) or attr.get("adj_y", False)

    def t(x):
        if x.rank == 2 or node["op"] == "MatMul":
            return c.op("Transpose", [x], perm=[1, 0])
        if x.rank is None:
            raise UnsupportedError(f"{c.src.path}: node '{node['name']}': adjoint of a tensor of unknown rank")
        perm = list(range(x.rank))
        perm[-2], perm[-1] = perm[-1], perm[-2]
        return c.op("Transpose", [x], perm=perm)

    return c.op("MatMul", [t(a) if ta else a, t(b) if tb else b])


@_reg("Einsum")
def _einsum(c, node, ins):
    eq = node["attr"]["equation"].decode()
    return c.op("Einsum", list(ins), equation=eq)


# -- reductions --


def _reduce(onnx_op):
    def fn(c, node, ins):
        keep = int(bool(node["attr"].get("keep_dims", False)))
        axes = c.static(ins[1], "the reduction axes").reshape(-1).astype(np.int64)
        if axes.size == 0:
            return ins[0]
        return c.op(onnx_op, [ins[0], c.i64(axes)], keepdims=keep)

    return fn


for _tf, _ox in {"Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd",
                 "All": "ReduceMin", "Any": "ReduceMax"}.items():
    _OPS[_tf] = _reduce(_ox)


@_reg("ArgMax", "ArgMin")
def _argmax(c, node, ins):
    axis = int(c.static(ins[1], "the axis"))
    y = c.op(node["op"], [ins[0]], axis=axis, keepdims=0)
    out = node["attr"].get("output_type", 9)
    return TV(v=c.op("Cast", [y], to=_ONNX_CODE[out]) if out != 9 else y, dtype=out)


# -- shapes and data movement --


@_reg("Reshape")
def _reshape(c, node, ins):
    x, shape = ins
    if shape.const is not None:
        s = shape.const.reshape(-1).astype(np.int64)
        return c.op("Reshape", [x, c.i64(s)], **({"allowzero": 1} if (s == 0).any() else {}))
    return c.op("Reshape", [x, c.to_i64(shape)])


@_reg("Squeeze")
def _squeeze(c, node, ins):
    dims = list(node["attr"].get("squeeze_dims", []))
    if not dims:
        return c.op("Squeeze", [ins[0]])
    return c.op("Squeeze", [ins[0], c.i64(dims)])


@_reg("ExpandDims")
def _expand_dims(c, node, ins):
    axis = np.asarray(c.static(ins[1], "the axis")).reshape(-1).astype(np.int64)
    return c.op("Unsqueeze", [ins[0], c.i64(axis)])


@_reg("ConcatV2")
def _concat(c, node, ins):
    axis = int(c.static(ins[-1], "the axis"))
    if all(x.const is not None for x in ins[:-1]):
        return TV(const=np.concatenate([x.const for x in ins[:-1]], axis=axis))
    return c.op("Concat", list(ins[:-1]), axis=axis)


@_reg("Pack")
def _pack(c, node, ins):
    axis = int(node["attr"].get("axis", 0))
    if all(x.const is not None for x in ins):
        return TV(const=np.stack([x.const for x in ins], axis=axis))
    parts = [c.op("Unsqueeze", [x, c.i64([axis])]) for x in ins]
    return c.op("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]


@_reg("Unpack")
def _unpack(c, node, ins):
    num = int(node["attr"]["num"])
    axis = int(node["attr"].get("axis", 0))
    parts = c.op("Split", [ins[0]], outputs=num, axis=axis, num_outputs=num) if num > 1 else [ins[0]]
    return [c.op("Squeeze", [p, c.i64([axis])]) for p in parts]


@_reg("Split")
def _split(c, node, ins):
    axis = int(c.static(ins[0], "the axis"))
    num = int(node["attr"]["num_split"])
    if num == 1:
        return [ins[1]]
    return c.op("Split", [ins[1]], outputs=num, axis=axis, num_outputs=num)


@_reg("SplitV")
def _splitv(c, node, ins):
    sizes = c.static(ins[1], "the split sizes").astype(np.int64)
    axis = int(c.static(ins[2], "the axis"))
    num = int(node["attr"]["num_split"])
    if (sizes < 0).any():
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}': SplitV with an inferred (-1) size")
    if num == 1:
        return [ins[0]]
    return c.op("Split", [ins[0], c.i64(sizes)], outputs=num, axis=axis)


@_reg("Transpose")
def _transpose(c, node, ins):
    perm = c.static(ins[1], "the permutation").reshape(-1).astype(np.int64).tolist()
    return c.op("Transpose", [ins[0]], perm=perm)


@_reg("Pad", "PadV2", "MirrorPad")
def _pad(c, node, ins):
    x, paddings = ins[0], ins[1]
    if paddings.const is not None:
        pads = c.i64(paddings.const.astype(np.int64).T.reshape(-1))
    else:
        pads = c.op("Reshape", [c.op("Transpose", [c.to_i64(paddings)], perm=[1, 0]), c.i64([-1])])
    attrs = {}
    if node["op"] == "MirrorPad":
        mode = node["attr"]["mode"].decode()
        if mode != "REFLECT":
            raise UnsupportedError(f"{c.src.path}: node '{node['name']}': MirrorPad mode {mode}")
        attrs["mode"] = "reflect"
    value = ins[2] if node["op"] == "PadV2" else None
    return c.op("Pad", [x, pads] + ([value] if value is not None else []), **attrs)


@_reg("Shape")
def _shape(c, node, ins):
    x = ins[0]
    out = node["attr"].get("out_type", 3)
    if x.shape is not None and all(d is not None and d >= 0 for d in x.shape):
        return TV(const=np.asarray(x.shape, _NP[out]), dtype=out)
    s = c.op("Shape", [x])
    return TV(v=c.op("Cast", [s], to=_ONNX_CODE[out]) if out != 9 else s, dtype=out, shape=[x.rank] if x.rank else None)


@_reg("Size", "Rank")
def _size(c, node, ins):
    s = c.op("Size", [c.op("Shape", [ins[0]])]) if node["op"] == "Rank" else c.op("Size", [ins[0]])
    out = node["attr"].get("out_type", 3)
    return TV(v=c.op("Cast", [s], to=_ONNX_CODE[out]), dtype=out)


@_reg("Cast")
def _cast(c, node, ins):
    dst = node["attr"]["DstT"]
    if ins[0].const is not None and dst in _NP:
        return TV(const=ins[0].const.astype(_NP[dst]), dtype=dst)
    return TV(v=c.op("Cast", [ins[0]], to=_ONNX_CODE[dst]), dtype=dst, shape=ins[0].shape)


@_reg("GatherV2", "Gather")
def _gather(c, node, ins):
    axis = int(c.static(ins[2], "the axis")) if len(ins) > 2 else 0
    if node["attr"].get("batch_dims", 0):
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}': GatherV2 with batch_dims")
    return c.op("Gather", [ins[0], ins[1]], axis=axis)


@_reg("GatherNd")
def _gather_nd(c, node, ins):
    return c.op("GatherND", [ins[0], c.to_i64(ins[1])])


@_reg("Select", "SelectV2")
def _select(c, node, ins):
    cond = ins[0]
    if node["op"] == "Select" and cond.rank == 1 and ins[1].rank and ins[1].rank > 1:
        cond = c.op("Reshape", [cond, c.i64([-1] + [1] * (ins[1].rank - 1))])
    return c.op("Where", [cond, ins[1], ins[2]])


@_reg("Range")
def _range(c, node, ins):
    if all(x.const is not None for x in ins):
        return TV(const=np.arange(ins[0].const, ins[1].const, ins[2].const).astype(ins[0].const.dtype))
    return c.op("Range", list(ins))


@_reg("Fill")
def _fill(c, node, ins):
    return c.op("Expand", [ins[1], c.to_i64(ins[0])])


@_reg("BroadcastTo")
def _broadcast_to(c, node, ins):
    return c.op("Expand", [ins[0], c.to_i64(ins[1])])


@_reg("Tile")
def _tile(c, node, ins):
    return c.op("Tile", [ins[0], c.to_i64(ins[1])])


@_reg("ZerosLike", "OnesLike")
def _zeros_like(c, node, ins):
    dtype = ins[0].dtype or node["attr"].get("T", 1)
    one = np.asarray(0 if node["op"] == "ZerosLike" else 1, _np_dtype(dtype, node["name"]))
    return c.op("Expand", [c.const(one), c.op("Shape", [ins[0]])])


@_reg("Slice")
def _slice(c, node, ins):
    begin = c.static(ins[1], "the begin").reshape(-1).astype(np.int64)
    size = c.static(ins[2], "the size").reshape(-1).astype(np.int64)
    end = np.where(size < 0, _INT64_MAX, begin + size)
    return c.op("Slice", [ins[0], c.i64(begin), c.i64(end), c.i64(np.arange(len(begin)))])


@_reg("StridedSlice")
def _strided_slice(c, node, ins):
    x = ins[0]
    begin = c.static(ins[1], "the begin").reshape(-1).astype(np.int64)
    end = c.static(ins[2], "the end").reshape(-1).astype(np.int64)
    strides = c.static(ins[3], "the strides").reshape(-1).astype(np.int64)
    a = node["attr"]
    bm, em, ell, nam, sam = (int(a.get(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))
    n = len(begin)
    if ell:
        if x.rank is None:
            raise UnsupportedError(f"{c.src.path}: node '{node['name']}': StridedSlice with an ellipsis on a tensor of unknown rank")
        after = sum(1 for i in range(n) if i > (ell & -ell).bit_length() - 1 and not (nam >> i) & 1)
    starts, ends, axes, steps, squeeze, new_axes = [], [], [], [], [], []
    dim, out_pos = 0, 0
    for i in range(n):
        if (ell >> i) & 1:
            span = x.rank - dim - after
            dim += span
            out_pos += span
            continue
        if (nam >> i) & 1:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        s = int(strides[i])
        if s == 0:
            raise InvalidModelError(f"{c.src.path}: node '{node['name']}': StridedSlice with stride 0")
        if (sam >> i) & 1:
            b = int(begin[i])
            starts.append(b)
            ends.append(b + 1 if b != -1 else _INT64_MAX)
            steps.append(1)
            axes.append(dim)
            squeeze.append(dim)
        else:
            b = int(begin[i]) if not (bm >> i) & 1 else (0 if s > 0 else _INT64_MAX)
            e = int(end[i]) if not (em >> i) & 1 else (_INT64_MAX if s > 0 else _INT64_MIN)
            if not ((bm >> i) & 1 and (em >> i) & 1 and s == 1):
                starts.append(b)
                ends.append(e)
                steps.append(s)
                axes.append(dim)
            out_pos += 1
        dim += 1
    y = x
    if axes:
        y = c.op("Slice", [x, c.i64(starts), c.i64(ends), c.i64(axes), c.i64(steps)])
    if squeeze:
        y = c.op("Squeeze", [y, c.i64(squeeze)])
    if new_axes:
        y = c.op("Unsqueeze", [y, c.i64(new_axes)])
    return y if y is not x else TV(v=c.op("Identity", [x]))


@_reg("TopKV2")
def _topk(c, node, ins):
    k = c.op("Reshape", [c.to_i64(ins[1]), c.i64([1])])
    values, indices = c.op("TopK", [ins[0], k], outputs=2, axis=-1, largest=1, sorted=1)
    return [TV(v=values), TV(v=c.op("Cast", [indices], to=6), dtype=3)]


@_reg("NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5")
def _nms(c, node, ins):
    # TF: boxes [N,4] (y1,x1,y2,x2), scores [N] -> indices of kept boxes, best first.
    # ONNX: boxes [B,N,4], scores [B,C,N] -> [K,3] rows (batch, class, box); same IoU rule.
    boxes, scores, max_out, iou = ins[:4]
    score_thr = ins[4] if len(ins) > 4 else c.const(np.float32(-np.inf))
    if node["op"] == "NonMaxSuppressionV5":
        sigma = ins[5]
        if sigma.const is None or float(sigma.const) != 0.0:
            raise UnsupportedError(f"{c.src.path}: node '{node['name']}': soft NMS (soft_nms_sigma != 0)")
    if node["attr"].get("pad_to_max_output_size", False):
        raise UnsupportedError(f"{c.src.path}: node '{node['name']}': pad_to_max_output_size=True")
    b3 = c.op("Unsqueeze", [boxes, c.i64([0])])
    s3 = c.op("Unsqueeze", [scores, c.i64([0, 1])])
    rows = c.op("NonMaxSuppression", [b3, s3, c.op("Reshape", [c.to_i64(max_out), c.i64([1])]),
                                      c.op("Reshape", [iou, c.i64([1])]), c.op("Reshape", [score_thr, c.i64([1])])],
                center_point_box=0)
    idx64 = c.op("Squeeze", [c.op("Slice", [rows, c.i64([2]), c.i64([3]), c.i64([1])]), c.i64([1])])
    idx = TV(v=c.op("Cast", [idx64], to=6), dtype=3)
    if node["op"] == "NonMaxSuppressionV5":
        picked = c.op("Gather", [scores, idx64], axis=0)
        count = c.op("Cast", [c.op("Size", [idx64])], to=6)
        return [idx, TV(v=picked), TV(v=count, dtype=3)]
    if node["op"] == "NonMaxSuppressionV4":
        return [idx, TV(v=c.op("Cast", [c.op("Size", [idx64])], to=6), dtype=3)]
    return idx


def _resize(mode):
    def fn(c, node, ins):
        x, size = ins
        a = node["attr"]
        if a.get("align_corners", False):
            ctm = "align_corners"
        elif a.get("half_pixel_centers", False):
            ctm = "half_pixel" if mode == "linear" else "tf_half_pixel_for_nn"
        else:
            ctm = "asymmetric"
        xt = c.nchw(x)
        nc = c.op("Slice", [c.op("Shape", [xt]), c.i64([0]), c.i64([2])])
        sizes = c.op("Concat", [nc, c.to_i64(size)], axis=0)
        attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
        if mode == "nearest":
            attrs["nearest_mode"] = "round_prefer_ceil" if ctm == "align_corners" else "floor"
        y = c.op("Resize", [xt, None, None, sizes], **attrs)
        return c.nhwc(y)

    return fn


_OPS["ResizeBilinear"] = _resize("linear")
_OPS["ResizeNearestNeighbor"] = _resize("nearest")


# ---- entry points --------------------------------------------------------------------------------


def is_saved_model_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def _input_specs(input, src: Source):
    """Frozen values and shapes from `input=` (names, or positions in signature order)."""
    frozen, shapes = {}, {}
    if input is None:
        return frozen, shapes
    from irforge import inputs

    names = list(src.signature_inputs)
    for pos, s in enumerate(inputs.normalize_input(input)):
        name = s.name if s.name is not None else (names[pos] if pos < len(names) else None)
        known = name in names or any(_parse_ref(t)[0] == name for t, _, _ in src.signature_inputs.values()) \
            or name in src.by_name
        if name is None or not known:
            raise UsageError(f"input: '{s.name if s.name is not None else pos}' is not an input of {src.path} "
                             f"(inputs: {', '.join(names) or 'none'})")
        if s.value is not None:
            frozen[name] = np.asarray(s.value)
        elif s.shape is not None:
            shapes[name] = list(s.shape)
    return frozen, shapes


def convert_file(path: str, *, input=None, tags=None, signature=None):
    """Reads a SavedModel folder, a frozen GraphDef .pb or a TF1 .meta + checkpoint."""
    from irforge.model import Model

    src = None
    try:
        src = Source(path, tags=tags, signature=signature)
        frozen, shapes = _input_specs(input, src)
        model = Converter(src, frozen, shapes).run()
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        if isinstance(e, UsageError):
            raise
        # Decoded structure that is valid protobuf but not a valid TF graph (an attribute of the
        # wrong kind, a missing one): a model problem, not an irforge crash.
        raise InvalidModelError(f"{path}: malformed TensorFlow graph ({type(e).__name__}: {e})") from None
    finally:
        if src is not None and src.scratch:
            os.unlink(src.scratch)  # mapped constants keep their pages: Linux frees them at unmap
    return model if isinstance(model, Model) else Model(model)


def require_tensorflow():
    try:
        import tensorflow as tf  # noqa: F401
    except ImportError:
        raise UnsupportedError("converting an in-memory Keras model or tf.function needs TensorFlow: pip install tensorflow-cpu") from None
    return tf


def convert_object(obj, *, input=None, signature=None):
    """A tf.keras.Model, tf.Module or tf.function: exported to a SavedModel by TensorFlow in a
    temporary folder, then read like any SavedModel (the temporary files are removed; constants
    keep their mappings open, which Linux allows after unlinking)."""
    tf = require_tensorflow()
    with tempfile.TemporaryDirectory(prefix="irforge-tf-") as tmp:
        folder = os.path.join(tmp, "saved_model")
        if hasattr(obj, "export") and callable(getattr(obj, "export")) and hasattr(obj, "layers"):
            obj.export(folder, verbose=False) if "verbose" in obj.export.__code__.co_varnames else obj.export(folder)
        elif isinstance(obj, tf.types.experimental.GenericFunction):
            module = tf.Module()
            module.f = obj
            if obj.input_signature is not None:
                # A method's function (module.__call__) reads its object's variables: tracked
                # here, or the export refuses them as 'untracked' resources.
                module.variables_read = list(obj.get_concrete_function().variables)
            tf.saved_model.save(module, folder, signatures=obj if obj.input_signature is not None else None)
        else:
            tf.saved_model.save(obj, folder)
        return convert_file(folder, input=input, signature=signature)


def convert_keras_file(path: str, *, input=None, signature=None):
    tf = require_tensorflow()
    try:
        model = tf.keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many kinds for a bad file
        raise InvalidModelError(f"{path}: Keras cannot load it: {e}") from None
    return convert_object(model, input=input, signature=signature)
