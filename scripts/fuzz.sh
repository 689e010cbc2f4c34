#!/usr/bin/env bash
# Builds the libFuzzer target for the ONNX reader/writer (clang, ASan + UBSan) into build/fuzz
# and runs it for SECONDS (default 60) on a scratch copy of the seed corpus.
# Exits non-zero when the fuzzer finds a crash; the reproducer is left in build/fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment: FUZZ_JOBS (parallel fuzzing jobs, default 1), FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_WORK (scratch folder, default build/fuzz/run), FUZZ_SRC (source tree to build, default
# this checkout; e.g. a clean export while the working tree is mid-edit), FUZZ_BUILD (build folder).
set -euo pipefail

SECONDS_TO_RUN="${1:-60}"
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
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ \
    -DIRFORGE_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$BUILD" --target fuzz_onnx_reader -j "${FUZZ_BUILD_JOBS:-2}"

# The seed corpus is generated (deterministic) and committed; regenerate it if it is missing.
if [ ! -d "$ROOT/tests/fuzz/corpus" ] || [ -z "$(ls -A "$ROOT/tests/fuzz/corpus")" ]; then
  python3 "$ROOT/tests/fuzz/make_corpus.py" "$ROOT/tests/fuzz/corpus"
fi

# Fuzz on a copy: libFuzzer adds every new interesting input to its first corpus folder.
mkdir -p "$WORK/corpus" "$BUILD/artifacts"
cp -n "$ROOT/tests/fuzz/corpus/"* "$WORK/corpus/" 2>/dev/null || true
if [ -d "$ROOT/tests/fuzz/regressions" ]; then
  cp -n "$ROOT/tests/fuzz/regressions/"* "$WORK/corpus/" 2>/dev/null || true
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

ARGS=(
  -max_len=1000000
  -timeout=10
  -rss_limit_mb=4096
  -print_final_stats=1
  -artifact_prefix="$BUILD/artifacts/"
)
if [ "$JOBS" -gt 1 ]; then
  ARGS+=(-jobs="$JOBS" -workers="$JOBS")
fi
# shellcheck disable=SC2206
ARGS+=(${FUZZ_ARGS:-})

echo "fuzz.sh: fuzzing for ${SECONDS_TO_RUN}s (corpus $WORK/corpus, artifacts $BUILD/artifacts)" >&2
cd "$WORK"
# libFuzzer's -timeout is wall-clock time; on a loaded machine an ordinary input can exceed it.
# A timeout whose input replays quickly is reported as a flake and fuzzing resumes for the
# remaining time; a timeout that reproduces is a real hang.
deadline=$(( $(date +%s) + SECONDS_TO_RUN ))
rc=0
while :; do
  left=$(( deadline - $(date +%s) ))
  [ "$left" -le 0 ] && break
  set +e
  "$BUILD/fuzz_onnx_reader" "${ARGS[@]}" -max_total_time="$left" "$WORK/corpus"
  rc=$?
  set -e
  [ $rc -eq 0 ] && break
  newest="$(ls -1t "$BUILD/artifacts" | head -1)"
  case "$newest" in
    timeout-*)
      start=$(date +%s%N)
      if timeout 30 "$BUILD/fuzz_onnx_reader" -runs=3 "$BUILD/artifacts/$newest" >/dev/null 2>&1 &&
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
  echo "fuzz.sh: the fuzzer found a problem (exit $rc); reproducer: $BUILD/artifacts/$(ls -1t "$BUILD/artifacts" | head -1)" >&2
  echo "fuzz.sh: minimize it with: $BUILD/fuzz_onnx_reader -minimize_crash=1 -runs=100000 <file>" >&2
fi
exit $rc
