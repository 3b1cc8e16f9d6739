#!/usr/bin/env python3
"""Long-polls of /health?wait= measured (issue 12 item 3). Not a test: it prints numbers.

  python3 tests/bench/longpoll.py [--binary build/tests/resilience_exporter_fake]
                                  [--cycles 100] [--waiters 1000] [--scrapes 3000]

Uses the test build with the scripted "fake" collector (build/tests/resilience_exporter_fake)
so that a breaker transition happens when the script says, on loopback:

1. Delay from a breaker transition to the waiting client's answer. One client long-polls
   /health?wait=60s with If-None-Match; the script flips a dependency between failing and
   passing (failure_threshold 1, recovery_timeout 100 ms), so its breaker opens and closes.
   For each answer: the client's receive time minus the transition's timestamp in /events
   (wall clock, milliseconds: each delay is over-stated by up to 1 ms). Target: < 10 ms.
2. Scrapes with and without 1,000 waiting long-polls (max_connections 4096): p50/p99 of
   /metrics over one keep-alive connection, a few thousand scrapes each; and the delay from
   the transition to the first and to the last of the 1,000 answers.

Only the standard library. Every process it starts is stopped by PID.
"""
import argparse
import http.client
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
import xptest  # noqa: E402  (ports, listen table)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Exporter:
    def __init__(self, binary, work, config):
        self.port = xptest.free_port()
        path = os.path.join(work, "bench.ini")
        with open(path, "w") as f:
            f.write(config)
        self.log = open(os.path.join(work, "exporter.log"), "wb")
        self.p = subprocess.Popen([binary, "--config.file=" + path,
                                   "--web.listen-address=127.0.0.1:%d" % self.port],
                                  stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        xptest.wait_until(lambda: xptest.listening(self.port), 20, what="the exporter")

    def get(self, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, dict(r.getheaders()), body

    def tag(self):
        return self.get("/health")[1]["ETag"]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        with open(self.log.name, "rb") as f:
            xptest.check_sanitizers(f.read().decode("utf-8", "replace"), self.log.name)


def config(script_dir, max_connections):
    deps = []
    for i, name in enumerate(("flip", "db", "cache", "files")):
        script = os.path.join(script_dir, name)
        with open(script, "w") as f:
            f.write("ok\n")
        # Only "flip" moves the state: a slow probe of the others (a loaded machine, a
        # sanitizer build) must not move the level and wake the waiters by itself.
        extra = ("failure_threshold = 1\nrecovery_timeout = 100ms\n" if name == "flip"
                 else "failure_threshold = 1000\n")
        deps.append("[dependency.%s]\ncollector = fake\nscript = %s\ninterval = 100ms\ntimeout = 90ms\n%s"
                    % (name, script, extra))
    return ("[web]\nmax_connections = %d\n\n" % max_connections + "\n".join(deps) +
            "\n[feature.flip_feature]\nmin_level = degraded\nrequires = flip\n")


def set_script(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def first_transition(exp, after):
    """The first transition event after `after` (wall seconds), or None: the one that woke
    the waiters (an OPEN breaker tries again after 100 ms and may reopen meanwhile)."""
    events = json.loads(exp.get("/events")[2])["events"]
    for ev in reversed(events):  # oldest first
        if ev["type"] == "transition" and ev["timestamp"] > after and ev["to"] in ("open", "closed"):
            return ev
    return None


def transition_delays(exp, flip_script, cycles):
    """One long-poll at a time; each flip of the script makes one transition and one answer."""
    delays = []
    tag = exp.tag()
    state = "ok"
    for _ in range(cycles):
        state = "fail reason=connect refused" if state == "ok" else "ok"
        c = http.client.HTTPConnection("127.0.0.1", exp.port, timeout=90)
        c.request("GET", "/health?wait=60s", headers={"If-None-Match": tag})
        # The request is sent; give the server a moment to suspend it, then flip.
        time.sleep(0.02)
        flipped = time.time()
        set_script(flip_script, state)
        r = c.getresponse()
        got = time.time()
        r.read()
        new = r.getheader("ETag")
        c.close()
        if r.status != 200 or new == tag:
            raise RuntimeError("long-poll answered %d with tag %s" % (r.status, new))
        ev = xptest.wait_until(lambda: first_transition(exp, flipped - 0.001), 5, what="the transition's event")
        delays.append((got - ev["timestamp"]) * 1000)
        tag = new
        # Let the breaker settle (a closed breaker after "ok", an open one after "fail").
        time.sleep(0.15)
        tag = exp.tag()
    return delays


def scrapes(exp, n):
    c = http.client.HTTPConnection("127.0.0.1", exp.port, timeout=30)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.request("GET", "/metrics")
        r = c.getresponse()
        r.read()
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200
    c.close()
    return times


def open_waiters(port, tag, n):
    sel = selectors.DefaultSelector()
    socks = []
    req = ("GET /health?wait=60s HTTP/1.1\r\nHost: bench\r\nIf-None-Match: %s\r\n\r\n" % tag).encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    return sel, socks


def collect(sel, n, timeout):
    """Waits for n answers; returns [(receive wall time, status line)]."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            data = key.fileobj.recv(4096)
            got.append((time.time(), data.split(b"\r\n", 1)[0].decode(errors="replace")))
            sel.unregister(key.fileobj)
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(SRC, "build", "tests", "resilience_exporter_fake"))
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--waiters", type=int, default=1000)
    ap.add_argument("--scrapes", type=int, default=3000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * a.waiters + 256)), hard))
    work = tempfile.mkdtemp(prefix="longpoll-bench-")
    exp = Exporter(a.binary, work, config(work, 4096))
    try:
        xptest.wait_until(lambda: exp.get("/-/ready")[0] == 200, 10, what="ready")
        flip = os.path.join(work, "flip")

        d = transition_delays(exp, flip, a.cycles)
        print("1. transition -> waiting client's answer, %d transitions (ms, over-stated by <= 1 ms):" % len(d))
        print("   median %.2f  p90 %.2f  p99 %.2f  max %.2f" % (statistics.median(d), pct(d, 90), pct(d, 99), max(d)))

        set_script(flip, "ok")
        xptest.wait_until(lambda: json.loads(exp.get("/health")[2])["dependencies"]["flip"]["state"] == "closed",
                          5, what="flip closed")
        time.sleep(0.3)
        scrapes(exp, 300)  # warm-up
        before = scrapes(exp, a.scrapes)
        tag = exp.tag()
        sel, socks = open_waiters(exp.port, tag, a.waiters)
        time.sleep(1.0)
        early = collect(sel, a.waiters, 0.2)
        if early:  # the state moved by itself: say how, so the run can be judged
            print("   (tag %s moved before the change; events: %s)" % (
                tag, json.loads(exp.get("/events")[2])["events"][:3]))
        during = scrapes(exp, a.scrapes)
        flipped = time.time()
        set_script(flip, "fail reason=connect refused")
        got = collect(sel, a.waiters, 30)
        ev = xptest.wait_until(lambda: first_transition(exp, flipped - 0.001), 5, what="the transition's event")
        after = scrapes(exp, a.scrapes)
        print("2. /metrics over one keep-alive connection, %d scrapes each (ms):" % a.scrapes)
        for name, t in (("no waiters", before), ("%d waiting" % a.waiters, during), ("after they left", after)):
            print("   %-18s p50 %.3f  p99 %.3f  max %.3f" % (name, pct(t, 50), pct(t, 99), max(t)))
        ok = sum(1 for _, line in got if " 200 " in line)
        print("   answered before the change: %d%s; after it: %d of %d (%d with 200)"
              % (len(early), " (e.g. %s)" % early[0][1] if early else "", len(got), a.waiters, ok))
        if got:
            first = min(t for t, _ in got) - ev["timestamp"]
            last = max(t for t, _ in got) - ev["timestamp"]
            print("   transition -> first answer %.1f ms, -> last of %d answers %.1f ms" % (first * 1000, len(got), last * 1000))
        for s in socks:
            s.close()
    finally:
        exp.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
