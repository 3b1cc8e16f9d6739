#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and fuzzes each one for a while.
#   tests/fuzz/run.sh                 about 60 s in all (10 s per target): CI
#   FUZZ_SECONDS=1800 tests/fuzz/run.sh   the longer run (30 min per target), e.g. nightly
# New inputs that add coverage go to a scratch corpus in the build directory, not to the
# seeds in tests/fuzz/corpus/; a crash leaves crash-* next to the log and fails the run.
# Reproduce one with: build-fuzz/tests/fuzz/fuzz_NAME path/to/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-10}
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-2}

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DXP_FUZZ=ON >/dev/null
targets=(config duration env redis_info http_bodies label accept_encoding app_input)
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

out="$build/tests/fuzz/out"
mkdir -p "$out"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  work="$out/$t"
  mkdir -p "$work/corpus"
  # Seeds first so every run starts from the known inputs; -max_len 64 KB covers a
  # config line too long for inih and a large INFO reply.
  if ! (cd "$work" && "$OLDPWD/$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=65536 \
          -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          corpus "$OLDPWD/tests/fuzz/corpus/$t" >"$t.log" 2>&1); then
    echo "fuzz_$t: FAILED, see $work/$t.log"
    tail -30 "$work/$t.log"
    status=1
  else
    echo "fuzz_$t: ok, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') runs in ${seconds}s"
  fi
done
exit $status
