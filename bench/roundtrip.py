"""Round-trip benchmark: how close is an ONNX read+write to a plain file copy?

On one model, in the same run, measures

  cp       ``cp model.onnx [model.onnx.data ...] OUTDIR/``  (the floor: pure I/O)
  onnx     ``onnx.load`` + ``onnx.save`` (external data kept external, one file, as users do)
  irforge  ``irforge.convert_model(path)`` + ``irforge.save_model(m, out)``

Each measurement is one fresh child process, started by a small launcher (GNU ``/usr/bin/time``,
else a bare Python one) that reports the child's peak RSS (``wait4`` / ``RUSAGE_CHILDREN``
ru_maxrss); wall time is measured around it. Input files are read
once before every measurement so all tools see a warm page cache; outputs are deleted between
runs (``onnx.save`` appends to an existing .data file), and ``sync`` runs before each measurement
so no earlier run's writeback competes with it. Outputs are not fsync'ed: the time is until the
data is in the page cache, as a user would see it. With ``--repeat N`` the table reports
the minimum wall time and the maximum peak RSS over the N runs.

    python bench/roundtrip.py --generate bert
    python bench/roundtrip.py --generate llama3b --repeat 3
    python bench/roundtrip.py --model path/to/model.onnx --tools cp,onnx
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

DEFAULT_CACHE = "/tmp/irforge-bench"
# --generate NAME -> (models.MODELS key, small variant?)
GENERATE = {
    "llama3b": ("llama", False), "bert": ("bert", False), "gpt2": ("gpt2", False), "cnn": ("cnn", False),
    "llama-tiny": ("llama", True), "bert-tiny": ("bert", True), "gpt2-tiny": ("gpt2", True),
    "cnn-tiny": ("cnn", True),
}
TOOLS = ("cp", "onnx", "irforge")

ONNX_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import onnx
t1 = time.perf_counter()
src, dst, external = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
m = onnx.load(src)
t2 = time.perf_counter()
if external:
    onnx.save(m, dst, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(dst) + ".data")
else:
    onnx.save(m, dst)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "save": t3 - t2}))
"""

IRFORGE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import irforge
t1 = time.perf_counter()
src, dst = sys.argv[1], sys.argv[2]
m = irforge.convert_model(src)
t2 = time.perf_counter()
irforge.save_model(m, dst)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "convert": t2 - t1, "save": t3 - t2}))
"""


class Timings:
    """Best-of-repeats figures over `walls` (seconds) and `rss` (bytes) lists."""

    @property
    def wall(self) -> float:
        return min(self.walls)

    @property
    def peak(self) -> int:
        return max(self.rss)


@dataclass
class Result(Timings):
    tool: str
    walls: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)  # bytes
    out_bytes: int = 0
    phases: dict | None = None  # child's own timings for its fastest run
    error: str | None = None


# Peak RSS must come from a *small* parent: exec() records the RSS high-water mark of the
# memory image it replaces, and posix_spawn/vfork children replace (share) the parent's image,
# so a child spawned straight from this Python process would inherit our own RSS as its floor.
# GNU time (~2 MB) forks the measured command and reports that child's wait4() ru_maxrss; the
# fallback is a bare Python launcher (~10 MB floor) reading getrusage(RUSAGE_CHILDREN).
TIME_BIN = "/usr/bin/time"
PY_LAUNCHER = r"""
import os, resource, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, _ = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss(rss_path: str) -> int:
    """Peak RSS in bytes as the launcher wrote it to rss_path; 0 when it wrote nothing usable."""
    try:
        with open(rss_path) as f:
            return int(f.read().split()[-1]) * 1024  # GNU time may prefix "Command exited with ..."
    except (OSError, ValueError, IndexError):
        return 0


def launcher_argv(rss_path: str) -> list[str]:
    if os.access(TIME_BIN, os.X_OK):
        return [TIME_BIN, "-f", "%M", "-o", rss_path]
    return [sys.executable, "-S", "-c", PY_LAUNCHER, rss_path]


