"""The s3 collector through the real binary against a real, signature-checking S3 server
(@20minutes/s3rver) and a LocalStack stand-in in front of it: healthy, wrong secret, missing
bucket, outage and recovery through the breaker, a frozen server, LocalStack's health
document, and no secret anywhere the exporter writes."""
import os

import scenarios
import srv_s3
import xptest

KEY = "AKIDEXAMPLE"
SECRET = "aws-SENTINEL-secret"
WRONG_SECRET = "aws-SENTINEL-wrong"
TIMEOUT = 0.5
THRESHOLD = 3
HALF_OPEN_REQUESTS = 2


def config(endpoint, bucket="probe-bucket", secret=SECRET, threshold=THRESHOLD, extra=""):
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
# These tests are about the breaker, not the latency factor (node, on a busy machine, is not
# always quick): the budget is the whole timeout.
latency_budget = 500ms
failure_threshold = %d
recovery_timeout = 2s
half_open_requests = %d
%s

[feature.uploads]
min_level = degraded
requires = s3
""" % (endpoint, bucket, KEY, secret, threshold, HALF_OPEN_REQUESTS, extra)


def dep(h):
    return h["dependencies"]["s3"]



def probed(h):
    """The first probe has finished."""
    return dep(h)["last_probe"] is not None


class S3Test(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("s3")
        self.s3 = srv_s3.S3Server(self.tmp, key=KEY, secret=SECRET)

    def teardown_all(self):
        self.s3.stop()
        if not os.environ.get("XP_KEEP_TMP"):
            self.tmp.cleanup()

    def exporter(self, text, name):
        return self.track(xptest.Exporter(self.tmp, text, extra_args=["--log.level=debug"], name=name))

    def assert_no_secret(self, ex):
        """No credential may reach a scrape, /health, / or the log (access_key_id is a secret
        too, by the SPEC)."""
        xptest.assert_no_secret(ex, (SECRET, WRONG_SECRET, "SENTINEL", KEY))

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
            m = scenarios.stop_until_open(ex, "s3", s3, THRESHOLD)
            assert "connection refused" in dep(ex.health())["last_error"]["message"], dep(ex.health())
            assert xptest.sample(m, "health_score", dependency="s3") == 0
            assert xptest.sample(m, "feature_availability", feature="uploads") == 0
            assert xptest.sample(m, "circuit_breaker_recovery_seconds", dependency="s3") > 0
            m = scenarios.start_until_closed(ex, "s3", s3, THRESHOLD, HALF_OPEN_REQUESTS, m)
            score = xptest.sample(m, "health_score", dependency="s3")
            assert score == 100, (score, dep(ex.health()))
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_frozen_server_fails_at_deadline_and_scrapes_stay_fast(self):
        s3 = self.track(srv_s3.S3Server(self.tmp, key=KEY, secret=SECRET, name="s3rver-frozen"))
        ex = self.exporter(config(s3.endpoint), "frozen")
        try:
            scenarios.frozen_server(ex, "s3", s3, TIMEOUT, THRESHOLD)
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
