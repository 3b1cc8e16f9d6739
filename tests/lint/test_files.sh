#!/usr/bin/env bash
# Every test script holds at least one test: an empty or truncated file would "pass" under
# CTest while testing nothing (a bad merge once emptied two of them).
set -euo pipefail
cd "${XP_SOURCE_DIR:-$(dirname "$0")/../..}"
bad=0
for f in tests/integration/test_*.py tests/e2e/test_*.py tests/image/test_*.py; do
  [ -e "$f" ] || continue
  if ! grep -qE '^\s+def test_' "$f" || ! grep -q '__main__' "$f"; then
    echo "no test in $f"
    bad=1
  fi
done
for f in tests/unit/test_*.c; do
  grep -q 'cmocka_unit_test' "$f" || { echo "no test in $f"; bad=1; }
done
[ "$bad" = 0 ] && echo "every test file holds tests"
exit "$bad"
