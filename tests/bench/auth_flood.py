#!/usr/bin/env python3
"""How much a flood of wrong passwords delays an authenticated scrape (issue 11 item 5).

    tests/bench/auth_flood.py [--binary B] [--before B0] [--rounds 3] [--seconds 8]
                              [--attackers 8] [--rate-limit N/PERIOD] [--scrape-interval 0.05]

Starts the exporter (basic auth, bcrypt cost 10, one dependency on a closed port: probes fail
fast and do not matter) and, in separate processes so no client waits on another's lock:
- a scraper on 127.0.0.1 asking GET /metrics with the right password on one kept-alive
  connection, 20 times a second (--scrape-interval), recording each answer's latency;
- attackers, each on its own address 127.0.0.10+i with a kept-alive connection, sending wrong
  passwords as fast as they are answered.
Each round measures the scraper alone, then with the flood, for every binary given (--before:
an older build, to compare), interleaved so both see the same machine. Prints p50, p99 and
the worst latency per phase, the scrapes that did not answer 200, and what the flood got.
Standard library only; stops what it started by PID."""
import argparse
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
USER, PASSWORD = "prometheus", "bench-flood-pw"


def basic(pw):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (USER, pw)).encode()).decode()}


def scraper(port, seconds, every):
    """Child: prints one JSON line {"lat": [...], "codes": {...}}."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, codes = [], {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            c.request("GET", "/metrics", headers=basic(PASSWORD))
            r = c.getresponse()
            r.read()
            code = r.status
        except (OSError, http.client.HTTPException):
            code = "error"
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lat.append(time.monotonic() - t0)
        codes[str(code)] = codes.get(str(code), 0) + 1
        time.sleep(max(0, every - (time.monotonic() - t0)))
    print(json.dumps({"lat": lat, "codes": codes}), flush=True)


def attacker(port, source, out):
    """Child: wrong passwords until SIGTERM; then writes its status counts to `out`."""
    counts, n, c = {}, 0, None
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop:
        try:
            c = c or http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
            c.request("GET", "/metrics", headers=basic("wrong-%d" % n))
            r = c.getresponse()
            r.read()
            code = str(r.status)
        except (OSError, http.client.HTTPException):
            code, c = "closed", None
        counts[code] = counts.get(code, 0) + 1
        n += 1
    with open(out, "w") as f:
        json.dump(counts, f)


def listening(port):
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                p = line.split()
                if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def free_port():
    for port in range(23000, 32000, 7):
        if listening(port):
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def start_exporter(binary, work, hash_, rate):
    port = free_port()
    cfg = os.path.join(work, "flood.ini")
    with open(cfg, "w") as f:
        f.write("[web]\nbasic_auth_user = %s\nbasic_auth_password_hash = %s\n%s"
                "[dependency.cache]\ncollector = redis\naddress = 127.0.0.1:1\n"
                % (USER, hash_, "rate_limit = %s\n" % rate if rate else ""))
    logf = open(os.path.join(work, "exporter.log"), "ab")
    p = subprocess.Popen([binary, "--config.file=" + cfg, "--web.listen-address=127.0.0.1:%d" % port],
                         stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    while not listening(port):
        if p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("%s did not start (see %s/exporter.log)" % (binary, work))
        time.sleep(0.05)
    return p, port


def phase(port, seconds, attackers, every, work):
    """The scraper's latencies and codes, with `attackers` flooding meanwhile."""
    me = [sys.executable, os.path.abspath(__file__)]
    kids, outs = [], []
    for i in range(attackers):
        out = os.path.join(work, "attacker-%d.json" % i)
        outs.append(out)
        kids.append(subprocess.Popen(me + ["--attacker", str(port), "127.0.0.%d" % (10 + i), out],
                                     start_new_session=True))
    if attackers:
        time.sleep(1)  # the flood is on before the scraper starts
    sc = subprocess.run(me + ["--scraper", str(port), str(seconds), str(every)], capture_output=True, text=True,
                        check=True)
    for k in kids:
        k.terminate()
    flood = {}
    for k, out in zip(kids, outs):
        k.wait(10)
        with open(out) as f:
            for code, n in json.load(f).items():
                flood[code] = flood.get(code, 0) + n
    res = json.loads(sc.stdout)
    res["flood"] = flood
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(SRC, "build", "resilience_exporter"))
    ap.add_argument("--before", help="an older build to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--attackers", type=int, default=8)
    ap.add_argument("--rate-limit", default="", help="rate_limit = this in [web] (the new build only)")
    ap.add_argument("--scrape-interval", type=float, default=0.05, help="seconds between two scrapes")
    ap.add_argument("--scraper", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--attacker", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.scraper:
        return scraper(int(a.scraper[0]), float(a.scraper[1]), float(a.scraper[2]))
    if a.attacker:
        return attacker(int(a.attacker[0]), a.attacker[1], a.attacker[2])

    work = tempfile.mkdtemp(prefix="xp-auth-flood-")
    hash_ = subprocess.run(["htpasswd", "-nbBC", "10", USER, PASSWORD], capture_output=True, text=True,
                           check=True).stdout.strip().split(":", 1)[1]
    subjects = ([("before", a.before)] if a.before else []) + [("after", a.binary)]
    results = {(name, ph): {"lat": [], "codes": {}, "flood": {}} for name, _ in subjects for ph in ("alone", "flood")}
    for rnd in range(a.rounds):
        for name, binary in subjects:
            p, port = start_exporter(binary, work, hash_, a.rate_limit if name == "after" else "")
            try:
                for ph, n in (("alone", 0), ("flood", a.attackers)):
                    r = phase(port, a.seconds, n, a.scrape_interval, work)
                    acc = results[(name, ph)]
                    acc["lat"] += r["lat"]
                    for k in ("codes", "flood"):
                        for code, c in r[k].items():
                            acc[k][code] = acc[k].get(code, 0) + c
                    print("round %d %-6s %-5s p50 %6.1f ms  p99 %6.1f ms  (%d scrapes)" % (
                        rnd + 1, name, ph, statistics.median(r["lat"]) * 1e3, pct(r["lat"], 99) * 1e3,
                        len(r["lat"])), file=sys.stderr, flush=True)
            finally:
                p.terminate()
                p.wait(10)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print("\n%d rounds of %g s per phase, %d attackers (wrong passwords, cost-10 bcrypt), a scrape every %g s, "
          "load average %s%s\n" % (a.rounds, a.seconds, a.attackers, a.scrape_interval, " ".join(load),
             ", rate_limit = %s (after)" % a.rate_limit if a.rate_limit else ""))
    print("| build | phase | scrapes | p50 ms | p99 ms | max ms | scrape answers | flood answers |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, ph), r in results.items():
        lat = r["lat"]
        print("| %s | %s | %d | %.1f | %.1f | %.1f | %s | %s |" % (
            name, ph, len(lat), statistics.median(lat) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3,
            " ".join("%s: %d" % kv for kv in sorted(r["codes"].items())),
            " ".join("%s: %d" % kv for kv in sorted(r["flood"].items())) or "-"))
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
