"""The s3 collector through the real binary against a real, signature-checking S3 server
(@20minutes/s3rver) and a LocalStack stand-in in front of it: healthy, wrong secret, missing
bucket, outage and recovery through the breaker, a frozen server, LocalStack's health
document, and no secret anywhere the exporter writes."""
import os
import time

import srv_s3
import xptest

KEY = "AKIDEXAMPLE"
SECRET = "aws-SENTINEL-secret"
WRONG_SECRET = "aws-SENTINEL-wrong"


def config(endpoint, bucket="probe-bucket", secret=SECRET, threshold=3, extra=""):
    # interval 1s, timeout 500ms: every breaker test below fits in a few seconds.
    return """
[dependency.s3]
collector = s3
endpoint = %s
bucket = %s
region = us-east-1
access_key_id = %s
secret_access_key = %s
interval = 1s
timeout = 500ms
# A freshly started node server answers its first request slowly: these tests are about the
# breaker, not the latency factor, so give the budget most of the timeout.
latency_budget = 400ms
failure_threshold = %d
recovery_timeout = 2s
half_open_requests = 2
%s

[feature.uploads]
min_level = degraded
requires = s3
""" % (endpoint, bucket, KEY, secret, threshold, extra)


def dep(h):
    return h["dependencies"]["s3"]



def probed(h):
    """The first probe has finished."""
    return dep(h)["last_probe"] is not None


