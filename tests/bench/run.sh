#!/bin/sh
# Benchmark resilience_exporter beside its peers: one command, about 25 minutes
# (`--quick`: about 5 minutes, fewer and shorter rounds, scale steps up to 1,000).
#
#   tests/bench/run.sh [--quick]   (as root, on Debian 12; from any directory)
#
# 1. Installs what is missing from Debian's packages (apt-get update once): the peers
#    prometheus-postgres-exporter, prometheus-redis-exporter, prometheus-blackbox-exporter,
#    collectd-core (postgresql, redis and write_prometheus plugins, whose shared libraries are
#    checked with ldd), nginx-light, wrk, plus the exporter's build and runtime packages
#    (etc/packages/build.txt, runtime.txt) and PostgreSQL 15, Redis, node and npm; runs
#    `npm ci` when node_modules lacks the S3 and OpenAI stand-ins.
# 2. Builds the exporter and the render micro-benchmark (Release, -DXP_BENCH=ON) into
#    build-bench/ (incremental; XP_BENCH_NO_BUILD=1 skips it), and the libmicrohttpd floor
#    (tests/bench/mhd_floor.c, gcc -O2).
# 3. Runs tests/bench/bench.py: starts PostgreSQL 15, Redis, s3rver and mock-llm on loopback,
#    the seven subjects (and the exporter again, asked for gzip) against them, measures; then
#    TLS (the exporter with tls_server_config, nginx and the libmicrohttpd floor with the same
#    certificate, kept alive and a handshake per request); then, with everything else
#    stopped, the scale steps (tests/bench/engine_scale.py: 1, 10, 100, 1,000 and 10,000
#    dependencies); prints the tables and writes docs/benchmarks.md.
#
# Every process it starts is stopped on exit, on failure and on Ctrl-C. (On a machine where
# package installs start services, Debian also starts nginx and the three Prometheus
# exporters on their default ports when it installs them: those are not ours to stop.)
# Knobs (environment): XP_BENCH_BUILD (build directory, default build-bench), XP_BENCH_BINARY,
# XP_BENCH_ROUNDS (5; quick 2), XP_BENCH_SECONDS (5; 2), XP_BENCH_SOAK_CAP (60; 10),
# XP_BENCH_IDLE (60; 10), XP_BENCH_FREEZE (35; 12), XP_BENCH_TLS_ROUNDS (3; 1),
# XP_BENCH_TLS_SECONDS (4; 2), XP_BENCH_SCALE (1,10,100,1000,10000; up to 1000),
# XP_BENCH_SCALE_ARGS (engine_scale.py's windows), XP_BENCH_OUT (markdown output, default docs/benchmarks.md),
# XP_BENCH_CONDITIONS (free text recorded in the report), XP_BENCH_KEEP=1 (keep work dir).
# Not part of the default test run; the render micro-benchmark is `ctest -L bench` in a build
# configured with -DXP_BENCH=ON.
set -eu

case "${1:-}" in
    --quick) export XP_BENCH_QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${XP_BENCH_BUILD:-$SRC/build-bench}
export XP_BENCH_BINARY="${XP_BENCH_BINARY:-$BUILD/resilience_exporter}"
export XP_BENCH_MHD_FLOOR="$BUILD/mhd_floor"

say() { printf '[run.sh] %s\n' "$*" >&2; }

# ---- packages -------------------------------------------------------------------------
pkgs_from() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }
WANT="prometheus-postgres-exporter prometheus-redis-exporter prometheus-blackbox-exporter
collectd-core nginx-light wrk postgresql-15 redis-server curl iproute2 procps python3 libcmocka-dev
openssl
$(pkgs_from "$SRC/etc/packages/build.txt") $(pkgs_from "$SRC/etc/packages/runtime.txt")"
MISSING=""
for p in $WANT; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
        MISSING="$MISSING $p"
