#!/usr/bin/env python3
"""How the probing engine scales in dependencies: N redis dependencies (interval 10 s by
default) against one real redis-server, and per step the numbers of issue 13 item 3:
RSS and private memory (per dependency), threads, open fds, exporter CPU per probe, time to
listen, time to /-/ready, reload time, /metrics size, scrape latency, probe schedule spread,
shutdown time and exit status. Standard library only; prints one JSON object per step and a
table at the end.

    engine_scale.py --binary build/resilience_exporter --deps 10,100,1000,10000

Memory: /proc/PID/smaps_rollup, "private" = Private_Clean + Private_Dirty (what the process
alone costs the machine). Per dependency = (private at N - private at an empty baseline
exporter with one dependency) / N is printed too, so the fixed cost does not hide the slope.

CPU per probe: utime+stime of the exporter over a quiet window (no scrape inside it) divided
by the probes that ran in it (the sum of circuit_breaker_calls_total success+failure), less
what the /metrics builder thread ("xp-metrics", per-thread from /proc/PID/task/*/sched) spent
rendering in that window: that is the render cost, reported apart (ms of CPU per second).

Scrape latency: with --floor (tests/bench/mhd_floor), the body of a scrape is served by the
libmicrohttpd floor as a static file, and the exporter and the floor are scraped alternately
by the same client: the floor's p50/p99 is what moving that many bytes costs here, so the
exporter's ratio to it is what rendering and serving a changing body add.

Schedule spread: /health every 2 s; each dependency's probe start is
last_probe.timestamp - duration_seconds; k-th start minus k*interval should be constant on a
fixed grid, so its max - min per dependency is how far probes strayed from their schedule."""
import argparse
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as L  # noqa: E402  (ports and the listen table)

CLK_TCK = os.sysconf("SC_CLK_TCK")
CALLS = re.compile(r'^circuit_breaker_calls_total\{dependency="[^"]*",result="(success|failure)"\} (\S+)$', re.M)


def note_pid(pid):
    """Started by run.sh (through bench.py): its trap stops what is listed there, should we die."""
    if os.environ.get("XP_BENCH_PIDFILE"):
        with open(os.environ["XP_BENCH_PIDFILE"], "a") as f:
            f.write("%d\n" % pid)


def on_signal(sig, frame):
    raise KeyboardInterrupt  # so that every finally stops what it started


def log(*a):
    print("[scale %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # root may raise hard
            return
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return out


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return None


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_ms(pid, comm=None):
    """CPU ms (ns precision) of pid's threads named comm (all threads if None), summed."""
    total = 0.0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if comm is not None and f.read().strip() != comm:
                    continue
            with open("/proc/%d/task/%s/sched" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1])
                        break
        except OSError:
            pass
    return total


