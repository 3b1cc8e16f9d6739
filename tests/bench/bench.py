#!/usr/bin/env python3
"""Benchmark resilience_exporter beside its peers and two floors. Started by run.sh.

Starts a real PostgreSQL 15, Redis, an S3 stand-in (@20minutes/s3rver) and an OpenAI
stand-in (mock-llm) on loopback, then seven subjects against them:

  resilience_exporter   four dependencies (the shipped staging config), 10 s interval
  postgres_exporter     Debian's prometheus-postgres-exporter
  redis_exporter        Debian's prometheus-redis-exporter
  blackbox_exporter     /probe with an http_2xx module against the S3 endpoint
                        (and tcp_connect on Redis for the freeze step)
  collectd              postgresql + redis + write_prometheus (C, libmicrohttpd)
  nginx (floor)         one process serving a static copy of the exporter's /metrics body
  libmicrohttpd (floor) tests/bench/mhd_floor.c serving the same copy from memory
  resilience_exporter gzip   the exporter again, asked for gzip as Prometheus asks

and measures each with the subjects interleaved round by round (A B C ... A B C ...), so
that ratios taken within a round survive a noisy machine. Prints the tables and writes
them to docs/benchmarks.md.

Environment: XP_BENCH_BINARY (exporter), XP_BENCH_MHD_FLOOR (built floor), XP_BENCH_ROUNDS
(5), XP_BENCH_SECONDS (5, per wrk run), XP_BENCH_SOAK_CAP (60, seconds per subject for the
100,000-scrape step), XP_BENCH_IDLE (60), XP_BENCH_FREEZE (35), XP_BENCH_OUT (markdown file),
XP_BENCH_KEEP=1 keeps the work directory.
Only the standard library is used.
"""
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as L
from benchlib import (BUCKET, HERE, PG_PASSWORD, REDIS_PASSWORD, SCRAPE_TIMEOUT, SRC, Proc,
                      backend_pids, cpu_seconds, fmt_v, free_port, get, idle_seconds, log,
                      memory, parse, postmaster_pid, start_backends, stop_postgres, thread_ms,
                      tree, value, wait_listen)

BINARY = os.environ.get("XP_BENCH_BINARY", os.path.join(SRC, "build-bench", "resilience_exporter"))
MHD_FLOOR = os.environ.get("XP_BENCH_MHD_FLOOR", os.path.join(SRC, "build-bench", "mhd_floor"))
QUICK = os.environ.get("XP_BENCH_QUICK") == "1"


def knob(name, full, quick):
    return os.environ.get(name, quick if QUICK else full)


ROUNDS = int(knob("XP_BENCH_ROUNDS", "5", "2"))
SECONDS = int(knob("XP_BENCH_SECONDS", "5", "2"))
SOAK_TARGET = 100000
SOAK_CAP = int(knob("XP_BENCH_SOAK_CAP", "60", "10"))
IDLE = int(knob("XP_BENCH_IDLE", "60", "10"))
FREEZE = int(knob("XP_BENCH_FREEZE", "35", "12"))
TLS_ROUNDS = int(knob("XP_BENCH_TLS_ROUNDS", "3", "1"))
TLS_SECONDS = int(knob("XP_BENCH_TLS_SECONDS", "4", "2"))
# Scale steps (dependencies; 1 is the baseline the per-dependency slopes are taken from) and
# engine_scale.py's windows: settle, CPU window, scrapes, schedule window (seconds).
SCALE_DEPS = knob("XP_BENCH_SCALE", "1,10,100,1000,10000", "1,10,100,1000")
# Settle past 20 s: the workers started for the first round idle out after 10 s.
SCALE_ARGS = knob("XP_BENCH_SCALE_ARGS", "--settle 25 --cpu-window 15 --scrapes 60 --jitter-window 30",
                  "--settle 22 --cpu-window 8 --scrapes 20 --jitter-window 22").split()
OUT_MD = os.environ.get("XP_BENCH_OUT", os.path.join(SRC, "docs", "benchmarks.md"))
LUA = os.path.join(HERE, "report.lua")


# ---------------------------------------------------------------- subjects

class Subject:
    def __init__(self, name, kind, proc, url, freeze_url=None, describe=None, pids=None,
                 headers=()):
        self.name, self.kind, self.proc, self.url = name, kind, proc, url
        self.headers = list(headers)
        self.freeze_url = freeze_url or url
        self.describe = describe  # samples -> text of what it reports during the freeze
        self._pids = pids
        self.served = 0
        self.r = {"rps": [], "p50": [], "p99": [], "cpu1k": [], "bcpu1k": [], "errors": 0}

    def pids(self):
        return self._pids() if self._pids else tree(self.proc.pid)


def exporter_config(b, port):
    with open(os.path.join(SRC, "etc", "resilience_exporter.ini")) as f:
        text = f.read()
    # s3rver has no LocalStack health endpoint: probe the bucket only.
    text = re.sub(r"(?m)^localstack_health\s*=.*$", "localstack_health = false", text)
    path = os.path.join(L.WORK, "resilience_exporter.ini")
    with open(path, "w") as f:
        f.write(text)
    env = {
        "STAGING_DB_HOST": "127.0.0.1", "STAGING_DB_PORT": str(b["pg_port"]),
        "STAGING_DB_NAME": "app", "STAGING_DB_USER": "app", "STAGING_DB_PASSWORD": PG_PASSWORD,
        "OPENAI_BASE_URL": "http://127.0.0.1:%d/v1" % b["llm_port"], "OPENAI_API_KEY": "sk-bench",
        "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(b["redis_port"]), "REDIS_PASSWORD": REDIS_PASSWORD,
        "S3_ENDPOINT": "http://127.0.0.1:%d" % b["s3_port"], "S3_BUCKET": BUCKET,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "S3RVER",
        "AWS_SECRET_ACCESS_KEY": "S3RVER",
    }
    return path, env


