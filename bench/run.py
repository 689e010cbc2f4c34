"""Conversion speed and memory: irforge beside every installed peer, same models, same run.

One command generates the benchmark models (bench/models.py) when missing and, per model, runs
each tool in a fresh child process (launcher and RSS measurement shared with roundtrip.py):

  cp             copy of the model file(s): the floor, the time to read + write the bytes once
  irforge-ir     ``irforge convert M --output_model out.xml``  (fp16 weights, the default, as ovc)
  ovc            ``openvino.convert_model(M)`` + ``openvino.save_model(m, out.xml)`` (fp16 default)
  irforge-onnx   ``irforge convert M --output_model out.onnx`` (default pipeline, ONNX out)
  onnxsim        ``onnxsim M out.onnx``              (CLI, defaults; + --save-as-external-data)
  onnxslim       ``onnxslim M out.onnx``             (CLI, defaults; + --save-as-external-data)
  onnxoptimizer  ``onnxoptimizer.optimize(onnx.load(M))`` + ``onnx.save``
  ort            onnxruntime offline optimization: ``InferenceSession(M, so)`` with
                 ``so.optimized_model_filepath`` and ORT_ENABLE_EXTENDED (initializers external
                 for models with external data)

Wall time is measured around the child, peak RSS is the child's ``ru_maxrss`` (GNU time), output
size is the bytes left in the output folder. Peers that are not installed are reported as such.
Ratios: IR tools are compared with ``irforge-ir``, ONNX tools with ``irforge-onnx``.

Every child that may need more than 2 GB of RAM (any model over 100 MB) runs while holding
``/tmp/irforge-bigmem.lock`` (the lock is taken per child, so others can interleave), and a
watchdog kills a child when the machine's MemAvailable drops under ``--min-free-gb``
(reported as "killed: memory guard"), so a peer needing 5x the model size cannot take the
machine down.

    python bench/run.py                                   # all models, all tools, repeat 2
    python bench/run.py --models bert,gpt2 --repeat 3 --json /tmp/bench.json
    python bench/run.py --models llama3b --tools cp,irforge-ir,ovc
    python bench/run.py --small                           # tiny variants: a quick smoke run
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from roundtrip import Timings, clean, dir_bytes, launcher_argv, peak_rss, warm  # noqa: E402

DEFAULT_CACHE = "/tmp/irforge-bench"
MODEL_NAMES = ("cnn", "bert", "gpt2", "llama3b")
GENERATE = {"llama3b": "llama", "bert": "bert", "gpt2": "gpt2", "cnn": "cnn"}
TOOLS = ("cp", "irforge-ir", "ovc", "irforge-onnx", "onnxsim", "onnxslim", "onnxoptimizer", "ort")
IR_TOOLS = ("irforge-ir", "ovc")
# Python module a tool needs (None: always available).
NEEDS = {"irforge-ir": "irforge", "irforge-onnx": "irforge", "ovc": "openvino", "onnxsim": "onnxsim",
         "onnxslim": "onnxslim", "onnxoptimizer": "onnxoptimizer", "ort": "onnxruntime"}
LOCK_PATH = "/tmp/irforge-bigmem.lock"
BIG_MODEL = 100 << 20  # models above this may make a peer need > 2 GB

OVC_CHILD = r"""
import sys, openvino as ov
m = ov.convert_model(sys.argv[1])
ov.save_model(m, sys.argv[2])  # compress_to_fp16=True is the default, as in ovc
"""

ONNXOPT_CHILD = r"""
import os, sys, onnx, onnxoptimizer
m = onnxoptimizer.optimize(onnx.load(sys.argv[1]))
if sys.argv[3] == "1":
    onnx.save(m, sys.argv[2], save_as_external_data=True, location=os.path.basename(sys.argv[2]) + ".data")
else:
    onnx.save(m, sys.argv[2])
"""

ORT_CHILD = r"""
import os, sys, onnxruntime as ort
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
so.optimized_model_filepath = sys.argv[2]
if sys.argv[3] == "1":  # over 2 GB: the optimized model's weights must go to an external file
    so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                os.path.basename(sys.argv[2]) + ".data")
    so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