def get(port, path, method="GET", timeout=30, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def probes_run(port):
    st, body = get(port, "/metrics")
    assert st == 200, st
    return sum(float(v) for _, v in CALLS.findall(body.decode())), len(body)


def config(n, redis_port, interval, timeout, host):
    parts = ["[exporter]\nlog_level = warn\n\n"]
    for i in range(n):
        parts.append("[dependency.r%d]\ncollector = redis\naddress = %s:%d\ninterval = %s\n"
                     "timeout = %s\n\n" % (i, host, redis_port, interval, timeout))
    return "".join(parts)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def schedule_spread(port, interval, seconds):
    """Per dependency, max - min of (k-th probe start - k * interval) over the window."""
    starts = {}
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        st, body = get(port, "/health")
        if st == 200:
            for name, d in json.loads(body)["dependencies"].items():
                lp = d.get("last_probe") or {}
                if lp.get("timestamp") is None:
                    continue
                starts.setdefault(name, set()).add(round(lp["timestamp"] - lp["duration_seconds"], 6))
        time.sleep(2)
    spreads = []
    for s in starts.values():
        s = sorted(s)
        if len(s) < 2:
            continue
        off = [t - round((t - s[0]) / interval) * interval for t in s]
        spreads.append(max(off) - min(off))
    return spreads


def step(args, n, redis_port, work):
    cfg_path = os.path.join(work, "scale-%d.ini" % n)
    with open(cfg_path, "w") as f:
        f.write(config(n, redis_port, args.interval, args.timeout, args.host))
    port = L.free_port()
    logf = open(os.path.join(work, "exporter-%d.log" % n), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen([args.binary, "--config.file=" + cfg_path, "--web.enable-lifecycle",
                          "--web.listen-address=127.0.0.1:%d" % port] + args.extra,
                         stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    note_pid(p.pid)
    r = {"deps": n}
    try:
        while not L.listening(port):
            if p.poll() is not None:
                raise RuntimeError("exporter exited %s" % p.returncode)
            time.sleep(0.005)
        r["listen_s"] = time.monotonic() - t0
        while True:
            try:
                st, _ = get(port, "/-/ready", timeout=5)
            except OSError:
                st = 0
            if st == 200:
                break
            if time.monotonic() - t0 > 120:
                raise RuntimeError("not ready after 120 s")
            time.sleep(0.02)
        r["ready_s"] = time.monotonic() - t0
        r["threads_at_ready"] = int(status_field(p.pid, "Threads"))
        # Past a few intervals, so steady state (kept connections, warm pools).
        settle = max(0.0, t0 + args.settle - time.monotonic())
        time.sleep(settle)
        m = smaps(p.pid)
        r["rss_kib"] = m["Rss"] // 1024
        r["pss_kib"] = m["Pss"] // 1024
        r["private_kib"] = (m["Private_Clean"] + m["Private_Dirty"]) // 1024
        r["threads"] = int(status_field(p.pid, "Threads"))
        r["fds"] = len(os.listdir("/proc/%d/fd" % p.pid))

        calls0, size = probes_run(port)
        c0, b0, a0 = cpu_seconds(p.pid), thread_cpu_ms(p.pid, "xp-metrics"), thread_cpu_ms(p.pid)
        time.sleep(args.cpu_window)
        c1, b1, a1 = cpu_seconds(p.pid), thread_cpu_ms(p.pid, "xp-metrics"), thread_cpu_ms(p.pid)
        calls1, size = probes_run(port)
        render_s = (b1 - b0) / 1000
        # Ticks (10 ms) count the threads that ended in the window; the per-thread sums
        # (ns) are precise for the others: the larger of the two.
        c1 = c0 + max(c1 - c0, (a1 - a0) / 1000)
        r["metrics_bytes"] = size
        r["probes_in_window"] = calls1 - calls0
        r["cpu_s_window"] = c1 - c0
        r["render_cpu_ms_per_s"] = render_s * 1000 / args.cpu_window
        r["cpu_us_per_probe"] = max(0.0, c1 - c0 - render_s) / max(1, calls1 - calls0) * 1e6
        r["probes_per_s"] = (calls1 - calls0) / args.cpu_window

        # Plain and gzip (as Prometheus asks), each followed by the floor serving the same
        # bytes (the gzip body as a file: the client reads the same compressed bytes).
        gz = {"Accept-Encoding": "gzip"}
        floors = {}
        try:
            if args.floor:
                for kind, hs in (("plain", None), ("gzip", gz)):
                    body_path = os.path.join(work, "body-%d.%s" % (n, kind))
                    with open(body_path, "wb") as f:
                        f.write(get(port, "/metrics", headers=hs)[1])
                    fport = L.free_port()
                    fp = subprocess.Popen([args.floor, str(fport), body_path], stdout=logf,
                                          stderr=subprocess.STDOUT, start_new_session=True)
                    note_pid(fp.pid)
                    floors[kind] = (fport, fp)
                    L.wait_listen(fport, timeout=20)
            lat = {"plain": [], "gzip": [], "floor plain": [], "floor gzip": []}
            gz_bytes = 0
            for _ in range(args.scrapes):
                for kind, hs in (("plain", None), ("gzip", gz)):
                    time.sleep(random.uniform(0.1, 0.6))
                    a = time.monotonic()
                    st, body = get(port, "/metrics", headers=hs)
                    lat[kind].append(time.monotonic() - a)
                    assert st == 200
                    if kind == "gzip":
                        gz_bytes = len(body)
                    if kind in floors:
                        a = time.monotonic()
                        st, body = get(floors[kind][0], "/metrics")
                        lat["floor " + kind].append(time.monotonic() - a)
                        assert st == 200
        finally:
            for _, fp in floors.values():
                fp.terminate()
                fp.wait()
        r["gzip_bytes"] = gz_bytes
        for kind, key in (("plain", "scrape"), ("gzip", "gzip"), ("floor plain", "floor"),
                          ("floor gzip", "floor_gzip")):
            if lat[kind]:
                r[key + "_p50_ms"] = pct(lat[kind], 50) * 1000
                r[key + "_p99_ms"] = pct(lat[kind], 99) * 1000
        r["scrape_max_ms"] = max(lat["plain"]) * 1000

        spreads = schedule_spread(port, float(args.interval.rstrip("s")), args.jitter_window)
        r["sched_spread_p50_ms"] = pct(spreads, 50) * 1000
        r["sched_spread_p99_ms"] = pct(spreads, 99) * 1000
        r["sched_spread_max_ms"] = (max(spreads) if spreads else float("nan")) * 1000
        r["sched_deps_seen"] = len(spreads)

        a = time.monotonic()
        st, body = get(port, "/-/reload", method="POST", timeout=60)
        r["reload_s"] = time.monotonic() - a
        r["reload_status"] = st

        st, body = get(port, "/health")
        h = json.loads(body)
        states = {}
        for d in h["dependencies"].values():
            states[d["state"]] = states.get(d["state"], 0) + 1
        r["states"] = states

        a = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        r["shutdown_s"] = time.monotonic() - a
        r["exit"] = rc
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        logf.close()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(L.SRC, "build", "resilience_exporter"))
    ap.add_argument("--deps", default="1,1000,10000")
    ap.add_argument("--interval", default="10s")
    ap.add_argument("--timeout", default="2s")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--settle", type=float, default=25, help="seconds after launch before memory")
    ap.add_argument("--cpu-window", type=float, default=30)
    ap.add_argument("--scrapes", type=int, default=100)
    ap.add_argument("--jitter-window", type=float, default=42)
    ap.add_argument("--floor", help="tests/bench/mhd_floor binary: scrape a static copy too")
    ap.add_argument("--extra", nargs="*", default=[])
    ap.add_argument("--out", help="append the JSON lines here")
    args = ap.parse_args()
    steps = [int(x) for x in args.deps.split(",")]
    raise_nofile(max(steps) * 2 + 1024)
    work = tempfile.mkdtemp(prefix="engine-scale-")
    redis_port = L.free_port()
    rlog = open(os.path.join(work, "redis.log"), "wb")
    rd = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port),
                           "--save", "", "--appendonly", "no", "--maxclients", "20000",
                           "--dir", work], stdout=rlog, stderr=subprocess.STDOUT,
                          start_new_session=True)
    note_pid(rd.pid)
    results = []
    try:
        L.wait_listen(redis_port, timeout=20)
        for n in steps:
            log("step: %d dependencies" % n)
            r = step(args, n, redis_port, work)
            print(json.dumps(r), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
            results.append(r)
    finally:
        os.kill(rd.pid, signal.SIGTERM)
        rd.wait()
        rlog.close()
        shutil.rmtree(work, ignore_errors=True)
    base = next((r for r in results if r["deps"] == 1), None)
    for r in results:
        if base and r["deps"] > 1:
            r["private_kib_per_dep"] = (r["private_kib"] - base["private_kib"]) / (r["deps"] - 1)
            r["rss_kib_per_dep"] = (r["rss_kib"] - base["rss_kib"]) / (r["deps"] - 1)
    if args.out:  # the per-dependency slopes, which need every step
        with open(args.out, "a") as f:
            f.write(json.dumps({"summary": results}) + "\n")
    keys = ["deps", "rss_kib", "private_kib", "private_kib_per_dep", "threads", "fds",
            "cpu_us_per_probe", "render_cpu_ms_per_s", "probes_per_s", "listen_s", "ready_s",
            "reload_s", "metrics_bytes", "scrape_p50_ms", "scrape_p99_ms", "scrape_max_ms",
            "floor_p50_ms", "floor_p99_ms", "gzip_bytes", "gzip_p50_ms", "gzip_p99_ms",
            "floor_gzip_p50_ms", "floor_gzip_p99_ms",
            "sched_spread_p99_ms", "sched_spread_max_ms", "shutdown_s", "exit", "states"]
    for k in keys:
        row = [k.ljust(22)]
        for r in results:
            v = r.get(k, "")
            row.append(("%.3f" % v if isinstance(v, float) else str(v)).rjust(14))
        print(" ".join(row))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    main()