def describe_exporter(s):
    parts = []
    for dep in ("database", "redis"):
        state = "?"
        for st in ("closed", "open", "half_open"):
            if value(s, "circuit_breaker_state", dependency=dep, state=st) == 1:
                state = st
        parts.append("%s: dependency_probe_success=%s breaker=%s score=%s" % (
            dep, fmt_v(value(s, "dependency_probe_success", dependency=dep)), state,
            fmt_v(value(s, "health_score", dependency=dep))))
    parts.append("level=%s" % fmt_v(value(s, "degradation_level")))
    failing = any(value(s, "dependency_probe_success", dependency=d) == 0 for d in ("database", "redis"))
    return "; ".join(parts), failing


def describe_collectd(s):
    now_ms = time.time() * 1000
    out, failing = [], False
    for plugin in ("postgresql", "redis"):
        ts = [t for n, _, _, t in s if n.startswith("collectd_" + plugin) and t]
        if ts:
            out.append("%d %s series, newest %.0fs old" % (len(ts), plugin, (now_ms - max(ts)) / 1000))
        else:
            out.append("no %s series" % plugin)
            failing = True  # write_prometheus drops the series of a plugin whose reads stopped
    return "; ".join(out), failing


def start_subjects(b):
    subs = []
    # resilience_exporter
    port = free_port()
    cfg, env = exporter_config(b, port)
    p = Proc("resilience_exporter", [BINARY, "--config.file=" + cfg,
                                     "--web.listen-address=127.0.0.1:%d" % port], env=env)
    wait_listen(port, p, what="resilience_exporter")
    base = "http://127.0.0.1:%d" % port
    subs.append(Subject("resilience_exporter", "self", p, base + "/metrics", describe=describe_exporter))
    # Prometheus asks for gzip; the exporter then compresses every answer. The same process,
    # measured again with that header (memory, idle and freeze are the row above).
    subs.append(Subject("resilience_exporter gzip", "variant", p, base + "/metrics",
                        headers=["Accept-Encoding: gzip"]))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and get(base + "/-/ready", 2)[0] != 200:
        time.sleep(0.2)
    time.sleep(0.5)
    status, body, _ = get(base + "/metrics")
    if status != 200:
        raise RuntimeError("resilience_exporter /metrics answered %s" % status)
    text = body.decode()
    for dep in ("database", "redis", "s3", "openai"):
        if value(parse(text), "dependency_probe_success", dependency=dep) != 1:
            log("WARNING: resilience_exporter reports dependency_probe_success{dependency=%s} = %s" %
                (dep, fmt_v(value(parse(text), "dependency_probe_success", dependency=dep))))
    body_path = os.path.join(L.WORK, "www", "metrics")
    os.makedirs(os.path.dirname(body_path))
    with open(body_path, "wb") as f:
        f.write(body)
    log("exporter body: %d bytes, %d samples" % (len(body), len(parse(text))))

    # postgres_exporter
    port = free_port()
    p = Proc("postgres_exporter", ["prometheus-postgres-exporter",
                                   "--web.listen-address=127.0.0.1:%d" % port],
             env={"DATA_SOURCE_NAME": "postgresql://app:%s@127.0.0.1:%d/app?sslmode=disable" %
                  (PG_PASSWORD, b["pg_port"])})
    subs.append(Subject("postgres_exporter", "peer", p, "http://127.0.0.1:%d/metrics" % port,
                        describe=lambda s: ("pg_up=%s" % fmt_v(value(s, "pg_up")), value(s, "pg_up") == 0)))
    wait_listen(port, p, what="postgres_exporter")

    # redis_exporter
    port = free_port()
    p = Proc("redis_exporter", ["prometheus-redis-exporter",
                                "-redis.addr=redis://127.0.0.1:%d" % b["redis_port"],
                                "-redis.password=" + REDIS_PASSWORD,
                                "-web.listen-address=127.0.0.1:%d" % port])
    subs.append(Subject("redis_exporter", "peer", p, "http://127.0.0.1:%d/metrics" % port,
                        describe=lambda s: ("redis_up=%s" % fmt_v(value(s, "redis_up")),
                                           value(s, "redis_up") == 0)))
    wait_listen(port, p, what="redis_exporter")

    # blackbox_exporter
    port = free_port()
    bb = os.path.join(L.WORK, "blackbox.yml")
    with open(bb, "w") as f:
        f.write("modules:\n"
                "  http_2xx:\n    prober: http\n    timeout: 5s\n"
                "    http:\n      preferred_ip_protocol: ip4\n"
                "  tcp_connect:\n    prober: tcp\n    timeout: 5s\n"
                "    tcp:\n      preferred_ip_protocol: ip4\n")
    p = Proc("blackbox_exporter", ["prometheus-blackbox-exporter", "--config.file=" + bb,
                                   "--web.listen-address=127.0.0.1:%d" % port])
    base = "http://127.0.0.1:%d" % port
    subs.append(Subject(
        "blackbox_exporter", "peer", p,
        base + "/probe?module=http_2xx&target=http://127.0.0.1:%d/%s" % (b["s3_port"], BUCKET),
        freeze_url=base + "/probe?module=tcp_connect&target=127.0.0.1:%d" % b["redis_port"],
        describe=lambda s: ("tcp_connect redis probe_success=%s" % fmt_v(value(s, "probe_success")),
                            value(s, "probe_success") == 0)))
    wait_listen(port, p, what="blackbox_exporter")

    # collectd
    port = free_port()
    cd = os.path.join(L.WORK, "collectd")
    os.makedirs(cd)
    conf = os.path.join(cd, "collectd.conf")
    with open(conf, "w") as f:
        f.write('''Hostname "bench"
FQDNLookup false
BaseDir "%(cd)s"
PIDFile "%(cd)s/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 10
ReadThreads 5
LoadPlugin postgresql
LoadPlugin redis
LoadPlugin write_prometheus
<Plugin postgresql>
  <Database "app">
    Host "127.0.0.1"
    Port "%(pg)d"
    User "app"
    Password "%(pgpw)s"
    SSLMode "disable"
  </Database>
</Plugin>
<Plugin redis>
  <Node "bench">
    Host "127.0.0.1"
    Port "%(redis)d"
    Password "%(redispw)s"
    Timeout 2000
  </Node>
</Plugin>
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "%(port)d"
</Plugin>
''' % {"cd": cd, "pg": b["pg_port"], "pgpw": PG_PASSWORD, "redis": b["redis_port"],
           "redispw": REDIS_PASSWORD, "port": port})
    p = Proc("collectd", ["collectd", "-f", "-C", conf])
    subs.append(Subject("collectd", "peer", p, "http://127.0.0.1:%d/metrics" % port,
                        describe=describe_collectd))
    wait_listen(port, p, what="collectd")

    # nginx floor: one process (no master), the body as a static file
    port = free_port()
    nd = os.path.join(L.WORK, "nginx")
    os.makedirs(nd)
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write('''daemon off;
master_process off;
worker_processes 1;
pid %(nd)s/nginx.pid;
error_log %(nd)s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 65s;
  types { }
  default_type "text/plain; version=0.0.4; charset=utf-8";
  server {
    listen 127.0.0.1:%(port)d;
    root %(www)s;
  }
}
''' % {"nd": nd, "port": port, "www": os.path.dirname(body_path)})
    p = Proc("nginx", ["nginx", "-p", nd, "-c", os.path.join(nd, "nginx.conf"), "-e",
                       os.path.join(nd, "error.log")])
    subs.append(Subject("nginx (floor)", "floor", p, "http://127.0.0.1:%d/metrics" % port))
    wait_listen(port, p, what="nginx")

    # libmicrohttpd floor
    port = free_port()
    p = Proc("mhd_floor", [MHD_FLOOR, str(port), body_path])
    subs.append(Subject("libmicrohttpd (floor)", "floor", p, "http://127.0.0.1:%d/metrics" % port))
    wait_listen(port, p, what="mhd_floor")
    return subs


