"""Run-time modes and ignored failures (SPEC section 5, "Modes" and "Failure reasons") against
real servers: a real redis-server 7 and the OpenAI stand-in (@dwmkerr/mock-llm).

- `POST /-/breakers/redis?mode=forced_open&for=3s` against a healthy Redis: the breaker reads
  OPEN at once, the features that require redis are off, no probe reaches Redis while the mode
  lasts (counted on the server: INFO commandstats, calls of PING, the probe's command; this
  test never sends PING itself), back to auto about 3 s later through HALF_OPEN with a trial
  at once, then CLOSED and probing again.
- The gate: 403 without --web.enable-lifecycle, 401 without credentials when basic auth is
  configured (200 with them); a bad mode or duration 400 with a message naming what is
  wrong, an unknown dependency 404; none of them changes anything.
- `ignore_reasons = rate_limited` with the stand-in answering 429: each such probe counts as
  result="ignored" and as a rate_limited failure; consecutive_failures, the state and the
  failure rate stay as the last real failure left them (neither tripped nor reset), although
  more ignored failures ran than failure_threshold.
Counts, not durations, are asserted, except the end of `for=3s`, whose deadline is the point:
no earlier than 3 s after the request was sent, no later than 7 s (a loaded 2-core machine).
"""
import json
import time

import srv_openai
import srv_redis
import xptest
import xpweb
from xptest import sample

REDIS_PW = "modes-redis-pw"
USER, PASSWORD = "ops", "modes-web-password"
OPENAI_KEY = "sk-modes-test-key"


def redis_config(redis):
    # Interval 500 ms (timeout 400 ms): a 3 s window holds about six ticks.
    return """[exporter]
log_level = info
[dependency.redis]
collector = redis
address = %s
password = %s
interval = 500ms
timeout = 400ms
failure_threshold = 3
recovery_timeout = 1s
[feature.session_storage]
min_level = emergency
requires = redis
[feature.read_only_access]
min_level = emergency
""" % (redis.address(), REDIS_PW)


def pings(redis):
    """PINGs the server has answered so far: one per probe (tests never PING)."""
    line = [l for l in redis.command("INFO", "commandstats").splitlines() if l.startswith("cmdstat_ping:")]
    if not line:
        return 0
    fields = dict(kv.split("=") for kv in line[0].split(":", 1)[1].split(","))
    return int(fields["calls"])


def post(e, path, headers=None, data=None):
    status, _, body = e.get(path, method="POST", headers=headers, data=data)
    return status, body.decode("utf-8", "replace")


def feature(e, name):
    status, _, body = e.get("/health/features/" + name)
    return status, json.loads(body)


class ModeOverridesTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("modes")

    def teardown_all(self):
        self.tmp.cleanup()

    def redis(self):
        r = self.track(srv_redis.Redis(self.tmp.path, password=REDIS_PW))
        r.start()
        return r

    def test_forced_open_for_3s_against_a_healthy_redis(self):
        r = self.redis()
        e = self.track(xptest.Exporter(self.tmp, redis_config(r), extra_args=["--web.enable-lifecycle"]))
        xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 15, what="/-/ready")
        e.wait_probes("redis", 2, 15)
        m = e.metrics()
        assert xptest.state_of(m, "redis") == "closed", e.health()["dependencies"]["redis"]
        assert feature(e, "session_storage")[0] == 200
        before = pings(r)
        assert before >= 2, before

        sent = time.time()
        status, body = post(e, "/-/breakers/redis?mode=forced_open&for=3s")
        assert status == 200, (status, body)
        doc = json.loads(body)
        assert doc["dependency"] == "redis" and doc["mode"] == "forced_open", doc
        assert doc["configured_mode"] == "auto" and doc["state"] == "open", doc
        assert sent + 2.9 <= doc["until"] <= time.time() + 3.1, (sent, doc)

        # OPEN at once: the next scrape and the next /health say so, features are off.
        m = e.metrics()
        assert xptest.state_of(m, "redis") == "open"
        assert sample(m, "circuit_breaker_mode", dependency="redis", mode="forced_open") == 1
        assert sample(m, "circuit_breaker_mode", dependency="redis", mode="auto") == 0
        assert xptest.transitions(m, "redis", "closed", "open") == 1
        h = e.health()
        assert h["dependencies"]["redis"]["mode"] == "forced_open", h["dependencies"]["redis"]
        assert abs(h["dependencies"]["redis"]["mode_until"] - doc["until"]) < 0.01, h["dependencies"]["redis"]
        assert h["features"]["session_storage"] is False and h["features"]["read_only_access"] is True, h
        status, f = feature(e, "session_storage")
        assert status == 503 and f["blocked_by"] == ["redis"], (status, f)
        assert e.get("/health/dependencies/redis")[0] == 503
        assert sample(m, "feature_availability", feature="session_storage") == 0

        # A probe that had started before the POST may still reach Redis, within its timeout
        # (400 ms); after that, none until the mode ends.
        time.sleep(0.5)
        settled = pings(r)
        assert settled - before <= 1, (before, settled)
        rejected0 = xptest.calls(e.metrics(), "redis", "rejected") or 0
        last_forced = settled
        while True:
            count = pings(r)  # read first: the /health that follows says it was still forced
            mode = e.health()["dependencies"]["redis"]["mode"]
            if mode != "forced_open":
                break
            last_forced = count
            assert time.time() - sent < 7, "still forced_open 7 s after a for=3s"
            time.sleep(0.05)
        ended = time.time() - sent
        assert mode == "auto", mode
        assert last_forced == settled, "probes reached Redis while forced open: %d -> %d" % (settled, last_forced)
        # Not earlier than asked; the bound above (7 s) holds on a loaded 2-core machine.
        assert ended >= 2.95, ended
        m = e.metrics()
        rejected = (xptest.calls(m, "redis", "rejected") or 0) - rejected0
        assert rejected >= 2, "ticks while forced open count as rejected: %d" % rejected

        # Leaving forced_open: HALF_OPEN with a trial at once, which closes it (Redis is up).
        h = e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "closed", 10,
                          "redis closed after the mode ended")
        assert h["features"]["session_storage"] is True, h
        assert h["dependencies"]["redis"]["mode_until"] is None, h["dependencies"]["redis"]
        m = e.metrics()
        assert xptest.transitions(m, "redis", "open", "half_open") == 1
        assert xptest.transitions(m, "redis", "half_open", "closed") == 1
        assert sample(m, "circuit_breaker_mode", dependency="redis", mode="auto") == 1
        assert feature(e, "session_storage")[0] == 200
        resumed = pings(r)
        assert resumed > settled, (settled, resumed)
        e.wait_probes("redis", 2, 10)
        assert pings(r) >= resumed + 2

        # The change and its end are events naming who asked.
        status, _, body = e.get("/events")
        events = [ev for ev in json.loads(body)["events"] if ev["type"] == "mode"]
        assert any(ev["dependency"] == "redis" and ev["to"] == "forced_open" and ev["client"] == "127.0.0.1"
                   for ev in events), events
        assert any(ev["dependency"] == "redis" and ev["from"] == "forced_open" and ev["to"] == "auto"
                   for ev in events), events
        assert "127.0.0.1" in e.logs()

    def test_bad_requests_change_nothing(self):
        r = self.redis()
        e = self.track(xptest.Exporter(self.tmp, redis_config(r), extra_args=["--web.enable-lifecycle"]))
        xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 15, what="/-/ready")
        cases = [
            ("/-/breakers/redis?mode=sideways", 400,
             'mode must be auto, forced_open, disabled or metrics_only, not \\"sideways\\"'),
            ("/-/breakers/redis", 400, "mode is required"),
            ("/-/breakers/redis?mode=forced_open&for=3parsecs", 400,
             'for must be a positive duration such as 500ms, 10s, 30m or 1h'),
            ("/-/breakers/redis?mode=forced_open&for=-5s", 400, "for must be a positive duration"),
            ("/-/breakers/redis?mode=auto&for=10s", 400, "for needs a mode other than auto"),
            ("/-/breakers/nosuch?mode=forced_open", 404, 'unknown dependency \\"nosuch\\"'),
        ]
        for path, want, message in cases:
            status, body = post(e, path)
            assert status == want, (path, status, body)
            assert message in body, (path, body)
            assert json.loads(body)["error"], body
        # the form body works like the query string, and is checked the same way
        status, body = post(e, "/-/breakers/redis", headers={"Content-Type": "application/x-www-form-urlencoded"},
                            data=b"mode=forced_open&for=1fortnight")
        assert status == 400 and "for must be" in body, (status, body)
        assert e.get("/-/breakers/redis")[0] == 405
        m = e.metrics()
        assert sample(m, "circuit_breaker_mode", dependency="redis", mode="auto") == 1
        assert xptest.state_of(m, "redis") == "closed"
        assert (xptest.transitions(m, "redis", "closed", "open") or 0) == 0
        assert not [ev for ev in json.loads(e.get("/events")[2])["events"] if ev["type"] == "mode"]
        # and a good form body is obeyed
        status, body = post(e, "/-/breakers/redis", headers={"Content-Type": "application/x-www-form-urlencoded"},
                            data=b"mode=disabled")
        assert status == 200 and json.loads(body)["mode"] == "disabled", (status, body)
        assert json.loads(body)["until"] is None, body
        assert sample(e.metrics(), "circuit_breaker_mode", dependency="redis", mode="disabled") == 1

    def test_lifecycle_and_credentials_gate(self):
        r = self.redis()
        # Without --web.enable-lifecycle: 403, and the mode does not change.
        e = self.track(xptest.Exporter(self.tmp, redis_config(r)))
        xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 15, what="/-/ready")
        status, body = post(e, "/-/breakers/redis?mode=forced_open")
        assert status == 403 and "--web.enable-lifecycle" in body, (status, body)
        probes = pings(r)
        e.wait_probes("redis", 2, 10)
        m = e.metrics()
        assert sample(m, "circuit_breaker_mode", dependency="redis", mode="auto") == 1
        assert xptest.state_of(m, "redis") == "closed"
        assert pings(r) >= probes + 2
        e.stop()

        # With basic auth configured: 401 without credentials or with wrong ones, 200 with them.
        web = self.tmp.file("web.yml", xpweb.web_yaml(users={USER: xpweb.bcrypt_hash(USER, PASSWORD)}))
        e = self.track(xptest.Exporter(self.tmp, redis_config(r),
                                       extra_args=["--web.enable-lifecycle", "--web.config.file=" + web]))
        auth = xpweb.basic(USER, PASSWORD)
        xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 15, what="/-/ready")
        status, headers, _ = e.get("/-/breakers/redis?mode=forced_open", method="POST")
        assert status == 401 and "Basic" in headers.get("WWW-Authenticate", ""), (status, headers)
        status, _, _ = e.get("/-/breakers/redis?mode=forced_open", method="POST",
                             headers=xpweb.basic(USER, "wrong"))
        assert status == 401, status
        m = xptest.parse_metrics(e.get("/metrics", headers=auth)[2].decode())
        assert sample(m, "circuit_breaker_mode", dependency="redis", mode="auto") == 1
        assert xptest.state_of(m, "redis") == "closed"
        status, body = post(e, "/-/breakers/redis?mode=forced_open&for=1h", headers=auth)
        assert status == 200, (status, body)
        m = xptest.parse_metrics(e.get("/metrics", headers=auth)[2].decode())
        assert xptest.state_of(m, "redis") == "open"
        assert PASSWORD not in e.logs()

    def test_ignored_rate_limited_failures(self):
        ai = srv_openai.OpenAIServer(self.tmp, OPENAI_KEY)
        self.track(ai)
        cfg = """[exporter]
log_level = info
[dependency.openai]
collector = openai
base_url = %s
api_key = %s
interval = 1s
timeout = 900ms
failure_threshold = 3
recovery_timeout = 1h
window_calls = 20
minimum_calls = 2
failure_rate_threshold = 90%%
ignore_reasons = rate_limited
[feature.ai_recommendations]
min_level = emergency
requires = openai
""" % (ai.base_url, OPENAI_KEY)
        e = self.track(xptest.Exporter(self.tmp, cfg))
        xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 20, what="/-/ready")
        e.wait_probes("openai", 2, 20)
        m = e.metrics()
        assert xptest.calls(m, "openai", "success") >= 2

        # One real failure (503): consecutive_failures 1, still CLOSED.
        ai.set_status(503)
        e.wait_health(lambda h: h["dependencies"]["openai"]["consecutive_failures"] >= 1, 20,
                      "a server_error failure")
        ai.set_status(429)
        xptest.wait_until(lambda: (sample(e.metrics(), "dependency_probe_failures_total", dependency="openai",
                                          reason="rate_limited") or 0) >= 1, 20, what="a 429 probe")
        m0, h0 = e.metrics(), e.health()["dependencies"]["openai"]
        cf0 = h0["consecutive_failures"]
        assert 1 <= cf0 < 3 and h0["state"] == "closed", h0
        assert h0["last_probe"]["reason"] == "rate_limited" and h0["last_probe"]["success"] is False, h0
        ignored0 = xptest.calls(m0, "openai", "ignored")
        assert ignored0 >= 1, ignored0

        # More ignored failures than failure_threshold: nothing trips, nothing resets.
        xptest.wait_until(lambda: xptest.calls(e.metrics(), "openai", "ignored") >= ignored0 + 4, 30,
                          what="four more 429 probes")
        m1, h1 = e.metrics(), e.health()
        d1 = h1["dependencies"]["openai"]
        assert d1["state"] == "closed" and d1["consecutive_failures"] == cf0, (h0, d1)
        assert xptest.calls(m1, "openai", "failure") == xptest.calls(m0, "openai", "failure"), "a 429 counted as failure"
        assert sample(m1, "circuit_breaker_failure_rate", dependency="openai") == \
            sample(m0, "circuit_breaker_failure_rate", dependency="openai"), "an ignored failure entered the window"
        assert (xptest.transitions(m1, "openai", "closed", "open") or 0) == 0
        assert h1["features"]["ai_recommendations"] is True, h1
        # ... but it is a failed probe everywhere else
        ignored = xptest.calls(m1, "openai", "ignored") - ignored0
        limited = (sample(m1, "dependency_probe_failures_total", dependency="openai", reason="rate_limited")
                   - sample(m0, "dependency_probe_failures_total", dependency="openai", reason="rate_limited"))
        assert ignored == limited and ignored >= 4, (ignored, limited)
        assert sample(m1, "dependency_probe_success", dependency="openai") == 0
        assert "429" in d1["last_probe"]["error"], d1
        assert d1["last_error"]["message"] and sample(
            m1, "circuit_breaker_last_failure_timestamp_seconds", dependency="openai") > 0

        # A success resets the count; an ignored failure never did.
        ai.reset()
        e.wait_health(lambda h: h["dependencies"]["openai"]["consecutive_failures"] == 0, 20, "a success")
        assert OPENAI_KEY not in e.logs()


if __name__ == "__main__":
    ModeOverridesTest().run()
