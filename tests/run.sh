#!/usr/bin/env bash
# Runs the whole test suite on a Debian 12 machine, installing what is missing first:
# the plain Release build (it also builds the container image and runs it: label "image", about
# 2 minutes from scratch, 40 s with the cached base in build/image; XP_SKIP_IMAGE=1 leaves it
# out), then the same suite under AddressSanitizer + UBSan (less the tests of shipped files, label
# "files"), then the unit tests and the reload,
# shutdown and concurrent-scrape tests (label tsan) under ThreadSanitizer, then the fuzz
# targets for a minute.
#   tests/run.sh              everything
#   tests/run.sh --quick      the plain build only
# Needs root (or sudo) only to install missing Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash tests/install-deps.sh

jobs=2
echo "== plain build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
skip='bench'
[ -n "${XP_SKIP_IMAGE:-}" ] && skip='bench|image'
ctest --test-dir build --output-on-failure -j"$jobs" -LE "$skip"

if [ "$quick" = 0 ]; then
  echo "== ASan + UBSan build"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXP_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'bench|e2e|image|files'
  echo "== ThreadSanitizer build"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DXP_TSAN=ON >/dev/null
  cmake --build build-tsan -j"$jobs"
  # A report makes a unit test exit 66; the harness fails an integration test on a
  # "WARNING: ThreadSanitizer" in an exporter's output (the exporter keeps running, so one run
  # shows every race it meets).
  TSAN_OPTIONS=halt_on_error=0:exitcode=66:second_deadlock_stack=1 \
    ctest --test-dir build-tsan --output-on-failure -j"$jobs" -L tsan
  echo "== fuzz (about 60 s)"
  bash tests/fuzz/run.sh
fi