# ---------------------------------------------------------------- measurements

def wrk(url, seconds, headers=()):
    hs = [x for h in headers for x in ("-H", h)]
    r = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "--timeout", "%ds" % SCRAPE_TIMEOUT,
                        "-s", LUA] + hs + [url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"XPBENCH (.*)", r.stdout)
    if not m:
        raise RuntimeError("wrk gave no result for %s:\n%s" % (url, r.stdout))
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def single_latency(s, n=20):
    times, size = [], 0
    for _ in range(n):
        hs = [x for h in s.headers for x in ("-H", h)]
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", str(SCRAPE_TIMEOUT), "-w",
                            "%{http_code} %{time_total} %{size_download}"] + hs + [s.url],
                           stdout=subprocess.PIPE, text=True)
        code, t, size = r.stdout.split()
        s.served += 1
        if code != "200":
            s.r["errors"] += 1
        times.append(float(t))
    s.r["single"] = statistics.median(times)
    s.r["single_max"] = max(times)
    s.r["bytes"] = int(size)


def throughput_round(s, backends):
    pids = s.pids()
    bp = backend_pids(backends)
    c0, b0 = cpu_seconds(pids), cpu_seconds(bp)
    w = wrk(s.url, SECONDS, s.headers)
    c1, b1 = cpu_seconds(pids), cpu_seconds(bp)
    n = max(w["requests"], 1)
    s.served += w["requests"]
    s.r["errors"] += w["errors"]
    s.r["rps"].append(w["requests"] / (w["duration_us"] / 1e6))
    s.r["p50"].append(w["p50_us"] / 1000)
    s.r["p99"].append(w["p99_us"] / 1000)
    s.r["cpu1k"].append((c1 - c0) * 1000 / n)
    s.r["bcpu1k"].append((b1 - b0) * 1000 / n)
    return w


def soak(s, also_served=0):
    """also_served: scrapes the same process answered under another row (the gzip variant)."""
    if s.kind == "variant":
        return
    s.served += also_served
    remaining = SOAK_TARGET - s.served
    if remaining > 0:
        rps = statistics.median(s.r["rps"]) or 1
        secs = int(min(SOAK_CAP, max(1, remaining / rps * 1.1 + 1)))
        w = wrk(s.url, secs, s.headers)
        s.served += w["requests"]
        s.r["errors"] += w["errors"]
    s.r["mem_soak"] = memory(s.pids())
    s.r["soak_served"] = s.served


