"""The core through the real binary and HTTP, with the test-only "fake" collector whose
outcome each test scripts through a file: breaker cycle, deadlines, reloads, signals,
endpoints, exposition validity, logs and secrets."""
import gzip
import json
import os
import signal
import subprocess
import time

import xptest
from xptest import sample, wait_until

SECRET = "fake-SENTINEL-s3cr3t-9f1c"


def dep(name, script, **kw):
    lines = ["[dependency.%s]" % name, "collector = fake", "script = %s" % script]
    kw.setdefault("interval", "300ms")
    kw.setdefault("timeout", "200ms")
    for k, v in kw.items():
        lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n\n"


class CoreTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("core")

    def teardown_all(self):
        self.tmp.cleanup()

    def script(self, name, text):
        return self.tmp.file(name, text + "\n")

    def start(self, config, **kw):
        kw.setdefault("binary", xptest.FAKE_BINARY)
        return xptest.Exporter(self.tmp, config, **kw)

    def test_breaker_cycle_through_half_open(self):
        s = self.script("cycle", "fail connection refused")
        # db weighs 0.2: OPEN it scores 0, the system 80 (degraded), its open_level limited wins.
        e = self.start(dep("db", s, failure_threshold=3, recovery_timeout="3s",
                           half_open_requests=2, interval="300ms", open_level="limited", weight="0.2") +
                       dep("other", self.script("other", "ok"), weight="0.8") +
                       "[feature.orders]\nmin_level = degraded\nrequires = db\n")
        try:
            m = wait_until(lambda: (lambda m: m if sample(m, "circuit_breaker_state", dependency="db", state="open") == 1 else None)(e.metrics()),
                           5, what="breaker open")
            # The backend is fine again at once: whenever the recovery ends, its trials succeed.
            self.script("cycle", "ok")
            # Opened on exactly the third failure: no probe runs while OPEN.
            assert sample(m, "circuit_breaker_calls_total", dependency="db", result="failure") == 3
            assert sample(m, "circuit_breaker_consecutive_failures", dependency="db") == 3
            assert sample(m, "circuit_breaker_transitions_total", dependency="db", **{"from": "closed", "to": "open"}) == 1
            assert sample(m, "health_score", dependency="db") == 0
            assert sample(m, "degradation_level") == 2
            assert sample(m, "feature_availability", feature="orders") == 0
            assert 0 < sample(m, "circuit_breaker_recovery_seconds", dependency="db") <= 3
            assert sample(m, "circuit_breaker_last_failure_timestamp_seconds", dependency="db") > time.time() - 10
            h = e.health()["dependencies"]["db"]
            assert h["last_error"]["message"] == "connection refused", h
            m = wait_until(lambda: (lambda m: m if xptest.calls(m, "db", "rejected") >= 1 else None)(e.metrics()),
                           5, what="a rejected tick while OPEN")
            assert sample(m, "circuit_breaker_calls_total", dependency="db", result="failure") == 3

            m = wait_until(lambda: (lambda m: m if sample(m, "circuit_breaker_state", dependency="db", state="closed") == 1 else None)(e.metrics()),
                           8, what="breaker closed again")
            t = lambda f, to: sample(m, "circuit_breaker_transitions_total", dependency="db", **{"from": f, "to": to})
            assert t("open", "half_open") == 1 and t("half_open", "closed") == 1 and t("half_open", "open") == 0
            assert sample(m, "circuit_breaker_calls_total", dependency="db", result="success") == 2
            assert sample(m, "circuit_breaker_consecutive_failures", dependency="db") == 0
            assert sample(m, "degradation_level") == 0
            assert sample(m, "feature_availability", feature="orders") == 1
            h = e.health()["dependencies"]["db"]
            assert h["last_probe"]["error"] is None and h["last_error"]["message"] == "connection refused"
            logs = e.logs()
            for msg in ("breaker opened", "breaker half-open, trying", "breaker closed"):
                assert logs.count('msg="%s"' % msg) == 1, (msg, logs)
        finally:
            e.stop()

    def test_trial_failure_reopens(self):
        s = self.script("reopen", "fail nope")
        e = self.start(dep("db", s, failure_threshold=1, recovery_timeout="600ms"))
        try:
            m = wait_until(lambda: (lambda m: m if (sample(m, "circuit_breaker_transitions_total", dependency="db", **{"from": "half_open", "to": "open"}) or 0) >= 1 else None)(e.metrics()),
                           5, what="reopen after a failed trial")
            assert sample(m, "circuit_breaker_consecutive_failures", dependency="db") >= 2
        finally:
            e.stop()

    def test_probe_past_deadline_is_a_failure(self):
        stuck = self.script("stuck", "stuck 700")
        hang = self.script("hang", "hang")
        e = self.start(dep("stuck", stuck, interval="1s", timeout="300ms") +
                       dep("hang", hang, interval="1s", timeout="300ms"))
        try:
            wait_until(lambda: all(e.health()["dependencies"][d]["last_probe"] for d in ("stuck", "hang")), 5, what="first probes")
            h = e.health()["dependencies"]
            assert h["stuck"]["last_probe"]["success"] is False and "timed out" in h["stuck"]["last_probe"]["error"], h["stuck"]
            assert h["hang"]["last_probe"]["success"] is False
            # A collector that honours its deadline ends at the deadline.
            assert 0.29 <= h["hang"]["last_probe"]["duration_seconds"] <= 0.3 + xptest.DEADLINE_SLACK, h["hang"]
            m = e.metrics()
            assert sample(m, "dependency_probe_success", dependency="stuck") == 0
        finally:
            e.stop()

    def test_frozen_probe_never_delays_scrapes_or_others(self):
        # "frozen" stays in flight (for up to 8 s) until the test lets it go.
        held = self.script("frozen", "hold")
        e = self.start(dep("frozen", held, interval="10s", timeout="8s") +
                       dep("fine", self.script("fine", "ok"), interval="200ms", timeout="100ms"))
        try:
            ok = lambda: xptest.calls(e.metrics(), "fine", "success") or 0
            wait_until(ok, 5, what="a first probe of fine")
            before, times = ok(), []
            # Scrape without pause until fine has been probed 5 more times.
            while True:
                dt, text = xptest.timed_scrape(e)
                times.append(dt)
                after = xptest.calls(xptest.parse_metrics(text), "fine", "success")
                if after >= before + 5 and len(times) >= 10:
                    break
                assert len(times) < 100000, "fine stopped being probed: %s -> %s" % (before, after)
            # All of it while the first probe of frozen was still in flight.
            assert e.health()["dependencies"]["frozen"]["last_probe"] is None
            xptest.assert_scrapes_did_not_wait(times, 8)
            self.script("frozen", "fail let go")
            e.wait_health(lambda h: h["dependencies"]["frozen"]["last_probe"], 5, "the held probe to end")
        finally:
            e.stop()

    def test_ready_after_first_probe(self):
        s = self.script("slowfirst", "hold")
        e = self.start(dep("slow", s, interval="10s", timeout="8s"))
        try:
            status, _, _ = e.get("/-/ready")
            assert status == 503, status
            assert e.get("/-/healthy")[0] == 200
            # Before its first probe a dependency counts as CLOSED and scores 100.
            m = e.metrics()
            assert sample(m, "health_score", dependency="slow") == 100
            assert sample(m, "dependency_probe_success", dependency="slow") is None
            self.script("slowfirst", "ok")
            wait_until(lambda: e.get("/-/ready")[0] == 200, 5, what="ready")
        finally:
            e.stop()

    def test_http_endpoints(self):
        s = self.script("http", "ok 1 7")
        e = self.start(dep("a", s))
        try:
            wait_until(lambda: e.get("/-/ready")[0] == 200, 5, what="ready")
            status, headers, body = e.get("/metrics")
            assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
            status, headers, gz = e.get("/metrics", headers={"Accept-Encoding": "gzip"})
            assert headers.get("Content-Encoding") == "gzip"
            assert b"circuit_breaker_state" in gzip.decompress(gz)
            status, headers, _ = e.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
            assert "Content-Encoding" not in headers
            assert e.get("/nope")[0] == 404
            assert e.get("/metrics/x")[0] == 404
            status, headers, _ = e.get("/metrics", method="POST", data=b"x")
            assert status == 405 and "GET" in headers.get("Allow", ""), (status, headers)
            assert e.get("/-/reload")[0] == 405
            assert e.get("/metrics", method="HEAD")[0] == 200
            status, headers, body = e.get("/health")
            assert status == 200 and headers["Content-Type"].startswith("application/json")
            h = json.loads(body)
            for k in ("status", "degradation_level", "health_score", "dependencies", "features"):
                assert k in h, k
            d = h["dependencies"]["a"]
            for k in ("collector", "state", "health_score", "consecutive_failures", "recovery_seconds", "last_probe", "last_error"):
                assert k in d, k
            status, headers, page = e.get("/")
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert b'href="/metrics"' in page and b'href="/health"' in page and b"CLOSED" in page
            m = e.metrics()
            assert sample(m, "dependency_fake_value", dependency="a") == 7
        finally:
            e.stop()

    def test_exposition_is_valid_with_hostile_label_values(self):
        weird = self.tmp.file('we"ird\\path', "ok\n")
        e = self.start(dep("a", weird) + dep("b", self.script("b", "fail x")) +
                       "[feature.f-1]\nmin_level = emergency\n")
        try:
            wait_until(lambda: e.get("/-/ready")[0] == 200, 5, what="ready")
            text = e.metrics_text()
            rc, out = xptest.promtool_check(text)
            assert rc == 0 and out.strip() == "", (rc, out)
            m = xptest.parse_metrics(text)  # raises on a duplicate series
            assert sample(m, "dependency_info", dependency="a", collector="fake", target="file://" + weird) == 1
            families = set()
            for line in text.splitlines():
                if line.startswith("# TYPE "):
                    name = line.split()[2]
                    assert name not in families, "family %s twice" % name
                    families.add(name)
            for f in ("circuit_breaker_state", "circuit_breaker_consecutive_failures", "circuit_breaker_calls_total",
                      "circuit_breaker_transitions_total", "circuit_breaker_recovery_seconds",
                      "circuit_breaker_last_failure_timestamp_seconds", "health_score", "system_health_score",
                      "degradation_level", "feature_availability", "dependency_probe_success", "dependency_probe_duration_seconds",
                      "dependency_probe_last_timestamp_seconds", "dependency_info", "resilience_exporter_build_info",
                      "resilience_exporter_config_last_reload_successful", "process_cpu_seconds_total",
                      "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"):
                assert f in families, f
            for fam in ("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open"):
                assert sample(m, "circuit_breaker_transitions_total", dependency="a", **{"from": fam[0], "to": fam[1]}) == 0
            assert sample(m, "dependency_probe_duration_seconds_bucket", dependency="a", le="+Inf") == sample(m, "dependency_probe_duration_seconds_count", dependency="a")
            assert "background probes" in text.split("# HELP health_score", 1)[1].split("\n", 1)[0]
        finally:
            e.stop()

    def test_reload_keeps_unchanged_dependencies(self):
        a = self.script("ra", "ok")
        b = self.script("rb", "fail down")
        cfg1 = dep("a", a) + dep("b", b, failure_threshold=100)
        e = self.start(cfg1, extra_args=["--web.enable-lifecycle"])
        try:
            m1 = wait_until(lambda: (lambda m: m if xptest.calls(m, "a", "success") >= 3 and
                                     xptest.calls(m, "b", "failure") >= 3 else None)(e.metrics()),
                            10, what="three probes of a and b")
            a1 = sample(m1, "circuit_breaker_calls_total", dependency="a", result="success")
            b1 = sample(m1, "circuit_breaker_calls_total", dependency="b", result="failure")
            # b changes (new threshold, and a 10 s interval: one probe, at once, until the
            # checks below are done), c is new, a is untouched.
            e.write_config(dep("a", a) + dep("b", b, failure_threshold=99, interval="10s") + dep("c", a))
            e.reload()
            wait_until(lambda: sample(e.metrics(), "dependency_info", dependency="c", collector="fake", target="file://" + a) == 1, 5, what="c after SIGHUP")
            m2 = e.metrics()
            assert sample(m2, "circuit_breaker_calls_total", dependency="a", result="success") >= a1
            # b started over: its counters came back from zero.
            assert sample(m2, "circuit_breaker_calls_total", dependency="b", result="failure") <= 1 < b1
            assert sample(m2, "resilience_exporter_config_last_reload_successful") == 1
            # A broken config keeps the running one and says so.
            e.write_config(dep("a", a) + "[dependency.broken\n")
            status, _, body = e.get("/-/reload", method="POST", data=b"")
            assert status == 500 and b"reload failed" in body, (status, body)
            m3 = e.metrics()
            assert sample(m3, "resilience_exporter_config_last_reload_successful") == 0
            assert sample(m3, "dependency_info", dependency="c", collector="fake", target="file://" + a) == 1
            assert sample(m3, "circuit_breaker_calls_total", dependency="a", result="success") >= a1
            assert "reload failed" in e.logs()
            e.write_config(dep("a", a))
            status, _, body = e.get("/-/reload", method="POST", data=b"")
            assert status == 200, (status, body)
            m4 = e.metrics()
            assert sample(m4, "resilience_exporter_config_last_reload_successful") == 1
            assert sample(m4, "dependency_info", dependency="b", collector="fake", target="file://" + b) is None
            assert sample(m4, "circuit_breaker_calls_total", dependency="a", result="success") >= a1
        finally:
            e.stop()

    def test_sigterm_exits_zero_fast_even_with_a_hung_probe(self):
        e = self.start(dep("h", self.script("sig", "hang"), interval="10s", timeout="8s"))
        time.sleep(0.5)
        t0 = time.monotonic()
        e.proc.signal(signal.SIGTERM)
        rc = e.proc.p.wait(5)
        took = time.monotonic() - t0
        assert rc == 0, (rc, e.logs())
        assert took < 2.0, "took %.2fs" % took
        e.stop()

    def test_json_logs_and_no_secret_anywhere(self):
        # The backend echoes the secret back (some do): the core must scrub it everywhere.
        s = self.script("sec", "fail auth failed for " + SECRET)
        e = self.start(dep("s", s, secret=SECRET, failure_threshold=1, recovery_timeout="500ms"),
                       extra_args=["--log.format=json", "--log.level=debug"])
        try:
            wait_until(lambda: '"breaker opened"' in e.logs(), 5, what="the breaker to open")
            bodies = [e.metrics_text(), e.get("/health")[2].decode(), e.get("/")[2].decode(), e.logs()]
            for b in bodies:
                assert SECRET not in b
            assert e.health()["dependencies"]["s"]["last_error"]["message"] == "auth failed for <redacted>"
            lines = [l for l in e.logs().splitlines() if l.strip()]
            assert lines
            for l in lines:
                try:
                    j = json.loads(l)
                except ValueError:
                    raise AssertionError("not JSON: %r" % l)
                assert {"ts", "level", "msg"} <= set(j), j
            assert any(json.loads(l)["msg"] == "breaker opened" for l in lines)
        finally:
            e.stop()

    def test_slow_success_lowers_score(self):
        s = self.script("slow", "ok 100")
        e = self.start(dep("slow", s, interval="1s", timeout="500ms", latency_budget="50ms"))
        try:
            wait_until(lambda: e.get("/-/ready")[0] == 200, 5, what="ready")
            score = sample(e.metrics(), "health_score", dependency="slow")
            assert 0.5 * 100 <= score < 52, score  # 50ms/100ms, floored at 0.5
        finally:
            e.stop()

    def test_command_line(self):
        b = xptest.FAKE_BINARY
        r = subprocess.run([b, "--bogus"], capture_output=True, text=True)
        assert r.returncode == 2 and "unknown flag --bogus" in r.stderr and "usage:" in r.stderr, r
        r = subprocess.run([b, "--version"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith("resilience_exporter, version "), r
        r = subprocess.run([b, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "--config.check" in r.stdout
        r = subprocess.run([b, "--log.level=loud"], capture_output=True, text=True)
        assert r.returncode == 2
        cfg = self.tmp.file("check.ini", dep("a", "/nonexistent"))
        r = subprocess.run([b, "--config.check", "--config.file=" + cfg], capture_output=True, text=True)
        assert r.returncode == 0 and "1 dependenc" in r.stdout, r

    def test_builtin_defaults_without_a_config_file(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGING_", "OPENAI_", "AWS_", "REDIS_", "S3_"))}
        port, p = xptest.listen_on_free_port(lambda port: xptest.Proc(
            [xptest.BINARY, "--web.listen-address=127.0.0.1:%d" % port], self.tmp.file("builtin.log"), env=env))
        try:
            _, _, body = xptest.http("http://127.0.0.1:%d/metrics" % port)
            m = xptest.parse_metrics(body.decode())
            targets = {dict(k[1])["dependency"]: dict(k[1])["target"] for k in m if k[0] == "dependency_info"}
            assert targets["database"] == "localhost:5432", targets
            assert targets["redis"] == "localhost:6379", targets
            assert targets["s3"].startswith("http://localhost:4566"), targets
            assert targets["openai"].startswith("https://api.openai.com/v1"), targets
            assert len([k for k in m if k[0] == "feature_availability"]) == 16
            assert "built-in defaults" in p.output()
        finally:
            p.stop()


if __name__ == "__main__":
    CoreTest().run()
