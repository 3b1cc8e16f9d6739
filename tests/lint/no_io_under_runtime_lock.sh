#!/usr/bin/env bash
# The runtime lock promises memory work only (exporter/engine/runtime.h): a scrape holds it
# while it copies the state, and a reload waits on it. This check fails when code of the web
# part calls something that does I/O (files, /proc, sockets, logging) between
# xp_runtime_lock() and xp_runtime_unlock(). Issue 10 fault 8: respcache.c read /proc there.
set -euo pipefail
cd "${XP_SOURCE_DIR:-$(dirname "$0")/../..}"

io='xp_procstat_read|fopen|fread|fgets|fprintf|opendir|readdir|[^_a-z]open\(|[^_a-z]read\(|[^_a-z]write\(|xp_log\(|getaddrinfo|curl_|PQ|redis[A-Z]|sleep|poll\('
bad=0
for f in exporter/web/*.c; do
    out=$(awk -v io="$io" -v file="$f" '
        /xp_runtime_lock\(\);/ { held = 1; next }
        /xp_runtime_unlock\(\);/ { held = 0; next }
        held && $0 ~ io { printf "%s:%d: I/O under the runtime lock: %s\n", file, FNR, $0 }
    ' "$f")
    if [ -n "$out" ]; then
        echo "$out"
        bad=1
    fi
done
[ "$bad" = 0 ] && echo "no I/O under the runtime lock in exporter/web"
exit "$bad"