def freeze_step(subs, backends):
    frozen = tree(postmaster_pid()) + [backends["redis"].pid]
    subs = [s for s in subs if s.kind in ("self", "peer")]  # the floors depend on nothing
    results = {s.name: [] for s in subs}

    def scraper(s, t0):
        k = 0
        while True:
            start = t0 + 5 * k
            if start - t0 >= FREEZE:
                return
            delay = start - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -5:  # the previous scrape hung past this slot: skip the slot
                k += 1
                continue
            status, body, secs = get(s.freeze_url, SCRAPE_TIMEOUT)
            desc, failing = "", False
            if status == 200 and s.describe:
                desc, failing = s.describe(parse(body.decode("utf-8", "replace")))
            s.served += 1
            results[s.name].append((time.monotonic() - t0, status, secs, desc, failing))
            k += 1

    log("freezing %d PostgreSQL processes and Redis with SIGSTOP for %ds" % (len(frozen) - 1, FREEZE))
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        threads = [threading.Thread(target=scraper, args=(s, t0), daemon=True) for s in subs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(FREEZE + SCRAPE_TIMEOUT + 10)
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    log("thawed")
    return results


# ---------------------------------------------------------------- TLS

def make_cert(d):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 (what certbot issues by default)."""
    cert, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    L.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1"])
    return cert, key


def start_tls_subjects(b, subs):
    """The exporter (same config, its own process) with tls_server_config, nginx and the
    libmicrohttpd floor with the same certificate; the plain subjects of the main table are
    measured again beside them, so each TLS figure has its plain twin from the same rounds."""
    d = os.path.join(L.WORK, "tls")
    os.makedirs(d)
    cert, key = make_cert(d)
    web = os.path.join(d, "web.yml")
    with open(web, "w") as f:
        f.write('tls_server_config:\n  cert_file: "%s"\n  key_file: "%s"\n' % (cert, key))
    body_path = os.path.join(L.WORK, "www", "metrics")
    out = []
    port = free_port()
    cfg, env = exporter_config(b, port)
    p = Proc("resilience_exporter-tls", [BINARY, "--config.file=" + cfg, "--web.config.file=" + web,
                                         "--web.listen-address=127.0.0.1:%d" % port], env=env)
    wait_listen(port, p, what="resilience_exporter (TLS)")
    out.append(Subject("resilience_exporter TLS", "self", p, "https://127.0.0.1:%d/metrics" % port))
    port = free_port()
    nd = os.path.join(d, "nginx")
    os.makedirs(nd)
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write('''daemon off;
master_process off;
worker_processes 1;
pid %(nd)s/nginx.pid;
error_log %(nd)s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 65s;
  types { }
  default_type "text/plain; version=0.0.4; charset=utf-8";
  server {
    listen 127.0.0.1:%(port)d ssl;
    ssl_certificate %(cert)s;
    ssl_certificate_key %(key)s;
    root %(www)s;
  }
}
''' % {"nd": nd, "port": port, "www": os.path.dirname(body_path), "cert": cert, "key": key})
    p = Proc("nginx-tls", ["nginx", "-p", nd, "-c", os.path.join(nd, "nginx.conf"), "-e",
                           os.path.join(nd, "error.log")])
    wait_listen(port, p, what="nginx (TLS)")
    out.append(Subject("nginx TLS (floor)", "floor", p, "https://127.0.0.1:%d/metrics" % port))
    port = free_port()
    p = Proc("mhd_floor-tls", [MHD_FLOOR, str(port), body_path, cert, key])
    wait_listen(port, p, what="mhd_floor (TLS)")
    out.append(Subject("libmicrohttpd TLS (floor)", "floor", p, "https://127.0.0.1:%d/metrics" % port))
    plain = {s.name: s for s in subs}
    pairs = [(plain["resilience_exporter"], out[0]), (plain["nginx (floor)"], out[1]),
             (plain["libmicrohttpd (floor)"], out[2])]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                            out[0].url.replace("/metrics", "/-/ready")],
                           stdout=subprocess.PIPE, text=True)
        if r.stdout == "200":
            break
        time.sleep(0.2)
    return pairs


def tls_step(pairs):
    """Interleaved rounds of wrk over the six subjects (three plain, three TLS), kept alive and
    with "Connection: close" (a TCP and, for TLS, a full handshake per request; wrk resumes no
    TLS session). Returns {(subject name, mode): {rps, p50, p99, cpu1k}} as medians."""
    runs = {}
    order = [s for pair in pairs for s in pair]
    modes = [("keep-alive", []), ("new connection", ["Connection: close"])]
    for r in range(TLS_ROUNDS):
        rot = order[r % len(order):] + order[:r % len(order)]
        for mode, hs in modes:
            for s in rot:
                pids = s.pids()
                c0 = cpu_seconds(pids)
                w = wrk(s.url, TLS_SECONDS, s.headers + hs)
                c1 = cpu_seconds(pids)
                n = max(w["requests"], 1)
                x = runs.setdefault((s.name, mode), {"rps": [], "p50": [], "p99": [], "cpu1k": [],
                                                     "errors": 0})
                x["rps"].append(w["requests"] / (w["duration_us"] / 1e6))
                x["p50"].append(w["p50_us"] / 1000)
                x["p99"].append(w["p99_us"] / 1000)
                x["cpu1k"].append((c1 - c0) * 1000 / n)
                x["errors"] += w["errors"]
                log("  tls round %d %-26s %-15s %8.0f req/s p50 %.2f ms p99 %.2f ms" % (
                    r + 1, s.name, mode, x["rps"][-1], x["p50"][-1], x["p99"][-1]))
    return runs


# ---------------------------------------------------------------- scale in dependencies

def scale_step():
    """tests/bench/engine_scale.py over SCALE_DEPS (its own Redis, nothing else running)."""
    out = os.path.join(L.WORK, "scale.jsonl")
    p = Proc("engine_scale", [sys.executable, os.path.join(HERE, "engine_scale.py"), "--binary", BINARY,
                              "--deps", SCALE_DEPS, "--floor", MHD_FLOOR, "--out", out] + SCALE_ARGS,
             env={"XP_BENCH_PIDFILE": L.PIDFILE})
    rc = p.p.wait()
    p.logf.close()
    if rc != 0:
        raise RuntimeError("engine_scale.py failed (%s); log: %s" % (rc, p.log_path))
    with open(out) as f:
        for line in f:
            j = json.loads(line)
            if "summary" in j:
                return j["summary"]
    raise RuntimeError("engine_scale.py wrote no summary; log: %s" % p.log_path)


# ---------------------------------------------------------------- report

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def mib(b):
    return b / 1048576


def pkg_versions():
    pkgs = ["prometheus-postgres-exporter", "prometheus-redis-exporter",
            "prometheus-blackbox-exporter", "collectd-core", "nginx-light", "wrk",
            "libmicrohttpd12", "postgresql-15", "redis-server", "libpq5", "libhiredis0.14",
            "libcurl4", "gcc"]
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"] + pkgs,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = r.stdout.strip().splitlines()
    for mod in ("@20minutes/s3rver", "@dwmkerr/mock-llm"):
        try:
            with open(os.path.join(SRC, "node_modules", mod, "package.json")) as f:
                lines.append("%s %s (npm)" % (mod, json.load(f)["version"]))
        except OSError:
            pass
    node = subprocess.run(["node", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    lines.append("node " + node)
    return lines


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "mem_mib": mem,
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?")
            if hasattr(platform, "freedesktop_os_release") else "?"}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def table(headers, rows):
    w = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w[i]) for i, x in enumerate(r)) + " |"
    return "\n".join([line(headers), "|" + "|".join("-" * (x + 2) for x in w) + "|"] +
                     [line(r) for r in rows])


def ratio_rows(subs):
    me = subs[0]
    rows = []
    keys = [("rps", "throughput"), ("p50", "p50"), ("p99", "p99"), ("cpu1k", "CPU/1k")]
    for o in subs[1:]:
        row = [o.name]
        for k, _ in keys:
            # the ratio within each round (same load conditions), then the median of those
            rs = [a / b for a, b in zip(me.r[k], o.r[k]) if b]
            row.append("%.3g" % med(rs) if rs else "n/a")
        row.append("%.3g" % (me.r["single"] / o.r["single"]) if o.r.get("single") else "n/a")
        for k, i in (("mem_start", 0), ("mem_start", 1), ("mem_soak", 0), ("mem_soak", 1)):
            row.append("%.3g" % (me.r[k][i] / o.r[k][i]) if o.r[k][i] else "n/a")
        rows.append(row)
    return (["this exporter / ...", "throughput", "p50", "p99", "CPU/1k", "single",
             "RSS start", "private start", "RSS soak", "private soak"], rows)


def render_bench():
    """The render micro-benchmark's output, run before any server starts (a quiet moment)."""
    exe = os.environ.get("XP_BENCH_RENDER", os.path.join(SRC, "build-bench", "tests", "bench",
                                                         "bench_render"))
    if not os.access(exe, os.X_OK):
        return "(bench_render not built)"
    log("render micro-benchmark")
    r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, XP_RENDER_SECONDS="2"))
    return r.stdout.strip()