done
UPDATED=0
apt_install() {
    if [ "$UPDATED" = 0 ]; then
        say "apt-get update"
        apt-get update -qq
        UPDATED=1
    fi
    say "installing:$*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "$@" >/dev/null
}
# node may come from elsewhere than Debian (node 20 on these machines): only ask for the
# Debian packages when there is no node at all.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || MISSING="$MISSING nodejs npm"
[ -z "$MISSING" ] || apt_install $MISSING

# collectd-core recommends rather than depends on its plugins' libraries: check with ldd.
LIBS=""
for so in postgresql redis write_prometheus; do
    for lib in $(ldd "/usr/lib/collectd/$so.so" | awk '/not found/ {print $1}'); do
        case "$lib" in
            libprotobuf-c.so.1) LIBS="$LIBS libprotobuf-c1" ;;
            libpq.so.5) LIBS="$LIBS libpq5" ;;
            libhiredis.so.0.14) LIBS="$LIBS libhiredis0.14" ;;
            libmicrohttpd.so.12) LIBS="$LIBS libmicrohttpd12" ;;
            *) say "collectd plugin $so needs $lib: install its package"; exit 1 ;;
        esac
    done
done
[ -z "$LIBS" ] || apt_install $LIBS

if [ ! -d "$SRC/node_modules/@20minutes/s3rver" ] || [ ! -x "$SRC/node_modules/.bin/mock-llm" ]; then
    say "npm ci (S3 and OpenAI stand-ins)"
    (cd "$SRC" && npm ci --no-audit --no-fund --loglevel=error)
fi

# ---- builds ---------------------------------------------------------------------------
# Always an incremental build, so that a stale binary is never measured by accident. When the
# build fails but a binary exists, that binary is measured and the report says so.
export XP_BENCH_RENDER="$BUILD/tests/bench/bench_render"
if [ -z "${XP_BENCH_NO_BUILD:-}" ]; then
    say "building resilience_exporter and bench_render (Release) in $BUILD"
    if ! { cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DXP_BENCH=ON >/dev/null &&
           cmake --build "$BUILD" -j2 --target resilience_exporter bench_render; }; then
        [ -x "$XP_BENCH_BINARY" ] || { say "build failed and there is no binary"; exit 1; }
        say "WARNING: build failed; measuring the existing $XP_BENCH_BINARY"
        export XP_BENCH_STALE=1
    fi
fi
[ -x "$XP_BENCH_BINARY" ] || { say "no exporter binary at $XP_BENCH_BINARY"; exit 1; }
if [ ! -x "$XP_BENCH_MHD_FLOOR" ] || [ "$SRC/tests/bench/mhd_floor.c" -nt "$XP_BENCH_MHD_FLOOR" ]; then
    mkdir -p "$BUILD"
    gcc -O2 -Wall -Wextra -o "$XP_BENCH_MHD_FLOOR" "$SRC/tests/bench/mhd_floor.c" -lmicrohttpd -lpthread
fi

# ---- run, and stop everything on any exit ---------------------------------------------
PIDFILE=$(mktemp /tmp/xp-bench-pids.XXXXXX)
export XP_BENCH_PIDFILE="$PIDFILE"
PY=""
cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$PY" ] && kill -0 "$PY" 2>/dev/null; then
        kill -TERM "$PY" 2>/dev/null || true # bench.py stops what it started
        wait "$PY" 2>/dev/null || true
    fi
    # Last resort, should bench.py itself have died: the PIDs it recorded.
    LEFT=""
    for pid in $(cat "$PIDFILE" 2>/dev/null); do
        if kill -0 "$pid" 2>/dev/null; then
            kill -CONT "$pid" 2>/dev/null || true
            kill -TERM "$pid" 2>/dev/null || true
            LEFT="$LEFT $pid"
        fi
    done
    if [ -n "$LEFT" ]; then
        sleep 3
        for pid in $LEFT; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    rm -f "$PIDFILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

export PYTHONDONTWRITEBYTECODE=1 # keep tests/bench free of __pycache__
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
"$PYTHON" "$SRC/tests/bench/bench.py" &
PY=$!
wait "$PY" && RC=0 || RC=$?
PY=""
exit "$RC"
