#!/usr/bin/env bash
# See resilience_exporter work on a fresh Debian 12 machine: installs only what the demo needs
# (etc/packages/build.txt, runtime.txt and demo.txt; not the test suite's toolchain), builds,
# starts PostgreSQL, Redis, an S3 server and an OpenAI stand-in on loopback, and runs the
# exporter on them with the shipped staging config. Ctrl-C stops everything it started.
#   DEMO_LISTEN=127.0.0.1:9900 etc/demo.sh   to listen elsewhere (default :9866)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh --demo
# Its own build directory, without the tests (their packages are not installed): build/ stays
# the test suite's.
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-demo -j"$(nproc)" >/dev/null
exec env PYTHONPATH="$PWD/tests/lib" PYTHONDONTWRITEBYTECODE=1 XP_BUILD_DIR="$PWD/build-demo" \
  /usr/bin/python3 tests/lib/demo_stack.py