def tls_tables(pairs, runs):
    h = ["subject", "connections", "req/s", "p50 ms", "p99 ms", "CPU s/1k", "TLS adds CPU us/scrape",
         "TLS adds p50 ms"]
    rows = []
    for plain, tls in pairs:
        for mode in ("keep-alive", "new connection"):
            for s in (plain, tls):
                x = runs[(s.name, mode)]
                row = [s.name, mode, "%.0f" % med(x["rps"]), "%.2f" % med(x["p50"]),
                       "%.2f" % med(x["p99"]), "%.3f" % med(x["cpu1k"])]
                if s is tls:
                    y = runs[(plain.name, mode)]
                    row += ["%.0f" % ((med(x["cpu1k"]) - med(y["cpu1k"])) * 1000),
                            "%.2f" % (med(x["p50"]) - med(y["p50"]))]
                else:
                    row += ["", ""]
                rows.append(row)
    me = pairs[0][1].name
    rh = ["resilience_exporter TLS / ...", "connections", "throughput", "p50", "p99", "CPU/1k"]
    rrows = []
    for _, other in pairs[1:]:
        for mode in ("keep-alive", "new connection"):
            a, b = runs[(me, mode)], runs[(other.name, mode)]
            rrows.append([other.name, mode] + ["%.3g" % (med(a[k]) / med(b[k])) if med(b[k]) else "n/a"
                                               for k in ("rps", "p50", "p99", "cpu1k")])
    return table(h, rows), table(rh, rrows)


