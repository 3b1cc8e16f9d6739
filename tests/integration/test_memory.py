"""Memory: valgrind memcheck over a whole life of the exporter (TLS and basic auth on, probes
failing and succeeding, every endpoint scraped, reloaded twice, SIGTERM) with no error and
nothing definitely lost; and RSS flat across 100,000 scrapes and across 1,000 breaker
open/close cycles. Uses the test build with the "fake" collector.

Under AddressSanitizer valgrind cannot run and RSS means nothing (ASan keeps freed memory in
quarantine), so there only the workloads run, for ASan/LSan to judge."""
import http.client
import os
import signal
import subprocess
import time

import xptest
from xptest import sample, wait_until

PASSWORD = "mem-SENTINEL-pw-41c9"


def dep(name, script, **kw):
    lines = ["[dependency.%s]" % name, "collector = fake", "script = %s" % script]
    lines += ["%s = %s" % (k, v) for k, v in kw.items()]
    return "\n".join(lines) + "\n\n"


class MemoryTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("memory")
        self.asan = xptest.SANITIZER is not None  # ASan or TSan: no valgrind, RSS means nothing

    def teardown_all(self):
        self.tmp.cleanup()

    def test_valgrind_whole_life(self):
        if self.asan:
            xptest.log("skipped: %s build (valgrind cannot run beside a sanitizer)" % xptest.SANITIZER)
            return
        tmp = self.tmp
        ok = tmp.file("vg-ok", "ok 1 5\n")
        bad = tmp.file("vg-bad", "fail backend said no\n")
        cert, key = tmp.file("vg-cert.pem"), tmp.file("vg-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        h = subprocess.run(["htpasswd", "-nbBC", "10", "prometheus", PASSWORD], capture_output=True, text=True,
                           check=True).stdout.strip().split(":", 1)[1]
        web = tmp.file("vg-web.yml", "tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
                                     "basic_auth_users:\n  prometheus: %s\n" % (cert, key, h))
        cfg = (dep("a", ok, interval="300ms", timeout="200ms") +
               dep("b", bad, interval="300ms", timeout="200ms", failure_threshold=2, recovery_timeout="500ms") +
               "[feature.f]\nmin_level = degraded\nrequires = a, b\n")
        cfg_path = tmp.file("vg.ini", cfg)
        vlog = tmp.file("valgrind.txt")
        argv = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99", "--track-origins=no",
                "--log-file=" + vlog, xptest.FAKE_BINARY, "--config.file=" + cfg_path, "--web.config.file=" + web,
                "--log.level=debug", "--web.enable-lifecycle"]
        port, p = xptest.listen_on_free_port(lambda port: xptest.Proc(
            argv + ["--web.listen-address=127.0.0.1:%d" % port], tmp.file("vg-exporter.log")), timeout=60)
        try:
            base = "https://127.0.0.1:%d" % port

            def curl(path, *extra):
                r = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", cert, "-o", "/dev/null",
                                    "-w", "%{http_code}", base + path] + list(extra), capture_output=True, text=True)
                return int(r.stdout or 0)

            auth = ["-u", "prometheus:" + PASSWORD]
            wait_until(lambda: curl("/-/ready", *auth) == 200, 60, interval=0.5, what="ready under valgrind")
            wait_until(lambda: 'msg="breaker reopened"' in p.output(), 60, interval=0.2,
                       what="b to open, go half-open and reopen")
            assert curl("/metrics", *auth) == 200
            assert curl("/metrics", *auth, "--compressed") == 200
            assert curl("/health", *auth) == 200
            assert curl("/", *auth) == 200
            assert curl("/metrics") == 401
            assert curl("/metrics", "-u", "prometheus:wrong") == 401
            assert curl("/nope", *auth) == 404
            assert curl("/metrics", *auth, "-X", "DELETE") == 405
            assert curl("/-/healthy") == 200
            # A reload that changes b, and one that fails.
            xptest.write_file(cfg_path, cfg.replace("failure_threshold = 2", "failure_threshold = 3"))
            assert curl("/-/reload", *auth, "-X", "POST") == 200
            xptest.write_file(cfg_path, cfg + "[dependency.broken\n")
            p.signal(signal.SIGHUP)
            wait_until(lambda: 'msg="reload failed' in p.output(), 60, interval=0.2, what="the failed reload")
            xptest.write_file(ok, "fail now failing\n")
            wait_until(lambda: "now failing" in p.output(), 60, interval=0.2, what="a failed probe of a")
            assert curl("/metrics", *auth) == 200
            p.signal(signal.SIGTERM)
            rc = p.p.wait(60)
        finally:
            p.stop()
        with open(vlog) as f:
            report = f.read()
        summary = report[report.find("HEAP SUMMARY"):]
        xptest.log(summary)
        assert rc == 0, "valgrind exit %s (99 = errors or leaks):\n%s" % (rc, report[-6000:])
        assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
        # Either every block was freed, or the leak summary shows nothing definitely lost.
        assert "All heap blocks were freed" in report or "definitely lost: 0 bytes" in report, report[-6000:]

    def test_rss_flat_over_100k_scrapes(self):
        ok = self.tmp.file("scr-ok", "ok 0 3\n")
        bad = self.tmp.file("scr-bad", "fail nope\n")
        e = xptest.Exporter(self.tmp, dep("a", ok, interval="50ms", timeout="40ms") +
                            dep("b", bad, interval="50ms", timeout="40ms", failure_threshold=1, recovery_timeout="100ms") +
                            "[feature.f]\nmin_level = degraded\nrequires = a\n", binary=xptest.FAKE_BINARY)
        try:
            total = int(os.environ.get("XP_MEMORY_SCRAPES", "20000" if self.asan else "100000"))
            conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)
            paths = ["/metrics", "/metrics", "/metrics", "/health", "/"]

            def scrape(n):
                for i in range(n):
                    path = paths[i % len(paths)]
                    hdrs = {"Accept-Encoding": "gzip"} if i % 7 == 0 else {}
                    conn.request("GET", path, headers=hdrs)
                    r = conn.getresponse()
                    body = r.read()
                    assert r.status == 200 and body, (path, r.status)

            scrape(10000)  # warm-up: caches, allocator arenas, per-thread buffers
            before = xptest.rss_kb(e.proc.pid)
            t0 = time.monotonic()
            scrape(total)
            took = time.monotonic() - t0
            after = xptest.rss_kb(e.proc.pid)
            conn.close()
            xptest.log("%d scrapes in %.1fs (%.0f/s): RSS %d KB -> %d KB (%+d KB)" % (
                total, took, total / took, before, after, after - before))
            assert e.proc.poll() is None
            if not self.asan:
                assert after - before <= 256, (before, after)
        finally:
            e.stop()

    def test_rss_flat_over_1000_breaker_cycles(self):
        s = self.tmp.file("cyc", "ok\n")
        e = xptest.Exporter(self.tmp, dep("c", s, interval="10ms", timeout="5ms", failure_threshold=1,
                                          recovery_timeout="10ms", half_open_requests=1),
                            binary=xptest.FAKE_BINARY)
        try:
            def opened():
                return sample(e.metrics(), "circuit_breaker_transitions_total", dependency="c",
                              **{"from": "closed", "to": "open"}) or 0

            def flip(n):
                for _ in range(n):
                    xptest.write_file(s, "fail flip\n")
                    time.sleep(0.025)
                    xptest.write_file(s, "ok\n")
                    time.sleep(0.03)

            target = int(os.environ.get("XP_MEMORY_CYCLES", "300" if self.asan else "1000"))
            flip(100)
            before = xptest.rss_kb(e.proc.pid)
            start_cycles = opened()
            while opened() - start_cycles < target:
                flip(100)
            after = xptest.rss_kb(e.proc.pid)
            m = e.metrics()
            closes = sample(m, "circuit_breaker_transitions_total", dependency="c", **{"from": "half_open", "to": "closed"})
            xptest.log("%d open/close cycles (%d closes): RSS %d KB -> %d KB (%+d KB)" % (
                opened() - start_cycles, closes, before, after, after - before))
            assert closes >= target
            assert e.proc.poll() is None
            if not self.asan:
                assert after - before <= 256, (before, after)
        finally:
            e.stop()


if __name__ == "__main__":
    MemoryTest().run()
