"""A large /metrics body (1,000 dependencies, over 1 MiB) is rebuilt by the builder thread
(web/respcache.c), not by the scrape that finds it stale: scrapes from several clients at once
while probes keep changing the state all get a whole, well-formed body, a change of state
reaches /metrics without anybody asking for a render, and the exporter still stops cleanly
with the builder running. Run under ThreadSanitizer too (label tsan): the builder renders
and swaps responses beside libmicrohttpd's threads."""
import os
import re
import threading

import xptest
from xptest import sample

N = 1000


def dep(name, script):
    return "[dependency.%s]\ncollector = fake\nscript = %s\ninterval = 10s\ntimeout = 1s\n\n" % (name, script)


class MetricsBuilderTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("builder")

    def teardown_all(self):
        self.tmp.cleanup()

    def test_large_body_served_whole_and_kept_current(self):
        ok = self.tmp.file("ok", "ok\n")
        flip = self.tmp.file("flip", "ok\n")
        text = "[exporter]\nlog_level = error\n\n" + dep("flip", flip)
        text += "".join(dep("d%d" % i, ok) for i in range(N))
        e = xptest.Exporter(self.tmp, text, binary=xptest.FAKE_BINARY)
        try:
            xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 60, what="ready")
            first = e.metrics_text()
            # The point of the test: a body the builder keeps (over 1 MiB), not a small one.
            assert len(first) > 1 << 20, len(first)
            m = xptest.parse_metrics(first)
            assert sample(m, "dependency_probe_success", dependency="flip") == 1

            errors, bodies = [], []

            def scraper():
                for _ in range(8):
                    status, _, body = e.get("/metrics", timeout=60)
                    if status != 200:
                        errors.append(status)
                        continue
                    t = body.decode("utf-8")
                    # Whole: every dependency and the request counters, which come last.
                    n = len(re.findall(r'^dependency_probe_success\{', t, re.M))
                    bodies.append((n, t.rstrip("\n").rsplit("\n", 1)[-1]))
            threads = [threading.Thread(target=scraper) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
            assert not errors, errors
            assert len(bodies) == 24, len(bodies)
            for n, last in bodies:
                assert n == N + 1, n
                assert last.startswith("resilience_exporter_http_requests_total{"), last

            # The builder runs (named so that its CPU can be told apart in /proc).
            names = []
            for tid in os.listdir("/proc/%d/task" % e.proc.pid):
                with open("/proc/%d/task/%s/comm" % (e.proc.pid, tid)) as f:
                    names.append(f.read().strip())
            assert "xp-metrics" in names, names

            # A change of state reaches /metrics (from the builder's next body, or from a
            # scrape's own render should the builder have fallen five seconds behind).
            xptest.write_file(flip, "fail reason=check down\n")
            xptest.wait_until(
                lambda: sample(e.metrics(), "dependency_probe_success", dependency="flip") == 0,
                60, interval=0.5, what="the failure of flip in /metrics")
        finally:
            assert e.stop() == 0


if __name__ == "__main__":
    MetricsBuilderTest().run()
