#!/usr/bin/env bash
# Installs what is needed, builds quorum, and runs every test:
#   1. a Debug build with AddressSanitizer + UndefinedBehaviorSanitizer runs the unit and
#      simulation tests;
#   2. the Release build runs everything (unit, simulation, multi-process, etcd comparison).
# Ends with ctest's summary of the Release run. Exits non-zero if any test fails.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

./deploy/install-deps.sh --tests

echo "== sanitizer build (unit + sim) =="
./deploy/build.sh --sanitize
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  QUORUM_SIM_SCENARIOS=${QUORUM_SIM_SCENARIOS_ASAN:-1000} \
  ctest -L 'unit|sim' --output-on-failure -j 2)

echo "== release build (all tests) =="
./deploy/build.sh
cd build
ctest --output-on-failure
