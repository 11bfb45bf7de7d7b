#!/usr/bin/env bash
# Configures and builds quorum.
#   deploy/build.sh                  Release build in build/
#   deploy/build.sh --sanitize       Debug build with ASan+UBSan in build-asan/
#   deploy/build.sh --tsan           optimized build with ThreadSanitizer in build-tsan/
# QUORUM_CRASH_POINTS=ON in the environment compiles in the crash points and disk faults the
# fault tests arm (raft/crash_point.h); tests/run_all.sh sets it for the Release build.
# Extra arguments after the mode go to `cmake --build` (e.g. --target quorumd).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${QUORUM_BUILD_JOBS:-2}

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  dir="$root/build-asan"
  cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug -DQUORUM_SANITIZE=ON \
    -DQUORUM_BUILD_BENCHMARKS=OFF -DQUORUM_BUILD_PROGRAMS=OFF >/dev/null
elif [[ "${1:-}" == "--tsan" ]]; then
  shift
  dir="$root/build-tsan"
  cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUORUM_TSAN=ON \
    -DQUORUM_BUILD_BENCHMARKS=OFF >/dev/null
else
  dir="$root/build"
  cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DQUORUM_CRASH_POINTS="${QUORUM_CRASH_POINTS:-OFF}" >/dev/null
fi
cmake --build "$dir" -j "$jobs" "$@"
echo "build: $dir"