def run_child(argv: list[str], log_path: str, timeout: float) -> tuple[float, int, int]:
    """Runs argv under a small launcher; returns (wall seconds, peak RSS bytes, exit status)."""
    rss_path = log_path + ".rss"
    full = launcher_argv(rss_path) + argv
    with open(log_path, "wb") as log:
        fa = [(os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(full[0], full, os.environ, file_actions=fa, setsid=True)
        timer = threading.Timer(timeout, os.killpg, (pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, _ = os.wait4(pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    return wall, peak_rss(rss_path), os.waitstatus_to_exitcode(status)


def warm(files: list[str]) -> None:
    """Reads every input file so that all tools start from a warm page cache."""
    buf = bytearray(16 << 20)
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))


def clean(path: str) -> None:
    for n in os.listdir(path):
        os.remove(os.path.join(path, n))


def probe_irforge() -> str | None:
    """None if ``import irforge`` works in a child, else a short reason."""
    r = subprocess.run([sys.executable, "-c", "import irforge"], capture_output=True, text=True)
    if r.returncode == 0:
        return None
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    return f"not installed ({last[:80]})"


def measure(tool: str, files: list[str], out_dir: str, repeat: int, timeout: float, check: bool) -> Result:
    src = files[0]
    external = len(files) > 1
    dst = os.path.join(out_dir, "model.onnx")
    res = Result(tool)
    if tool == "cp":
        argv = [shutil.which("cp"), *files, out_dir + "/"]
    elif tool == "onnx":
        argv = [sys.executable, "-c", ONNX_CHILD, src, dst, "1" if external else "0"]
    elif tool == "irforge":
        res.error = probe_irforge()
        if res.error:
            return res
        argv = [sys.executable, "-c", IRFORGE_CHILD, src, dst]
    else:
        raise ValueError(tool)
    log_path = os.path.join(os.path.dirname(out_dir), f"{tool}.log")
    for i in range(repeat):
        clean(out_dir)
        warm(files)
        os.sync()  # no writeback of earlier runs' output competing with this run
        wall, rss, code = run_child(argv, log_path, timeout)
        with open(log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        if code != 0:
            res.error = f"exit {code}: {(log.strip().splitlines() or [''])[-1][:120]}"
            break
        if not res.walls or wall < min(res.walls):
            lines = [ln for ln in log.splitlines() if ln.startswith("{")]
            res.phases = json.loads(lines[-1]) if lines else None
        res.walls.append(wall)
        res.rss.append(rss)
        res.out_bytes = dir_bytes(out_dir)
        if check and i == repeat - 1 and tool != "cp":
            import onnx

            onnx.checker.check_model(dst)
        print(f"  {tool:8s} run {i + 1}/{repeat}: {wall:8.2f} s  {rss / 2**20:9.1f} MiB", file=sys.stderr, flush=True)
    clean(out_dir)
    return res


def table(results: list[Result], model_bytes: int) -> str:
    base = next((r for r in results if r.tool == "cp" and r.walls), None)
    rows = ["| tool | wall s | peak RSS MiB | output bytes | time ratio vs cp | RSS ratio vs cp | RSS / model size |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if not r.walls:
            rows.append(f"| {r.tool} | {r.error} | | | | | |")
            continue
        t_ratio = f"{r.wall / base.wall:.2f}x" if base else "-"
        m_ratio = f"{r.peak / base.peak:.1f}x" if base else "-"
        rows.append(f"| {r.tool} | {r.wall:.2f} | {r.peak / 2**20:.1f} | {r.out_bytes:,} | {t_ratio} | {m_ratio} "
                    f"| {r.peak / model_bytes:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="path of an .onnx file (its external data files are found from it)")
    src.add_argument("--generate", choices=sorted(GENERATE), help="use (and if needed generate) a bench model")
    ap.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where --generate keeps models [%(default)s]")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per tool; min time, max RSS reported [%(default)s] (first runs are often slow)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--workdir", help="directory for outputs (default: a temp dir next to the model)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per run before SIGKILL")
    ap.add_argument("--check", action="store_true", help="onnx.checker the outputs (not timed)")
    args = ap.parse_args(argv)

    if args.generate:
        key, small = GENERATE[args.generate]
        path = os.path.join(args.cache_dir, args.generate, "model.onnx")
        if not os.path.exists(path):  # model.onnx is renamed into place last: exists => complete
            t0 = time.perf_counter()
            path = models.generate(key, args.cache_dir, small)
            print(f"generated {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    else:
        path = args.model
    path = os.path.abspath(path)
    files = models.model_files(path)
    model_bytes = sum(os.path.getsize(f) for f in files)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r}")

    work = tempfile.mkdtemp(prefix="irforge-rt-", dir=args.workdir or os.path.dirname(path))
    out_dir = os.path.join(work, "out")
    os.makedirs(out_dir)
    try:
        print(f"model: {path} ({len(files)} file(s), {model_bytes:,} bytes, "
              f"{'external data' if len(files) > 1 else 'inline weights'})", file=sys.stderr)
        results = [measure(t, files, out_dir, args.repeat, args.timeout, args.check) for t in tools]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n### Round trip: `{path}` ({model_bytes / 1e6:,.1f} MB, {len(files)} file(s))\n")
    print(f"{os.cpu_count()} cores, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM, "
          f"load avg {os.getloadavg()[0]:.2f}, warm page cache, repeat {args.repeat} (min wall, max RSS), "
          f"RSS via {launcher_argv('')[0]}\n")
    print(table(results, model_bytes))
    phases = [f"- {r.tool}: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.phases.items())
              for r in results if r.phases]
    if phases:
        print("\nIn-process phases (fastest run):\n" + "\n".join(phases))
    return 0 if all(r.walls or (r.tool == "irforge" and r.error.startswith("not installed")) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
