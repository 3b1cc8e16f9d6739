"""Reloads (SIGHUP and POST /-/reload, valid and invalid configs) while scrapes run at full
speed: no scrape fails, no counter of an unchanged dependency goes back, and an invalid
config keeps the running one. Uses the test build with the "fake" collector.

The storm lasts until enough has happened (reloads, scrapes, probes), not for a set time: a
busy machine makes it longer, never weaker."""
import http.client
import re
import signal
import threading
import time

import xptest
from xptest import sample

RELOADS = 150  # at least, a fifth of them invalid
SCRAPES = 500  # at least
PROBES = 100  # at least, of each unchanged dependency, during the storm
COUNTER = re.compile(r'^circuit_breaker_calls_total\{dependency="(\w+)",result="(\w+)"\} (\S+)$', re.M)


def dep(name, script, **kw):
    lines = ["[dependency.%s]" % name, "collector = fake", "script = %s" % script]
    kw.setdefault("interval", "50ms")
    kw.setdefault("timeout", "40ms")
    lines += ["%s = %s" % (k, v) for k, v in kw.items()]
    return "\n".join(lines) + "\n\n"


class ReloadUnderLoadTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("reload-load")

    def teardown_all(self):
        self.tmp.cleanup()

    def test_reload_storm_during_scrapes(self):
        ok = self.tmp.file("ok", "ok\n")
        bad = self.tmp.file("bad", "fail down\n")
        base = dep("steady", ok) + dep("broken", bad, failure_threshold=1000000) + "[feature.f]\nmin_level = degraded\nrequires = steady\n"
        variants = [base, base + dep("extra", ok), base + dep("extra", ok, interval="70ms")]
        invalid = [base + "[dependency.oops\n", base + dep("x", ok, timeout="2s", interval="1s"),
                   base.replace("collector = fake", "collector = nosuch", 1), base + "[feature.g]\nrequires = nowhere\n"]
        e = xptest.Exporter(self.tmp, base, binary=xptest.FAKE_BINARY, extra_args=["--web.enable-lifecycle"])
        stop = threading.Event()
        results = {"scrapes": 0, "failures": [], "regressions": [], "latest": {}}
        lock = threading.Lock()

        def scraper(idx):
            last = {}
            conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=5)
            while not stop.is_set():
                try:
                    conn.request("GET", "/metrics" if idx else "/health")
                    r = conn.getresponse()
                    body = r.read().decode()
                    if r.status != 200:
                        raise AssertionError("status %d" % r.status)
                except Exception as ex:  # any failure counts, connection errors included
                    with lock:
                        results["failures"].append(repr(ex))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=5)
                    continue
                with lock:
                    results["scrapes"] += 1
                if not idx:
                    continue
                for d, res, v in COUNTER.findall(body):
                    if d not in ("steady", "broken"):
                        continue
                    v = float(v)
                    with lock:
                        if v < last.get((d, res), 0):
                            results["regressions"].append((d, res, last[(d, res)], v))
                        results["latest"][(d, res)] = v
                    last[(d, res)] = v
            conn.close()

        threads = [threading.Thread(target=scraper, args=(i,)) for i in range(3)]
        try:
            m0 = xptest.wait_until(lambda: (lambda m: m if xptest.calls(m, "steady", "success") else None)(e.metrics()),
                                   5, what="a first probe of steady")
            a0 = xptest.calls(m0, "steady", "success")
            for t in threads:
                t.start()

            def enough():
                with lock:
                    latest, scrapes = dict(results["latest"]), results["scrapes"]
                return (reloads >= RELOADS and scrapes >= SCRAPES and
                        latest.get(("steady", "success"), 0) >= a0 + PROBES and
                        latest.get(("broken", "failure"), 0) >= PROBES)
            reloads = 0
            t_end = time.monotonic() + 180  # only an exporter that stopped probing takes this long
            while not enough():
                assert time.monotonic() < t_end, (reloads, results["scrapes"], results["latest"])
                n = reloads
                if n % 5 == 4:
                    e.write_config(invalid[(n // 5) % len(invalid)])
                    status, _, body = e.get("/-/reload", method="POST", data=b"")
                    assert status == 500 and b"reload failed" in body, (status, body)
                    assert sample(e.metrics(), "resilience_exporter_config_last_reload_successful") == 0
                else:
                    e.write_config(variants[n % len(variants)])
                    if n % 2:
                        e.proc.signal(signal.SIGHUP)
                    else:
                        status, _, body = e.get("/-/reload", method="POST", data=b"")
                        assert status == 200, (status, body)
                reloads += 1
                time.sleep(0.05)
            # The last config was one of the variants or an invalid one: either way what runs
            # is a valid config that still has steady and broken.
            stop.set()
            for t in threads:
                t.join(10)
            m1 = e.metrics()
            xptest.log("%d reloads, %d scrapes, %d failed, %d counter regressions" % (
                reloads, results["scrapes"], len(results["failures"]), len(results["regressions"])))
            assert not results["failures"], results["failures"][:5]
            assert not results["regressions"], results["regressions"][:5]
            # Unchanged dependencies kept their counters from before the storm: never restarted
            # from 0 (the scrapers saw no value go back, and the last one is past the first).
            a1 = sample(m1, "circuit_breaker_calls_total", dependency="steady", result="success")
            b1 = sample(m1, "circuit_breaker_calls_total", dependency="broken", result="failure")
            assert a1 >= a0 + PROBES, (a0, a1)
            assert b1 >= PROBES, b1
            assert sample(m1, "circuit_breaker_state", dependency="broken", state="closed") == 1
            assert e.proc.poll() is None
            # An invalid config leaves the running one in place, probing as before.
            e.write_config(variants[1])
            status, _, body = e.get("/-/reload", method="POST", data=b"")
            assert status == 200, (status, body)
            e.write_config(invalid[0])
            e.proc.signal(signal.SIGHUP)
            xptest.wait_until(lambda: sample(e.metrics(), "resilience_exporter_config_last_reload_successful") == 0, 5,
                              what="failed reload recorded")
            m2 = e.metrics()
            assert sample(m2, "dependency_info", dependency="extra", collector="fake", target="file://" + ok) == 1
            e2 = xptest.calls(m2, "extra", "success") or 0
            xptest.wait_until(lambda: (xptest.calls(e.metrics(), "extra", "success") or 0) > e2, 5,
                              what="extra probed on after the failed reload")
            assert "reload failed" in e.logs()
        finally:
            stop.set()
            e.stop()


if __name__ == "__main__":
    ReloadUnderLoadTest().run()
