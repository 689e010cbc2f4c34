"""Weight-compression benchmark: irforge vs NNCF vs onnxruntime's MatMulNBitsQuantizer.

On one model, in the same run, each tool compresses the weights from the ONNX file and writes
its output (each run a fresh child process under a launcher that reports its peak RSS, inputs
read once before every run so all start from a warm page cache, outputs deleted between runs):

  irforge-xml   irforge.convert_model + compress_weights(MODE) + save_model(.xml)
  irforge-onnx  the same to .onnx (weights in .onnx.data)
  nncf          openvino.convert_model + nncf.compress_weights(MODE) + openvino.save_model(.xml)
                (what an NNCF user runs: NNCF needs an OpenVINO model; the JSON line of the
                child splits out the compress_weights call alone)
  ort           onnx.load + MatMulNBitsQuantizer(block_size=GROUP, is_symmetric=MODE is sym)
                .process() + onnx.save with external data (onnxruntime's int4 path for ONNX:
                com.microsoft.MatMulNBits; int4 modes only)

With --accuracy, a tiny Llama-style decoder is compressed by every tool and the logits are
compared to fp32 (worst per-token cosine similarity; OpenVINO on CPU in f32 for the IRs,
onnxruntime for the ONNX files).

    python bench/compress.py --generate llama3b --mode int4_asym          # under flock: NNCF needs GBs
    python bench/compress.py --accuracy
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from roundtrip import DEFAULT_CACHE, TIME_BIN, dir_bytes, run_child, warm  # noqa: E402


def run_timed(argv: list[str], log_path: str, timeout: float) -> tuple[float, int, int, float]:
    """run_child, plus the child's CPU seconds (user + sys) from GNU time when available: on a
    shared VM wall time varies with load, CPU time much less."""
    if not os.access(TIME_BIN, os.X_OK):
        wall, rss, status = run_child(argv, log_path, timeout)
        return wall, rss, status, float("nan")
    cpu_path = log_path + ".cpu"
    wall, _, status = run_child([TIME_BIN, "-f", "%M %U %S", "-o", cpu_path] + argv, log_path, timeout)
    try:
        with open(cpu_path) as f:
            rss_kib, user, sys_s = f.read().split()[-3:]
        return wall, int(rss_kib) * 1024, status, float(user) + float(sys_s)
    except (OSError, ValueError):
        return wall, 0, status, float("nan")

IRFORGE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import irforge
src, dst, mode, group = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t1 = time.perf_counter()
m = irforge.convert_model(src)
t2 = time.perf_counter()
irforge.compress_weights(m, mode, group)
t3 = time.perf_counter()
irforge.save_model(m, dst)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "convert": t2 - t1, "compress": t3 - t2, "save": t4 - t3}))
"""

NNCF_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import nncf, openvino as ov
src, dst, mode, group = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t1 = time.perf_counter()
m = ov.convert_model(src)
t2 = time.perf_counter()
kw = {"group_size": group, "ratio": 1.0} if mode.startswith("int4") else {}
m = nncf.compress_weights(m, mode=nncf.CompressWeightsMode(mode), **kw)
t3 = time.perf_counter()
ov.save_model(m, dst)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "convert": t2 - t1, "compress": t3 - t2, "save": t4 - t3}))
"""

ORT_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import onnx
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
src, dst, mode, group = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t1 = time.perf_counter()
m = onnx.load(src)
t2 = time.perf_counter()
q = MatMulNBitsQuantizer(m, block_size=group, is_symmetric=mode.endswith("_sym"))
q.process()
t3 = time.perf_counter()
q.model.save_model_to_file(dst, use_external_data_format=True)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "convert": t2 - t1, "compress": t3 - t2, "save": t4 - t3}))
"""

TOOLS = {
    "irforge-xml": (IRFORGE_CHILD, "model.xml"),
    "irforge-onnx": (IRFORGE_CHILD, "model.onnx"),
    "nncf": (NNCF_CHILD, "model.xml"),
    "ort": (ORT_CHILD, "model.onnx"),
}


def available(tool: str) -> str | None:
    mod = {"nncf": "nncf", "ort": "onnxruntime.quantization.matmul_nbits_quantizer"}.get(tool, "irforge")
    try:
        __import__(mod)
    except ImportError as e:
        return f"not installed ({e})"
    return None


def bench(src: str, tools: list[str], mode: str, group: int, repeat: int, timeout: float) -> list[dict]:
    files = [src] + ([src + ".data"] if os.path.exists(src + ".data") else [])
    rows = []
    for tool in tools:
        row = {"tool": tool, "wall": None, "cpu": None, "rss": 0, "phases": {}, "out_bytes": 0, "note": ""}
        why = available(tool)
        if why or (tool == "ort" and not mode.startswith("int4")):
            row["note"] = why or "int4 only"
            rows.append(row)
            continue
        code, out_name = TOOLS[tool]
        for _ in range(repeat):
            out_dir = tempfile.mkdtemp(prefix="irforge-compress-")
            try:
                warm(files)
                os.sync()
                log = os.path.join(out_dir, "log.txt")
                wall, rss, status, cpu = run_timed([sys.executable, "-c", code, src, os.path.join(out_dir, out_name), mode, str(group)], log, timeout)
                text = open(log).read()
                if status != 0:
                    row["note"] = f"exit {status}: {text.strip().splitlines()[-1][:120] if text.strip() else ''}"
                    break
                phases = json.loads([ln for ln in text.splitlines() if ln.startswith("{")][-1])
                if row["wall"] is None or wall < row["wall"]:
                    row["wall"], row["phases"], row["cpu"] = wall, phases, cpu
                row["rss"] = max(row["rss"], rss)
                os.remove(log)
                for n in os.listdir(out_dir):
                    if n.endswith((".rss", ".cpu")):
                        os.remove(os.path.join(out_dir, n))
                row["out_bytes"] = dir_bytes(out_dir)
            finally:
                shutil.rmtree(out_dir, ignore_errors=True)
        rows.append(row)
    return rows


