#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build/fuzz and runs each for SECONDS
# (default 60) on a scratch copy of the seed corpus, one after the other.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# TARGET: reader (fuzz_onnx_reader: ONNX read → write → read), safetensors (fuzz_safetensors_reader:
# header + JSON parser, generated seeds) or pipeline (fuzz_pipeline: read →
# default passes → OpenVINO and ONNX writers, structure-aware mutator); default both. The
# FUZZ_TARGETS variable ("reader pipeline") is used when no TARGET is given.
# Exits non-zero when a fuzzer finds a problem; reproducers are left in build/fuzz/artifacts/,
# named <target>-crash-..., <target>-timeout-..., and so on.
#
# Environment: FUZZ_JOBS (parallel fuzzing jobs, default 1), FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_TIMEOUT (seconds one input may take, default 10), FUZZ_WORK (scratch folder, default
# build/fuzz/run; one sub-folder per target), FUZZ_SRC (source tree to build, default this
# checkout; e.g. a clean export while the working tree is mid-edit), FUZZ_BUILD (build folder),
# FUZZ_RESUME (1: keep the scratch corpus of the previous run instead of starting afresh).
#
# Each run starts from a fresh scratch corpus: the committed seed corpus and the regressions
# only. What an earlier run added would change which inputs libFuzzer mutates, so a seeded,
# run-bounded run (as .ci/run does) would no longer do what it does on a clean clone.
#
# The targets run with address-space randomization off (setarch -R, when the kernel allows it).
# irforge keys hash maps by pointer, and how those tables probe depends on the addresses: with
# randomized addresses the same input covers a few edges more or less from one run to the next,
# libFuzzer keeps different inputs, and a seeded run diverges from the first mutation on. With
# fixed addresses a seeded, run-bounded run repeats exactly. FUZZ_ASLR=1 keeps randomization.
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
    safetensors|fuzz_safetensors_reader) TARGETS+=(fuzz_safetensors_reader) ;;
    *) echo "fuzz.sh: unknown target '$t' (targets: reader, pipeline, safetensors)" >&2; exit 2 ;;
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
# Paths in the binary are relative to the source tree (-ffile-prefix-map below), so the build
# does not depend on where the checkout is. (ccache still keys objects by the checkout path that
# flag names: a fresh clone at the same path reuses them, one elsewhere compiles afresh.)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$SRC}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  # -O1 and line tables only: the sanitized build compiles much faster than with -O2 -g and
  # still gives file:line stack traces (what libFuzzer's docs suggest for fuzz builds). The
  # source paths in it are relative: a checkout elsewhere builds the same binary (the same data
  # layout, so the same addresses with randomization off).
  cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG -ffile-prefix-map=$SRC/=" \
    -DCMAKE_CXX_COMPILER=clang++ \
    -DIRFORGE_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$BUILD" --target "${TARGETS[@]}" -j "${FUZZ_BUILD_JOBS:-2}"

# The seed corpus is generated (deterministic) and committed; regenerate it if it is missing.
if [ ! -d "$ROOT/tests/fuzz/corpus" ] || [ -z "$(ls -A "$ROOT/tests/fuzz/corpus")" ]; then
  python3 "$ROOT/tests/fuzz/make_corpus.py" "$ROOT/tests/fuzz/corpus"
fi

# Fixed addresses (see above); nothing when setarch is missing or the kernel refuses it.
NO_ASLR=()
if [ "${FUZZ_ASLR:-0}" != 1 ] && setarch "$(uname -m)" -R true 2>/dev/null; then
  NO_ASLR=(setarch "$(uname -m)" -R)
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The fuzzers get only these variables: the environment sits at the top of the stack, and an
# environment of another size (another user, shell or CI runner) moves every stack address, which
# again shows in the compared values libFuzzer learns from.
FIXED_ENV=(PATH=/usr/local/bin:/usr/bin:/bin ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS")
[ -n "${IRFORGE_NUM_THREADS:-}" ] && FIXED_ENV+=(IRFORGE_NUM_THREADS="$IRFORGE_NUM_THREADS")
mkdir -p "$BUILD/artifacts"

# Runs one target for SECONDS_TO_RUN; returns libFuzzer's exit code (0: nothing found).
run_target() {
  local target="$1" corpus="$WORK/$1/corpus" prefix="$BUILD/artifacts/$1-"
  # Fuzz on a copy: libFuzzer adds every new interesting input to its first corpus folder.
  [ "${FUZZ_RESUME:-0}" = 1 ] || rm -rf "$corpus"
  mkdir -p "$corpus"
  if [ "$target" = fuzz_safetensors_reader ]; then
    # Its seeds are safetensors files, generated (the ONNX corpus would only be rejected early).
    python3 "$ROOT/tests/fuzz/make_safetensors_corpus.py" "$corpus"
  else
    cp -n "$ROOT/tests/fuzz/corpus/"* "$corpus/" 2>/dev/null || true
  fi
  if [ -d "$ROOT/tests/fuzz/regressions" ]; then
    cp -n "$ROOT/tests/fuzz/regressions/"* "$corpus/" 2>/dev/null || true
  fi
  # libFuzzer runs in the scratch folder and sees only relative paths (the binary and the
  # artifacts folder through links there): it keeps them as strings, and path lengths that differ
  # between checkouts would shift the heap, and with it the coverage (see the comment on ASLR).
  ln -sfn "$BUILD/$target" "$WORK/$target/$target"
  ln -sfn "$BUILD/artifacts" "$WORK/$target/artifacts"
  # -reload=0: libFuzzer otherwise re-reads its corpus folder every second and runs the seeds it
  # did not keep at whatever moment that falls, which makes a seeded run depend on the clock.
  local args=(
    -max_len=1000000
    -timeout="${FUZZ_TIMEOUT:-10}"
    -rss_limit_mb=4096
    -print_final_stats=1
    -reload=0
    -artifact_prefix="artifacts/$target-"
  )
  if [ "$JOBS" -gt 1 ]; then
    args+=(-jobs="$JOBS" -workers="$JOBS")
  fi
  # shellcheck disable=SC2206
  args+=(${FUZZ_ARGS:-})

  echo "fuzz.sh: fuzzing $target for ${SECONDS_TO_RUN}s (corpus $corpus, $([ "${FUZZ_RESUME:-0}" = 1 ] && echo resumed || echo fresh), artifacts ${prefix}*, address randomization $([ ${#NO_ASLR[@]} -gt 0 ] && echo off || echo on))" >&2
  # libFuzzer's -timeout is wall-clock time; on a loaded machine an ordinary input can exceed it.
  # A timeout whose input replays quickly is reported as a flake and fuzzing resumes for the
  # remaining time; a timeout that reproduces is a real hang.
  local deadline=$(( $(date +%s) + SECONDS_TO_RUN )) rc=0 left newest start
  while :; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -le 0 ] && break
    set +e
    (cd "$WORK/$target" && env -i "${FIXED_ENV[@]}" "${NO_ASLR[@]}" "./$target" "${args[@]}" -max_total_time="$left" corpus)
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
