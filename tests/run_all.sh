#!/usr/bin/env bash
# Installs what is needed, builds quorum, and runs every test:
#   1. a Debug build with AddressSanitizer + UndefinedBehaviorSanitizer runs the unit and
#      simulation tests;
#   2. a ThreadSanitizer build runs the unit, client and multi-process cluster tests; every
#      process (quorumd members included) writes its reports under build-tsan/tsan-reports, and
#      any report fails the run;
#   3. the Release build, with the crash points compiled in, runs everything (unit, simulation,
#      multi-process, faults, etcd comparison).
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

echo "== thread sanitizer build (unit + client + cluster) =="
./deploy/build.sh --tsan
reports="$root/build-tsan/tsan-reports"
rm -rf "$reports" && mkdir -p "$reports"
tsan_failed=0
# ignore_noninstrumented_modules: accesses made inside Debian's (uninstrumented) libraries are
# not ours to judge; tests/tsan/suppressions.txt says what else is left out and why.
(cd build-tsan && \
  TSAN_OPTIONS="log_path=$reports/report suppressions=$root/tests/tsan/suppressions.txt ignore_noninstrumented_modules=1 second_deadlock_stack=1" \
  ctest -L 'unit|process' --output-on-failure -j 2) || tsan_failed=1
if compgen -G "$reports/report.*" >/dev/null; then
  echo "ThreadSanitizer reported in $(ls "$reports" | wc -l) process(es):"
  cat "$reports"/report.*
  tsan_failed=1
fi
if ((tsan_failed)); then
  echo "the ThreadSanitizer stage failed"
  exit 1
fi
echo "ThreadSanitizer: no reports"

echo "== release build (all tests) =="
# With the crash points compiled in: the crash-point tests arm them (label "faults").
QUORUM_CRASH_POINTS=ON ./deploy/build.sh
cd build
ctest --output-on-failure