def table(rows: list[dict], title: str) -> str:
    lines = [f"### {title}", "", "| tool | wall s | CPU s (user+sys) | compress step s | peak RSS MiB | output MB | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    base = next((r["wall"] for r in rows if r["tool"].startswith("irforge") and r["wall"]), None)
    for r in rows:
        if r["wall"] is None:
            lines.append(f"| {r['tool']} | - | - | - | - | - | {r['note']} |")
            continue
        ratio = f" ({r['wall'] / base:.1f}x irforge)" if base and not r["tool"].startswith("irforge") else ""
        lines.append(
            f"| {r['tool']} | {r['wall']:.2f}{ratio} | {r['cpu']:.2f} | {r['phases'].get('compress', 0):.2f} | {r['rss'] / 2**20:.0f} | "
            f"{r['out_bytes'] / 1e6:.0f} | {r['note']} |"
        )
    return "\n".join(lines)


def accuracy(mode: str, group: int) -> str:
    """Worst per-token cosine similarity of the logits to fp32 on the tiny Llama."""
    import numpy as np
    import onnxruntime as ort
    import openvino as ov

    import irforge

    tmp = tempfile.mkdtemp(prefix="irforge-acc-")
    src = models.generate("llama", tmp, small=True)
    ids = np.random.default_rng(0).integers(0, 256, size=(1, 32)).astype(np.int64)
    feeds = {"input_ids": ids}
    ref = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, feeds)[0][0]

    def cos(y):
        y = y.reshape(ref.shape)
        return min(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(ref.astype(np.float64), y.astype(np.float64)))

    def run_ov(xml, exact=False):
        cfg = {"INFERENCE_PRECISION_HINT": "f32"}
        if exact:  # no dynamic quantization of activations in the compressed kernels
            cfg["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = "0"
        return ov.Core().compile_model(xml, "CPU", cfg)(feeds)[0]

    rows = []
    m = irforge.compress_weights(irforge.convert_model(src), mode, group)
    irforge.save_model(m, os.path.join(tmp, "i.xml"))
    irforge.save_model(m, os.path.join(tmp, "i.onnx"))
    rows.append(("irforge → OpenVINO IR (OpenVINO)", cos(run_ov(os.path.join(tmp, "i.xml")))))
    rows.append(("irforge → OpenVINO IR (OpenVINO, dynamic quantization off)", cos(run_ov(os.path.join(tmp, "i.xml"), True))))
    rows.append(("irforge → ONNX DequantizeLinear (onnxruntime)", cos(ort.InferenceSession(os.path.join(tmp, "i.onnx")).run(None, feeds)[0])))
    if not available("nncf"):
        import nncf

        kw = {"group_size": group, "ratio": 1.0} if mode.startswith("int4") else {}
        nm = nncf.compress_weights(ov.convert_model(src), mode=nncf.CompressWeightsMode(mode), **kw)
        ov.save_model(nm, os.path.join(tmp, "n.xml"))
        rows.append(("NNCF → OpenVINO IR (OpenVINO)", cos(run_ov(os.path.join(tmp, "n.xml")))))
        rows.append(("NNCF → OpenVINO IR (OpenVINO, dynamic quantization off)", cos(run_ov(os.path.join(tmp, "n.xml"), True))))
    if mode.startswith("int4") and not available("ort"):
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        q = MatMulNBitsQuantizer(onnx.load(src), block_size=group, is_symmetric=mode.endswith("_sym"))
        q.process()
        q.model.save_model_to_file(os.path.join(tmp, "o.onnx"))
        rows.append(("ORT MatMulNBits (all MatMuls int4, incl. lm_head) (onnxruntime)", cos(ort.InferenceSession(os.path.join(tmp, "o.onnx")).run(None, feeds)[0])))
    shutil.rmtree(tmp, ignore_errors=True)
    lines = [f"### Accuracy, tiny Llama, {mode}" + (f" group {group}" if mode.startswith("int4") else ""), "",
             "| tool (runtime) | worst per-token cosine to fp32 |", "|---|---:|"]
    lines += [f"| {name} | {c:.5f} |" for name, c in rows]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="an .onnx file")
    p.add_argument("--generate", choices=["llama3b", "llama-tiny"], help="generate (or reuse) a benchmark model")
    p.add_argument("--cache", default=DEFAULT_CACHE)
    p.add_argument("--mode", default="int4_asym", choices=["int8_asym", "int8_sym", "int4_asym", "int4_sym"])
    p.add_argument("--group_size", type=int, default=128)
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--accuracy", action="store_true", help="also compare logits on the tiny Llama")
    args = p.parse_args()
    out = []
    src = args.model
    if args.generate:
        size = "3b" if args.generate == "llama3b" else "tiny"
        folder = os.path.join(args.cache, args.generate)
        src = os.path.join(folder, "model.onnx")
        if not os.path.exists(src):
            src = models.llama(folder, size)
    if src:
        rows = bench(src, args.tools.split(","), args.mode, args.group_size, args.repeat, args.timeout)
        size = sum(os.path.getsize(f) for f in (src, src + ".data") if os.path.exists(f))
        mode = args.mode + (f" group {args.group_size}" if args.mode.startswith("int4") else "")
        out.append(table(rows, f"{os.path.basename(os.path.dirname(src))} ({size / 1e9:.2f} GB), {mode}"))
        print(json.dumps(rows), file=sys.stderr)
    if args.accuracy:
        out.append(accuracy(args.mode, 32 if args.mode.startswith("int4") else -1))
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