def scale_tables(scale, subs):
    """The scale steps, and their ratios to the targets of issue 13 and to the floor."""
    h = ["dependencies", "RSS MiB", "private MiB", "private KiB/dep", "threads", "CPU us/probe",
         "probes/s", "start s", "ready s", "reload s", "shutdown s", "/metrics MB (gzip)",
         "scrape p50 / p99 ms", "floor p50 / p99 ms", "gzip scrape p50 / p99 ms",
         "gzip floor p50 / p99 ms", "schedule p99 ms", "schedule max ms", "render CPU ms/s"]
    nan = float("nan")
    rows = []
    for r in scale:
        rows.append([r["deps"], "%.1f" % (r["rss_kib"] / 1024), "%.1f" % (r["private_kib"] / 1024),
                     ("%.1f" % r["private_kib_per_dep"] if r["deps"] >= 100 else "(too few)")
                     if "private_kib_per_dep" in r else "(baseline)",
                     r["threads"],
                     "%.1f" % r["cpu_us_per_probe"] if r["probes_in_window"] >= 200 else "(too few)",
                     "%.0f" % r["probes_per_s"],
                     "%.2f" % r["listen_s"], "%.2f" % r["ready_s"],
                     "%.3f%s" % (r["reload_s"], "" if r["reload_status"] == 200 else " (%s)" % r["reload_status"]),
                     "%.2f%s" % (r["shutdown_s"], "" if r["exit"] == 0 else " (exit %s)" % r["exit"]),
                     "%.2f (%.2f)" % (r["metrics_bytes"] / 1e6, r.get("gzip_bytes", 0) / 1e6),
                     "%.1f / %.1f" % (r["scrape_p50_ms"], r["scrape_p99_ms"]),
                     "%.1f / %.1f" % (r.get("floor_p50_ms", nan), r.get("floor_p99_ms", nan)),
                     "%.1f / %.1f" % (r.get("gzip_p50_ms", nan), r.get("gzip_p99_ms", nan)),
                     "%.1f / %.1f" % (r.get("floor_gzip_p50_ms", nan), r.get("floor_gzip_p99_ms", nan)),
                     "%.0f" % r["sched_spread_p99_ms"], "%.0f" % r["sched_spread_max_ms"],
                     "%.1f" % r.get("render_cpu_ms_per_s", 0)])
    peers = {x.name: x for x in subs}
    rx = peers.get("redis_exporter")
    rx_us = med(rx.r["cpu1k"]) * 1000 if rx else float("nan")  # us of CPU per redis_exporter scrape
    rh = ["dependencies", "private KiB/dep / 16", "CPU/probe / 50 us", "CPU/probe / redis_exporter CPU/scrape",
          "scrape p99 / 50 ms", "scrape p99 / floor p99", "gzip p99 / 50 ms", "gzip p99 / gzip floor p99",
          "schedule p99 / 100 ms", "shutdown / 2 s"]
    rrows = []
    for r in scale:
        if r["deps"] < 100:  # too few probes and too little memory for a slope
            continue
        rrows.append([r["deps"],
                      "%.2f" % (r["private_kib_per_dep"] / 16) if "private_kib_per_dep" in r else "n/a",
                      "%.2f" % (r["cpu_us_per_probe"] / 50),
                      "%.3f" % (r["cpu_us_per_probe"] / rx_us) if rx_us == rx_us and rx_us else "n/a",
                      "%.2f" % (r["scrape_p99_ms"] / 50),
                      "%.2f" % (r["scrape_p99_ms"] / r["floor_p99_ms"]) if r.get("floor_p99_ms") else "n/a",
                      "%.2f" % (r["gzip_p99_ms"] / 50) if r.get("gzip_p99_ms") else "n/a",
                      "%.2f" % (r["gzip_p99_ms"] / r["floor_gzip_p99_ms"]) if r.get("floor_gzip_p99_ms") else "n/a",
                      "%.2f" % (r["sched_spread_p99_ms"] / 100), "%.2f" % (r["shutdown_s"] / 2)])
    return table(h, rows), table(rh, rrows), rx_us


def targets_table(subs, scale, tls_runs, pairs):
    """Each target of issue 13 against this run: met or not."""
    me = subs[0]
    by = {s.name: s for s in subs}

    def ratio(other, k):
        rs = [a / b for a, b in zip(me.r[k], by[other].r[k]) if b]
        return med(rs) if rs else float("nan")

    rows = []

    def add(target, value, ok):
        rows.append([target, value, "met" if ok else "NOT met"])

    x = ratio("libmicrohttpd (floor)", "rps")
    add("throughput >= 0.9x libmicrohttpd floor (keep-alive)", "%.3gx" % x, x >= 0.9)
    x = ratio("nginx (floor)", "rps")
    add("throughput >= 1.0x nginx, 1 worker", "%.3gx" % x, x >= 1.0)
    x = ratio("collectd", "rps")
    add("throughput >= 2x collectd", "%.3gx" % x, x >= 2)
    x = med(me.r["p99"])
    add("p99 < 1 ms at 8 connections", "%.2f ms" % x, x < 1)
    big = max(scale, key=lambda r: r["deps"]) if scale else None
    if big:
        n = big["deps"]
        v = big.get("private_kib_per_dep", float("nan"))
        add("private memory <= 16 KiB per dependency (at %d)" % n, "%.1f KiB" % v, v <= 16)
        v = big["cpu_us_per_probe"]
        add("exporter CPU <= 50 us per healthy probe (at %d)" % n, "%.1f us" % v, v <= 50)
        v = big.get("gzip_p99_ms", float("nan"))
        add("p99 scrape < 50 ms (at %d), gzip as Prometheus asks" % n,
            "%.1f ms (%.1f MB; floor, same bytes: %.1f ms)" % (
                v, big.get("gzip_bytes", 0) / 1e6, big.get("floor_gzip_p99_ms", float("nan"))), v < 50)
        v = big["scrape_p99_ms"]
        add("p99 scrape < 50 ms (at %d), uncompressed" % n, "%.1f ms (%.1f MB; floor, same bytes: %.1f ms)" % (
            v, big["metrics_bytes"] / 1e6, big.get("floor_p99_ms", float("nan"))), v < 50)
        v = big["sched_spread_p99_ms"]
        add("probes start within 100 ms of schedule (at %d; p99 / max)" % n,
            "%.0f / %.0f ms" % (v, big["sched_spread_max_ms"]), big["sched_spread_max_ms"] <= 100)
        v = max(r["shutdown_s"] for r in scale)
        add("shutdown within 2 s at every step", "max %.2f s" % v,
            v <= 2 and all(r["exit"] == 0 for r in scale))
        if n < 10000:
            add("(10,000 dependencies)", "not measured in this run (--quick)", False)
    if tls_runs:
        a = tls_runs[(pairs[0][1].name, "keep-alive")]
        b = tls_runs[(pairs[0][0].name, "keep-alive")]
        c = tls_runs[(pairs[0][1].name, "new connection")]
        d = tls_runs[(pairs[0][0].name, "new connection")]
        rows.append(["TLS cost per scrape (report only)",
                     "kept alive: +%.0f us CPU, +%.2f ms p50; new connection: +%.0f us CPU, +%.2f ms p50" % (
                         (med(a["cpu1k"]) - med(b["cpu1k"])) * 1000, med(a["p50"]) - med(b["p50"]),
                         (med(c["cpu1k"]) - med(d["cpu1k"])) * 1000, med(c["p50"]) - med(d["p50"])),
                     "measured"])
    return table(["target (issue 13)", "this run", "verdict"], rows)


