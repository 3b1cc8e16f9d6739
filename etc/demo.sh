#!/usr/bin/env bash
# See resilience_exporter work on a fresh Debian 12 machine: installs what is missing, builds,
# starts PostgreSQL, Redis, an S3 server and an OpenAI stand-in on loopback, and runs the
# exporter on them with the shipped staging config. Ctrl-C stops everything it started.
#   DEMO_LISTEN=127.0.0.1:9900 etc/demo.sh   to listen elsewhere (default :9866)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec env PYTHONPATH="$PWD/tests/lib" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 tests/lib/demo_stack.py
