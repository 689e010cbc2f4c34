#!/usr/bin/env bash
# Incremental development build into build/<name>, staged as an importable package in
# build/<name>/stage/irforge (symlinks to python/irforge + the freshly built _core), so several
# people can build and test side by side without touching each other's builds.
#   scripts/dev_build.sh NAME   then   PYTHONPATH=build/NAME/stage python -m pytest ...
set -euo pipefail
name=${1:-dev}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/$name"
# ccache (when installed) shares objects between worktrees: paths are hashed relative to this.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$root")}
if [ ! -f "$build/build.ninja" ]; then
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$root" -B "$build" -G Ninja "${launcher[@]}" -DIRFORGE_BUILD_PYTHON=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
fi
if ! out=$(ninja -C "$build" _core 2>&1); then echo "$out" >&2; exit 1; fi
stage="$build/stage/irforge"
mkdir -p "$stage"
for f in "$root"/python/irforge/*; do
  base=$(basename "$f")
  case "$base" in _core*.so|__pycache__) continue ;; esac
  ln -sfn "$f" "$stage/$base"
done
ln -sfn "$(ls "$build"/_core*.so)" "$stage/"
echo "PYTHONPATH=$build/stage"