def report(subs, freeze, idle, meta):
    main_h = ["subject", "req/s", "p50 ms", "p99 ms", "single ms", "CPU s/1k", "backend CPU s/1k",
              "body bytes", "RSS start MiB", "private start MiB", "scrapes", "RSS after MiB",
              "private after MiB", "errors"]
    main_rows = []
    for s in subs:
        main_rows.append([
            s.name, "%.0f" % med(s.r["rps"]), "%.2f" % med(s.r["p50"]), "%.2f" % med(s.r["p99"]),
            "%.2f" % (s.r["single"] * 1000), "%.3f" % med(s.r["cpu1k"]), "%.3f" % med(s.r["bcpu1k"]),
            s.r["bytes"], "%.1f" % mib(s.r["mem_start"][0]), "%.1f" % mib(s.r["mem_start"][1]),
            s.r["soak_served"], "%.1f" % mib(s.r["mem_soak"][0]), "%.1f" % mib(s.r["mem_soak"][1]),
            s.r["errors"]])
    rh, rrows = ratio_rows(subs)

    fh = ["subject", "scrapes", "answered", "timeouts/errors", "median s", "max s",
          "failure first reported", "reports at start of freeze", "reports at end of freeze"]
    frows = []
    for s in subs:
        if s.kind in ("floor", "variant"):
            continue
        res = freeze[s.name]
        ok = [r for r in res if r[1] == 200]
        bad = [r for r in res if r[1] != 200]
        # r[0] is when the answer came, r[2] how long it took: it was asked r[0] - r[2] in.
        seen = [r[0] for r in ok if r[4]]
        frows.append([s.name, len(res), len(ok), len(bad),
                      "%.3f" % med([r[2] for r in res]), "%.3f" % max([r[2] for r in res] or [0]),
                      "after %.0f s" % min(seen) if seen else "never",
                      ok[0][3] if ok else "-", ok[-1][3] if ok else "-"])

    ih = ["subject", "CPU ms over %ds idle" % IDLE, "% of one core"]
    irows = [[s.name, "%.1f" % (idle[s.name] * 1000), "%.3f" % (idle[s.name] / IDLE * 100)]
             for s in subs if s.name in idle]

    tables = ("### Throughput, latency, CPU, memory\n\n" + table(main_h, main_rows) +
              "\n\n### Ratios (resilience_exporter / subject; median of per-round ratios)\n\n" +
              table(rh, rrows) +
              "\n\n### PostgreSQL and Redis frozen (SIGSTOP) for %ds, one scrape per subject every 5 s, "
              "timeout %ds\n\n" % (FREEZE, SCRAPE_TIMEOUT) + table(fh, frows) +
              "\n\n### Idle CPU (no scrapes; resilience_exporter probes 4 dependencies every 10 s)\n\n" +
              table(ih, irows) +
              "\n\n### Rendering /metrics alone (tests/bench/bench_render.c, no HTTP)\n\n" +
              "\n".join("    " + l for l in meta["render"].splitlines()) + "\n")
    if meta.get("tls"):
        t, r = tls_tables(meta["tls_pairs"], meta["tls"])
        tables += ("\n### TLS: the exporter's own (GnuTLS via libmicrohttpd) beside nginx and the "
                   "libmicrohttpd floor, same ECDSA P-256 certificate; `wrk -t2 -c8`, %d x %d s "
                   "interleaved, kept alive and with `Connection: close` (a full handshake per "
                   "request)\n\n" % (TLS_ROUNDS, TLS_SECONDS) + t +
                   "\n\n### TLS ratios (resilience_exporter TLS / subject, medians)\n\n" + r + "\n")
    if meta.get("scale"):
        t, r, rx_us = scale_tables(meta["scale"], subs)
        tables += ("\n### Scale in dependencies (tests/bench/engine_scale.py: N redis dependencies "
                   "on one real Redis, 10 s interval, nothing else running)\n\n" + t +
                   "\n\n### Scale ratios (to the targets of issue 13; to redis_exporter's CPU per "
                   "scrape in this run, %.0f us, which runs INFO and more; to the libmicrohttpd floor "
                   "serving a static copy of the same body to the same client)\n\n" % rx_us + r + "\n")
    tables += ("\n### Targets (issue 13): this run\n\n" +
               targets_table(subs, meta.get("scale") or [], meta.get("tls"), meta.get("tls_pairs")) + "\n")
    print("\n" + tables)

    m = meta["machine"]
    conditions = "\n".join([
        "- Date: %s; run took %.1f min" % (meta["date"], meta["minutes"]),
        "- Machine: %s, %d CPUs (`nproc`), %s, %d MiB RAM" % (m["os"], m["nproc"], m["cpu"], m["mem_mib"]),
        "- Kernel: %s" % m["kernel"],
        "- Load average at start / end: %s / %s" % (meta["load_start"], meta["load_end"]),
        "- Conditions: %s" % meta["conditions"],
    ] + (["- WARNING: the exporter build failed; an existing binary was measured"]
         if os.environ.get("XP_BENCH_STALE") else []) + [
        "- resilience_exporter: %s" % meta["build_info"],
        "- Mode: %s" % ("`--quick` (fewer and shorter rounds, scale steps %s)" % SCALE_DEPS if QUICK
                         else "full (scale steps %s)" % SCALE_DEPS),
        "- Rounds: %d x %d s of `wrk -t2 -c8` per subject, interleaved; single-scrape latency: "
        "median of 20 fresh `curl` connections" % (ROUNDS, SECONDS),
        "- Packages:",
    ] + ["  - %s" % p for p in meta["packages"]])

    with open(os.path.join(HERE, "benchmarks.md.in")) as f:
        doc = f.read()
    doc = doc.replace("@CONDITIONS@", conditions).replace("@TABLES@", tables)
    os.makedirs(os.path.dirname(OUT_MD), exist_ok=True)
    with open(OUT_MD, "w") as f:
        f.write(doc)
    log("wrote", OUT_MD)