class S3Test(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("s3")
        self.s3 = srv_s3.S3Server(self.tmp, key=KEY, secret=SECRET)
        self.live = []  # what the running test started, stopped by its finally

    def stop_live(self):
        while self.live:
            try:
                self.live.pop().stop()
            except Exception as e:  # keep stopping the rest
                xptest.log("stop failed: %r" % e)

    def track(self, obj):
        self.live.append(obj)
        return obj

    def teardown_all(self):
        self.stop_live()  # leftovers of a test whose exporter failed to start
        self.s3.stop()
        if not os.environ.get("XP_KEEP_TMP"):
            self.tmp.cleanup()

    def exporter(self, text, name):
        return self.track(xptest.Exporter(self.tmp, text, extra_args=["--log.level=debug"], name=name))

    def assert_no_secret(self, ex):
        """No credential may reach a scrape, /health, / or the log (access_key_id is a secret
        too, by the SPEC)."""
        bodies = {"/metrics": ex.metrics_text(), "/health": ex.get("/health")[2].decode(),
                  "/": ex.get("/")[2].decode(), "log": ex.logs()}
        for where, text in bodies.items():
            for secret in (SECRET, WRONG_SECRET, "SENTINEL", KEY):
                assert secret not in text, "%s leaked into %s" % (secret, where)

    def calls(self, ex, result):
        return xptest.sample(ex.metrics(), "circuit_breaker_calls_total", dependency="s3", result=result)

    def test_healthy(self):
        # Userinfo in the endpoint must vanish from the target label (and from everything else).
        endpoint = "http://someone:%s@127.0.0.1:%d/" % (SECRET, self.s3.port)
        ex = self.exporter(config(endpoint), "healthy")
        try:
            h = ex.wait_health(lambda h: probed(h), 10, "the first s3 probe")
            assert dep(h)["last_probe"]["success"] is True, dep(h)
            assert dep(h)["last_probe"]["error"] is None
            m = ex.metrics()
            assert xptest.sample(m, "dependency_probe_success", dependency="s3") == 1
            assert xptest.sample(m, "circuit_breaker_state", dependency="s3", state="closed") == 1
            assert xptest.sample(m, "health_score", dependency="s3") == 100
            assert xptest.sample(m, "system_health_score") == 100
            assert xptest.sample(m, "feature_availability", feature="uploads") == 1
            target = "http://127.0.0.1:%d" % self.s3.port
            assert xptest.sample(m, "dependency_info", dependency="s3", collector="s3", target=target) == 1, \
                [k for k in m if k[0] == "dependency_info"]
            # Signed requests over a kept-alive connection are fast on loopback.
            assert dep(h)["last_probe"]["duration_seconds"] < 0.1, dep(h)["last_probe"]
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_wrong_secret(self):
        ex = self.exporter(config(self.s3.endpoint, secret=WRONG_SECRET), "wrong-secret")
        try:
            h = ex.wait_health(lambda h: probed(h), 10, "the first s3 probe")
            assert dep(h)["last_probe"]["success"] is False
            assert dep(h)["last_probe"]["error"] == "HTTP 403 access denied (check credentials)", dep(h)
            assert dep(h)["last_error"]["message"] == "HTTP 403 access denied (check credentials)"
            assert xptest.sample(ex.metrics(), "dependency_probe_success", dependency="s3") == 0
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_missing_bucket(self):
        ex = self.exporter(config(self.s3.endpoint, bucket="no-such-bucket"), "missing-bucket")
        try:
            h = ex.wait_health(lambda h: probed(h), 10, "the first s3 probe")
            assert dep(h)["last_probe"]["error"] == "HTTP 404 bucket not found", dep(h)
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_outage_opens_and_recovery_closes(self):
        s3 = self.track(srv_s3.S3Server(self.tmp, key=KEY, secret=SECRET, name="s3rver-outage"))
        ex = self.exporter(config(s3.endpoint), "outage")
        try:
            ex.wait_health(lambda h: dep(h)["last_probe"] and dep(h)["last_probe"]["success"], 10,
                           "a first successful probe")
            ok_before = self.calls(ex, "success")
            s3.stop()
            h = ex.wait_health(lambda h: dep(h)["state"] == "open", 10, "the breaker to open")
            assert "connection refused" in dep(h)["last_error"]["message"], dep(h)
            m = ex.metrics()
            # Exactly failure_threshold failures opened it; no probe ran once it was open.
            assert xptest.sample(m, "circuit_breaker_calls_total", dependency="s3", result="failure") == 3
            assert xptest.sample(m, "circuit_breaker_transitions_total", dependency="s3",
                                 **{"from": "closed", "to": "open"}) == 1
            assert xptest.sample(m, "health_score", dependency="s3") == 0
            assert xptest.sample(m, "feature_availability", feature="uploads") == 0
            assert xptest.sample(m, "circuit_breaker_recovery_seconds", dependency="s3") > 0
            xptest.wait_until(lambda: self.calls(ex, "rejected") >= 1, 5, what="a rejected tick while open")
            assert self.calls(ex, "failure") == 3

            s3.start()
            seen = set()

            def closed_again():
                st = dep(ex.health())["state"]
                seen.add(st)
                return st == "closed"
            xptest.wait_until(closed_again, 15, interval=0.05, what="the breaker to close again")
            # half_open_requests = 2: two trial successes, one tick apart, so HALF_OPEN lasts
            # about a second and the 50 ms polling sees it.
            assert "half_open" in seen, seen
            m = ex.metrics()
            assert xptest.sample(m, "circuit_breaker_transitions_total", dependency="s3",
                                 **{"from": "open", "to": "half_open"}) == 1
            assert xptest.sample(m, "circuit_breaker_transitions_total", dependency="s3",
                                 **{"from": "half_open", "to": "closed"}) == 1
            assert xptest.sample(m, "circuit_breaker_calls_total", dependency="s3", result="success") >= ok_before + 2
            score = xptest.sample(m, "health_score", dependency="s3")
            assert score == 100, (score, dep(ex.health()))
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_frozen_server_fails_at_deadline_and_scrapes_stay_fast(self):
        s3 = self.track(srv_s3.S3Server(self.tmp, key=KEY, secret=SECRET, name="s3rver-frozen"))
        ex = self.exporter(config(s3.endpoint, threshold=10), "frozen")
        try:
            ex.wait_health(lambda h: dep(h)["last_probe"] and dep(h)["last_probe"]["success"], 10,
                           "a first successful probe")
            s3.freeze()
            try:
                slowest = 0.0
                t_end = time.monotonic() + 3.5
                while time.monotonic() < t_end:
                    t0 = time.monotonic()
                    status, _, _ = ex.get("/metrics")
                    dt = time.monotonic() - t0
                    assert status == 200
                    slowest = max(slowest, dt)
                    time.sleep(0.05)
                xptest.log("slowest /metrics during the freeze: %.1f ms" % (slowest * 1000))
                assert slowest < 0.1, "a scrape took %.0f ms while s3 was frozen" % (slowest * 1000)
                h = ex.wait_health(lambda h: dep(h)["consecutive_failures"] >= 2, 5, "failures while frozen")
                lp = dep(h)["last_probe"]
                assert lp["success"] is False
                assert "timed out" in lp["error"], lp
                # The 500 ms timeout is a hard deadline: not much earlier, not much later.
                assert 0.45 <= lp["duration_seconds"] <= 0.65, lp
            finally:
                s3.thaw()
            ex.wait_health(lambda h: dep(h)["last_probe"]["success"], 10, "success after the thaw")
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_localstack_health(self):
        ls = self.track(srv_s3.LocalStackStandIn(self.tmp, self.s3.port, "running"))
        ex = self.exporter(config(ls.endpoint, threshold=10, extra="localstack_health = true"),
                           "localstack")
        try:
            h = ex.wait_health(lambda h: probed(h), 10, "the first probe")
            assert dep(h)["last_probe"]["success"] is True, dep(h)
            ls.set_s3("error")
            h = ex.wait_health(lambda h: not dep(h)["last_probe"]["success"], 5, "a failure on s3 error")
            assert dep(h)["last_probe"]["error"] == 'LocalStack health reports s3 "error"', dep(h)
            ls.set_s3(None)
            h = ex.wait_health(lambda h: "not listed" in (dep(h)["last_probe"]["error"] or ""), 5,
                               "a failure when s3 is not listed")
            ls.set_s3("available")
            ex.wait_health(lambda h: dep(h)["last_probe"]["success"], 5, "success on s3 available")
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_localstack_health_against_plain_s3(self):
        # Checking LocalStack's health on a server that is not LocalStack fails, saying so.
        ex = self.exporter(config(self.s3.endpoint, extra="localstack_health = true"), "not-localstack")
        try:
            h = ex.wait_health(lambda h: probed(h), 10, "the first probe")
            err = dep(h)["last_probe"]["error"]
            assert err.startswith("HTTP 404 from /_localstack/health"), err
        finally:
            self.stop_live()


if __name__ == "__main__":
    S3Test().run()