"""


@dataclass
class Result(Timings):
    model: str
    tool: str
    walls: list = field(default_factory=list)
    rss: list = field(default_factory=list)  # bytes
    out_bytes: int = 0
    error: str | None = None


def installed(tool: str) -> bool:
    mod = NEEDS.get(tool)
    return mod is None or importlib.util.find_spec(mod) is not None


def tool_argv(tool: str, src: str, out_dir: str, external: bool) -> list[str]:
    py = sys.executable
    onnx_out = os.path.join(out_dir, "model.onnx")
    xml_out = os.path.join(out_dir, "model.xml")
    ext_flag = ["--save-as-external-data"] if external else []
    if tool == "cp":
        return [shutil.which("cp"), *models.model_files(src), out_dir + "/"]
    if tool == "irforge-ir":
        return [py, "-m", "irforge", "convert", src, "--output_model", xml_out]
    if tool == "irforge-onnx":
        return [py, "-m", "irforge", "convert", src, "--output_model", onnx_out]
    if tool == "ovc":
        return [py, "-c", OVC_CHILD, src, xml_out]
    if tool == "onnxsim":
        return [shutil.which("onnxsim") or "onnxsim", src, onnx_out, *ext_flag]
    if tool == "onnxslim":
        return [shutil.which("onnxslim") or "onnxslim", src, onnx_out, *ext_flag]
    if tool == "onnxoptimizer":
        return [py, "-c", ONNXOPT_CHILD, src, onnx_out, "1" if external else "0"]
    if tool == "ort":
        return [py, "-c", ORT_CHILD, src, onnx_out, "1" if external else "0"]
    raise ValueError(tool)


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def run_child(argv: list[str], log_path: str, timeout: float, min_free: int) -> tuple[float, int, int, str]:
    """Runs argv under the RSS launcher in its own process group; returns (wall s, peak RSS
    bytes, exit status, why it was killed or "")."""
    rss_path = log_path + ".rss"
    full = launcher_argv(rss_path) + argv
    killed = []
    with open(log_path, "wb") as log:
        fa = [(os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(full[0], full, os.environ, file_actions=fa, setsid=True)
        done = threading.Event()

        def guard():
            while not done.wait(0.1):
                why = ""
                if time.perf_counter() - t0 > timeout:
                    why = f"killed: timeout {timeout:.0f} s"
                elif mem_available() < min_free:
                    why = f"killed: memory guard (MemAvailable < {min_free >> 30} GiB)"
                if why:
                    killed.append(why)
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    return

        watcher = threading.Thread(target=guard, daemon=True)
        watcher.start()
        try:
            _, status, _ = os.wait4(pid, 0)
        finally:
            done.set()
            watcher.join()
        wall = time.perf_counter() - t0
    return wall, peak_rss(rss_path), os.waitstatus_to_exitcode(status), (killed[0] if killed else "")


class BigMemLock:
    """Holds /tmp/irforge-bigmem.lock (flock) while a big child runs; a no-op when not needed or
    when the caller already holds it (``--no-lock``, e.g. under ``flock ... python bench/run.py``)."""

    def __init__(self, needed: bool):
        self.needed = needed
        self.fd = None

    def __enter__(self):
        if self.needed:
            self.fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def measure(model: str, tool: str, src: str, out_dir: str, args) -> Result:
    res = Result(model, tool)
    if not installed(tool):
        res.error = f"not installed ({NEEDS[tool]})"
        return res
    files = models.model_files(src)
    external = len(files) > 1
    size = sum(os.path.getsize(f) for f in files)
    argv = tool_argv(tool, src, out_dir, external)
    log_path = os.path.join(os.path.dirname(out_dir), f"{model}-{tool}.log")
    for i in range(args.repeat):
        clean(out_dir)
        with BigMemLock(size > BIG_MODEL and not args.no_lock):
            warm(files)
            os.sync()  # no writeback of earlier runs' output competing with this run
            wall, rss, code, killed = run_child(argv, log_path, args.timeout, int(args.min_free_gb * 2**30))
            out_bytes = dir_bytes(out_dir)
        with open(log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        if killed or code != 0:
            last = [ln for ln in log.strip().splitlines() if ln.strip()][-1:] or [""]
            res.error = killed or f"failed, exit {code}: {last[0][:100]}"
            print(f"  {model:8s} {tool:13s} run {i + 1}: {res.error}", file=sys.stderr, flush=True)
            break
        if out_bytes == 0 and tool != "cp":
            res.error = "wrote nothing"
            break
        res.walls.append(wall)
        res.rss.append(rss)
        res.out_bytes = out_bytes
        print(f"  {model:8s} {tool:13s} run {i + 1}/{args.repeat}: {wall:8.2f} s  {rss / 2**20:9.1f} MiB  "
              f"{out_bytes / 1e6:9.1f} MB  (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    clean(out_dir)
    return res


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def model_table(model: str, size: int, results: list[Result]) -> str:
    by = {r.tool: r for r in results}
    cp = by.get("cp")
    rows = [f"#### {model} ({size / 1e6:,.1f} MB)\n",
            "| tool | output | wall s | peak RSS MiB | output MB | time / cp | time vs irforge | RSS vs irforge |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        kind = "—" if r.tool == "cp" else ("IR fp16" if r.tool in IR_TOOLS else "ONNX")
        if not r.walls:
            rows.append(f"| {r.tool} | {kind} | {r.error} | | | | | |")
            continue
        ref = by.get("irforge-ir" if r.tool in IR_TOOLS else "irforge-onnx")
        has_ref = ref is not None and ref.walls and r.tool != "cp"
        name = f"**{r.tool}**" if r.tool.startswith("irforge") else r.tool
        rows.append(f"| {name} | {kind} | {r.wall:.2f} | {r.peak / 2**20:,.0f} | {r.out_bytes / 1e6:,.1f} | "
                    f"{ratio(r.wall, cp.wall) if cp and cp.walls else '-'} | "
                    f"{ratio(r.wall, ref.wall) if has_ref else ''} | {ratio(r.peak, ref.peak) if has_ref else ''} |")
    return "\n".join(rows)


def targets(model: str, results: list[Result]) -> list[str]:
    """The issue's done-when checks that this model's results decide."""
    by = {r.tool: r for r in results if r.walls}
    out = []
    ir, ovc, cp = by.get("irforge-ir"), by.get("ovc"), by.get("cp")
    if ir and ovc:
        speed = ovc.wall / ir.wall
        line = f"{model}: irforge IR {speed:.1f}× faster than ovc"
        if model == "llama3b":
            mem = ir.peak / ovc.peak
            line += f" (target ≥3×), at {mem:.3f} of its peak RSS (target ≤0.25)"
            if cp:
                line += f", {ir.wall / cp.wall:.2f}× cp (target ≤1.5×)"
            ok = speed >= 3 and mem <= 0.25 and (cp is None or ir.wall / cp.wall <= 1.5)
        elif model in ("bert", "gpt2"):
            line += " (target ≥2×)"
            ok = speed >= 2
        else:
            ok = None
        out.append(line + ("" if ok is None else (" — met" if ok else " — NOT met")))
    onnx_ref, sim = by.get("irforge-onnx"), by.get("onnxsim")
    if onnx_ref and sim:
        speed, mem = sim.wall / onnx_ref.wall, onnx_ref.peak / sim.peak
        ok = speed >= 5 and mem <= 1 / 3
        out.append(f"{model}: irforge ONNX {speed:.1f}× faster than onnxsim (target ≥5×), at {mem:.3f} of its "
                   f"peak RSS (target ≤0.33) — {'met' if ok else 'NOT met'}")
    return out


def machine_info() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = []
    for mod in ("irforge", "openvino", "onnx", "onnxruntime", "onnxsim", "onnxslim", "onnxoptimizer"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}; print({mod}.__version__)"],
                           capture_output=True, text=True)
        versions.append(f"{mod} {r.stdout.strip() or '-'}")
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; " + ", ".join(versions))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated subset of " + ",".join(MODEL_NAMES))
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--small", action="store_true", help="use the tiny model variants (smoke run)")
    ap.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where models are generated and kept [%(default)s]")
    ap.add_argument("--repeat", type=int, default=2, help="runs per tool; min time, max RSS reported [%(default)s]")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run before SIGKILL [%(default)s]")
    ap.add_argument("--min-free-gb", type=float, default=2.0,
                    help="kill a child when MemAvailable falls below this [%(default)s]")
    ap.add_argument("--no-lock", action="store_true", help=f"do not take {LOCK_PATH} (the caller holds it)")
    ap.add_argument("--json", help="also write all measurements to this file")
    args = ap.parse_args(argv)

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for m in names:
        if m not in MODEL_NAMES:
            ap.error(f"unknown model {m!r}")
    for t in tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r}")

    loads = [os.getloadavg()[0]]
    all_results, sections, checks = [], [], []
    for name in names:
        dirname = name if not args.small else models.SMALL[GENERATE[name]][2]
        path = os.path.join(args.cache_dir, dirname, "model.onnx")
        if not os.path.exists(path):  # model.onnx is renamed into place last: exists => complete
            t0 = time.perf_counter()
            path = models.generate(GENERATE[name], args.cache_dir, args.small)
            print(f"generated {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        files = models.model_files(path)
        size = sum(os.path.getsize(f) for f in files)
        work = tempfile.mkdtemp(prefix="irforge-run-", dir=os.path.dirname(path))
        out_dir = os.path.join(work, "out")
        os.makedirs(out_dir)
        try:
            results = [measure(dirname, t, path, out_dir, args) for t in tools]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        all_results += results
        sections.append(model_table(dirname, size, results))
        if not args.small:  # the targets are about the full-size models
            checks += targets(name, results)

    print(f"\nMachine: {machine_info()}\n")
    print(f"Warm page cache, each run a fresh process, repeat {args.repeat} (min wall, max RSS), RSS via "
          f"{launcher_argv('')[0]}; 1-min load average during the run {min(loads):.1f}–{max(loads):.1f}.\n")
    print("\n\n".join(sections))
    if checks:
        print("\nTargets (issue 6):\n" + "\n".join(f"- {c}" for c in checks))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(), "loads": loads, "repeat": args.repeat,
                       "results": [asdict(r) for r in all_results]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
