#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build/fuzz and runs each for SECONDS
# (default 60) on a scratch copy of the seed corpus, one after the other.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# TARGET: reader (fuzz_onnx_reader: ONNX read → write → read) or pipeline (fuzz_pipeline: read →
# default passes → OpenVINO and ONNX writers, structure-aware mutator), or tflite
# (fuzz_tflite_reader: TFLite flatbuffer read → verify → ONNX write; not in the default set); default both. The
# FUZZ_TARGETS variable ("reader pipeline") is used when no TARGET is given.
# Exits non-zero when a fuzzer finds a problem; reproducers are left in build/fuzz/artifacts/,
# named <target>-crash-..., <target>-timeout-..., and so on.
#
# Environment: FUZZ_JOBS (parallel fuzzing jobs, default 1), FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_TIMEOUT (seconds one input may take, default 10), FUZZ_WORK (scratch folder, default
# build/fuzz/run; one sub-folder per target), FUZZ_SRC (source tree to build, default this
# checkout; e.g. a clean export while the working tree is mid-edit), FUZZ_BUILD (build folder).
set -euo pipefail

SECONDS_TO_RUN=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  SECONDS_TO_RUN="$1"
  shift
fi
# shellcheck disable=SC2206
REQUESTED=(${@:-${FUZZ_TARGETS:-reader pipeline}})
TARGETS=()
for t in "${REQUESTED[@]}"; do
  case "$t" in
    reader|fuzz_onnx_reader) TARGETS+=(fuzz_onnx_reader) ;;
    pipeline|fuzz_pipeline) TARGETS+=(fuzz_pipeline) ;;
    tflite|fuzz_tflite_reader) TARGETS+=(fuzz_tflite_reader) ;;
    *) echo "fuzz.sh: unknown target '$t' (targets: reader, pipeline, tflite)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${FUZZ_SRC:-$ROOT}"
BUILD="${FUZZ_BUILD:-$ROOT/build/fuzz}"
WORK="${FUZZ_WORK:-$BUILD/run}"
JOBS="${FUZZ_JOBS:-1}"

if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz.sh: installing clang and its runtime libraries" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq clang libclang-rt-dev >/dev/null 2>&1 ||
    $SUDO apt-get install -y -qq clang "libclang-rt-$(clang --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -1)-dev"
fi

GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
command -v ccache >/dev/null 2>&1 && GEN+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  # -O1 and line tables only: the sanitized build compiles much faster than with -O2 -g and
  # still gives file:line stack traces (what libFuzzer's docs suggest for fuzz builds).
  cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
    -DCMAKE_CXX_COMPILER=clang++ \
    -DIRFORGE_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$BUILD" --target "${TARGETS[@]}" -j "${FUZZ_BUILD_JOBS:-2}"

# The seed corpus is generated (deterministic) and committed; regenerate it if it is missing.
if [ ! -d "$ROOT/tests/fuzz/corpus" ] || [ -z "$(ls -A "$ROOT/tests/fuzz/corpus")" ]; then
  python3 "$ROOT/tests/fuzz/make_corpus.py" "$ROOT/tests/fuzz/corpus"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$BUILD/artifacts"

# Runs one target for SECONDS_TO_RUN; returns libFuzzer's exit code (0: nothing found).
run_target() {
  local target="$1" corpus="$WORK/$1/corpus" prefix="$BUILD/artifacts/$1-"
  # Fuzz on a copy: libFuzzer adds every new interesting input to its first corpus folder.
  mkdir -p "$corpus"
  if [ "$1" = fuzz_tflite_reader ]; then
    # TFLite seeds are generated, not committed (tests/fuzz/make_tflite_corpus.py, deterministic).
    python3 "$ROOT/tests/fuzz/make_tflite_corpus.py" "$BUILD/corpus_tflite"
    cp -n "$BUILD/corpus_tflite/"* "$corpus/" 2>/dev/null || true
  else
    cp -n "$ROOT/tests/fuzz/corpus/"* "$corpus/" 2>/dev/null || true
  fi
  if [ -d "$ROOT/tests/fuzz/regressions" ]; then
    cp -n "$ROOT/tests/fuzz/regressions/"* "$corpus/" 2>/dev/null || true
  fi
  local args=(
    -max_len=1000000
    -timeout="${FUZZ_TIMEOUT:-10}"
    -rss_limit_mb=4096
    -print_final_stats=1
    -artifact_prefix="$prefix"
  )
  if [ "$JOBS" -gt 1 ]; then
    args+=(-jobs="$JOBS" -workers="$JOBS")
  fi
  # shellcheck disable=SC2206
  args+=(${FUZZ_ARGS:-})

  echo "fuzz.sh: fuzzing $target for ${SECONDS_TO_RUN}s (corpus $corpus, artifacts ${prefix}*)" >&2
  # libFuzzer's -timeout is wall-clock time; on a loaded machine an ordinary input can exceed it.
  # A timeout whose input replays quickly is reported as a flake and fuzzing resumes for the
  # remaining time; a timeout that reproduces is a real hang.
  local deadline=$(( $(date +%s) + SECONDS_TO_RUN )) rc=0 left newest start
  while :; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -le 0 ] && break
    set +e
    (cd "$WORK/$target" && "$BUILD/$target" "${args[@]}" -max_total_time="$left" "$corpus")
    rc=$?
    set -e
    [ $rc -eq 0 ] && break
    newest="$(ls -1t "$BUILD/artifacts" | grep "^$target-" | head -1 || true)"
    case "$newest" in
      "$target"-timeout-*)
        start=$(date +%s%N)
        if timeout 30 "$BUILD/$target" -runs=3 "$BUILD/artifacts/$newest" >/dev/null 2>&1 &&
          [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ]; then
          echo "fuzz.sh: $newest replays in under 2 s: a timeout caused by machine load, not a hang; resuming" >&2
          mv "$BUILD/artifacts/$newest" "$BUILD/artifacts/flaky-$newest"
          rc=0
          continue
        fi
        ;;
    esac
    break
  done
  if [ $rc -ne 0 ]; then
    echo "fuzz.sh: $target found a problem (exit $rc); reproducer: $BUILD/artifacts/$newest" >&2
    echo "fuzz.sh: minimize it with: $BUILD/$target -minimize_crash=1 -runs=100000 <file>" >&2
  fi
  return $rc
}

status=0
for target in "${TARGETS[@]}"; do
  run_target "$target" || status=$?
done
exit $status
