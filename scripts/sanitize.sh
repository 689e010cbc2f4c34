#!/usr/bin/env bash
# Builds the Python extension with AddressSanitizer + UndefinedBehaviorSanitizer (gcc) into
# build/sanitize, stages it as an importable package, and runs pytest on it.
#
#   scripts/sanitize.sh [PYTEST ARGS...]
#
# Default: the ONNX reader/writer tests and the malformed-input tests. Any arguments replace
# that list and are passed to pytest as they are (e.g. `scripts/sanitize.sh tests/test_onnx_io.py -k external`).
# The interpreter is not instrumented, so the ASan runtime is preloaded; leak detection is off
# because CPython does not free everything at exit. Any ASan or UBSan report fails the run
# (UBSan is built with -fno-sanitize-recover, ASan aborts on the first error).
#
# IRFORGE_SANITIZER=thread builds with ThreadSanitizer instead (build/tsan) and runs the
# concurrency and determinism tests by default; any TSan report fails the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SANITIZER="${IRFORGE_SANITIZER:-address}"
PY="${PYTHON:-python3}"
case "$SANITIZER" in
  address)
    BUILD="${SANITIZE_BUILD:-$ROOT/build/sanitize}"
    CMAKE_FLAG=-DIRFORGE_SANITIZE=ON
    RUNTIME=libasan.so
    # -O1 and line tables (-g1) instead of -O2 -g: the same checks, file:line in every report, half
    # the compile time (infer_shapes.cc: 36 -> 18 s CPU); what ASan's docs suggest, as fuzz.sh does.
    OPT_FLAGS="-O1 -g1 -DNDEBUG"
    [ $# -eq 0 ] && set -- "$ROOT/tests/test_onnx_io.py" "$ROOT/tests/test_malformed_inputs.py"
    ;;
  thread)
    BUILD="${SANITIZE_BUILD:-$ROOT/build/tsan}"
    CMAKE_FLAG=-DIRFORGE_SANITIZE_THREAD=ON
    RUNTIME=libtsan.so
    OPT_FLAGS="-O2 -g -DNDEBUG"  # CMake's RelWithDebInfo flags, as before
    [ $# -eq 0 ] && set -- "$ROOT/tests/test_concurrency.py" "$ROOT/tests/test_determinism.py"
    ;;
  *) echo "sanitize.sh: IRFORGE_SANITIZER must be 'address' or 'thread'" >&2; exit 2 ;;
esac

GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
# ccache, when installed, keeps the sanitized objects between CI runs: paths are hashed relative
# to the checkout, so a later fresh clone (anywhere) reuses what an earlier one compiled.
command -v ccache >/dev/null 2>&1 && GEN+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
# This build is configured by hand, not by pip: its build requirement pybind11 must be importable
# (pip's isolated build environment of `pip install .` does not leave it behind in a fresh venv).
if ! "$PY" -c 'import pybind11' 2>/dev/null; then
  "$PY" -m pip install -q "$(sed -n 's/^requires = .*"\(pybind11==[^"]*\)".*/\1/p' "$ROOT/pyproject.toml")"
fi
# Configure again when an earlier configure failed halfway (a cache but no build files).
if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$OPT_FLAGS" \
    -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
    "$CMAKE_FLAG" \
    -DIRFORGE_BUILD_PYTHON=ON \
    -DPython_EXECUTABLE="$(command -v "$PY")" \
    -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
fi
cmake --build "$BUILD" --target _core -j "${SANITIZE_BUILD_JOBS:-2}"

# Stage: symlinks to the Python sources plus the sanitized extension (never the dev build's).
STAGE="$BUILD/stage"
mkdir -p "$STAGE/irforge"
for f in "$ROOT"/python/irforge/*; do
  base="$(basename "$f")"
  case "$base" in _core*.so | __pycache__) continue ;; esac
  ln -sfn "$f" "$STAGE/irforge/$base"
done
find "$STAGE/irforge" -maxdepth 1 -name '_core*.so' -delete
ln -sfn "$(ls "$BUILD"/_core*.so)" "$STAGE/irforge/"

SAN_LIB="$("${CC:-gcc}" -print-file-name=$RUNTIME)"
if [ ! -e "$SAN_LIB" ]; then
  echo "sanitize.sh: $RUNTIME not found (gcc -print-file-name=$RUNTIME gave '$SAN_LIB')" >&2
  exit 2
fi

# libstdc++ is preloaded too: python does not link it, and ASan's __cxa_throw interceptor must
# find the real one at start-up, or the first C++ exception dies in "CHECK failed:
# real___cxa_throw != 0".
STDCXX_LIB="$("${CXX:-g++}" -print-file-name=libstdc++.so)"

# OpenVINO dlopens plugins with RTLD_DEEPBIND, which sanitizer runtimes refuse; a small preload
# library strips the flag (scripts/sanitize/nodeepbind.c), so the OpenVINO tests run here too.
# It must come before the runtime to intercept dlopen first, so ASan's link-order check is off.
SHIM="$BUILD/libnodeepbind.so"
if [ ! -f "$SHIM" ] || [ "$ROOT/scripts/sanitize/nodeepbind.c" -nt "$SHIM" ]; then
  "${CC:-gcc}" -shared -fPIC -O2 -o "$SHIM" "$ROOT/scripts/sanitize/nodeepbind.c" -ldl
fi

# Reports go to files as well as stderr: pytest captures fd 2 and an abort loses the capture.
LOGS="$BUILD/sanitizer-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"

export PYTHONPATH="$STAGE${PYTHONPATH:+:$PYTHONPATH}"
export IRFORGE_SANITIZER="$SANITIZER"  # tests that cannot run under a sanitizer skip themselves
export LD_PRELOAD="$SHIM:$SAN_LIB:$STDCXX_LIB${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:verify_asan_link_order=0:log_path=$LOGS/asan}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$LOGS/ubsan}"
# TSan: report every race in irforge's code to the log; OpenVINO and onnxruntime are not
# instrumented, so they run unchecked (and their threads cannot cause false reports there).
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:suppressions=$ROOT/scripts/sanitize/tsan.supp:log_path=$LOGS/tsan}"

# Make sure the staged, sanitized build is what gets imported.
SANITIZE_BUILD_DIR="$BUILD" "$PY" - <<'EOF'
import os, sys
import irforge._core as core
so = os.path.realpath(core.__file__)
if not so.startswith(os.path.realpath(os.environ["SANITIZE_BUILD_DIR"]) + os.sep):
    sys.exit(f"sanitize.sh: imported {so}, not the sanitized build")
print(f"sanitize.sh: testing {so}", file=sys.stderr)
EOF

cd "$ROOT"
set +e
# --capture=sys: pytest captures Python's sys.stdout/sys.stderr but not file descriptor 2, so a
# sanitizer report that does not reach its log file (a runtime that ignores log_path, a child
# with another environment) is still printed in the run's output, even when the process aborts
# before pytest could show what it captured.
"$PY" -m pytest -p no:cacheprovider --capture=sys "$@"
rc=$?
set -e
if [ $rc -ne 0 ] && [ -z "$(ls -A "$LOGS")" ]; then
  echo "sanitize.sh: pytest exited $rc and no sanitizer wrote a log file; a report, if any, is in the output above" >&2
fi
if [ -n "$(ls -A "$LOGS")" ]; then
  echo "sanitize.sh: sanitizer reports:" >&2
  for f in "$LOGS"/*; do
    echo "==== $f" >&2
    head -c 20000 "$f" >&2
  done
  [ $rc -eq 0 ] && rc=1
fi
if [ $rc -eq 0 ]; then
  echo "sanitize.sh: PASS: no $SANITIZER sanitizer reports" >&2
else
  echo "sanitize.sh: FAIL (exit $rc)" >&2
fi
exit $rc