# ---------------------------------------------------------------- main

def main():
    t_start = time.monotonic()
    L.WORK = tempfile.mkdtemp(prefix="xp-bench-")
    os.chmod(L.WORK, 0o755)
    L.PIDFILE = os.environ.get("XP_BENCH_PIDFILE", os.path.join(L.WORK, "pids"))
    log("work directory", L.WORK)
    ok = False  # the work directory (logs, configs) is kept when the run fails
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_start": loadavg(), "machine": machine(),
            "conditions": os.environ.get("XP_BENCH_CONDITIONS",
                                         "shared machine (other builds and tests may have been running)")}
    try:
        meta["render"] = render_bench()
        backends = start_backends()
        subs = start_subjects(backends)
        log("all subjects up; letting them settle")
        for s in subs:
            get(s.url)
            s.served += 1
        time.sleep(3)
        for s in subs:
            s.r["mem_start"] = memory(s.pids())
        body = get(subs[0].url)[1].decode()
        bi = [l for n, l, _, _ in parse(body) if n == "resilience_exporter_build_info"]
        meta["build_info"] = ("version %s, revision %s" % (bi[0].get("version"), bi[0].get("revision"))
                              if bi else "unknown")

        log("single-scrape latency")
        for s in subs:
            single_latency(s)

        log("throughput: %d rounds x %d subjects x %ds" % (ROUNDS, len(subs), SECONDS))
        for r in range(ROUNDS):
            order = subs[r % len(subs):] + subs[:r % len(subs)]
            for s in order:
                w = throughput_round(s, backends)
                log("  round %d %-22s %8.0f req/s p50 %.2f ms p99 %.2f ms" % (
                    r + 1, s.name, s.r["rps"][-1], w["p50_us"] / 1000, w["p99_us"] / 1000))

        log("memory after %d scrapes (at most %ds of wrk per subject)" % (SOAK_TARGET, SOAK_CAP))
        variants = [s for s in subs if s.kind == "variant"]
        for s in subs:
            soak(s, sum(v.served for v in variants) if s.kind == "self" else 0)
            if s.kind != "variant":
                log("  %-22s %d scrapes served" % (s.name, s.served))
        for s in variants:
            s.r["mem_soak"], s.r["soak_served"] = subs[0].r["mem_soak"], subs[0].r["soak_served"]

        log("idle CPU over %ds" % IDLE)
        real = [s for s in subs if s.kind != "variant"]
        t0 = {s.name: (thread_ms(s.pids()), cpu_seconds(s.pids())) for s in real}
        time.sleep(IDLE)
        idle = {}
        for s in real:
            pids = s.pids()
            idle[s.name] = idle_seconds(t0[s.name][0], thread_ms(pids), t0[s.name][1], cpu_seconds(pids))

        freeze = freeze_step(subs, backends)

        log("TLS: %d rounds x 6 subjects x 2 connection modes x %ds" % (TLS_ROUNDS, TLS_SECONDS))
        meta["tls_pairs"] = start_tls_subjects(backends, subs)
        meta["tls"] = tls_step(meta["tls_pairs"])

        # The scale steps run alone: every subject and backend of the steps above is stopped.
        for p in reversed(L.procs):
            p.stop()
        stop_postgres()
        log("scale in dependencies: %s (engine_scale.py %s)" % (SCALE_DEPS, " ".join(SCALE_ARGS)))
        meta["scale"] = scale_step()
        meta["load_end"] = loadavg()
        meta["packages"] = pkg_versions()
        meta["minutes"] = (time.monotonic() - t_start) / 60
        report(subs, freeze, idle, meta)
        ok = True
    except KeyboardInterrupt:
        ok = True  # interrupted on purpose: nothing to debug
        raise
    finally:
        for p in reversed(L.procs):
            p.stop()
        stop_postgres()
        if ok and os.environ.get("XP_BENCH_KEEP") != "1":
            shutil.rmtree(L.WORK, ignore_errors=True)
        else:
            log("kept the work directory (logs, configs):", L.WORK)


def on_signal(sig, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        sys.exit(130)
