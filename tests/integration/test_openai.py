"""The openai collector through the real binary against a real OpenAI-compatible server
(@dwmkerr/mock-llm) that checks the API key: healthy, wrong key (401), rate limited (429),
server error (503), a model that is not listed, the x-ratelimit-remaining-* detail gauges,
the breaker opening and closing on server errors, and the key never leaking."""
import os

import srv_openai
import xptest

KEY = "sk-SENTINEL-key"
WRONG_KEY = "sk-SENTINEL-wrong"


def config(base_url, key_line, model=None, threshold=5, extra=""):
    return """
[dependency.openai]
collector = openai
base_url = %s
%s
%s
interval = 1s
timeout = 500ms
# the whole timeout: these tests are about statuses and the breaker, not a busy machine's latency
latency_budget = 500ms
failure_threshold = %d
recovery_timeout = 2s
half_open_requests = 1
%s

[feature.ai]
min_level = degraded
requires = openai
""" % (base_url, key_line, "model = %s" % model if model else "", threshold, extra)


def dep(h):
    return h["dependencies"]["openai"]



def last_error_is(text):
    return lambda h: dep(h)["last_probe"] is not None and dep(h)["last_probe"]["error"] == text


def succeeded(h):
    return dep(h)["last_probe"] is not None and dep(h)["last_probe"]["success"]


class OpenAITest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("openai")
        self.llm = srv_openai.OpenAIServer(self.tmp, KEY)
        self.key_file = self.tmp.file("openai.key", KEY + "\n", mode=0o600)

    def teardown_all(self):
        self.llm.stop()
        if not os.environ.get("XP_KEEP_TMP"):
            self.tmp.cleanup()

    def exporter(self, text, name):
        return self.track(xptest.Exporter(self.tmp, text, extra_args=["--log.level=debug"], name=name))

    def assert_no_secret(self, ex):
        xptest.assert_no_secret(ex, (KEY, WRONG_KEY, "SENTINEL"))

    def test_healthy_with_key_file_and_model(self):
        # Userinfo in base_url never reaches the target label.
        base = "http://user:%s@127.0.0.1:%d/v1" % (WRONG_KEY, self.llm.port)
        ex = self.exporter(config(base, "api_key_file = " + self.key_file, model="gpt-4o-mini"), "healthy")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"] is not None, 10, "the first probe")
            assert dep(h)["last_probe"]["success"] is True, dep(h)
            m = ex.metrics()
            assert xptest.sample(m, "dependency_probe_success", dependency="openai") == 1
            assert xptest.sample(m, "circuit_breaker_state", dependency="openai", state="closed") == 1
            assert xptest.sample(m, "health_score", dependency="openai") == 100
            assert xptest.sample(m, "feature_availability", feature="ai") == 1
            target = "http://127.0.0.1:%d/v1" % self.llm.port
            assert xptest.sample(m, "dependency_info", dependency="openai", collector="openai",
                                 target=target) == 1, [k for k in m if k[0] == "dependency_info"]
            # mock-llm sends no rate-limit headers: no detail series rather than made-up ones.
            assert not [k for k in m if k[0].startswith("openai_ratelimit")], m
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_wrong_key_is_401(self):
        ex = self.exporter(config(self.llm.base_url, "api_key = " + WRONG_KEY), "wrong-key")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"] is not None, 10, "the first probe")
            assert dep(h)["last_probe"]["error"] == "HTTP 401 unauthorized (check api_key)", dep(h)
            assert xptest.sample(ex.metrics(), "dependency_probe_success", dependency="openai") == 0
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_model_not_listed(self):
        ex = self.exporter(config(self.llm.base_url, "api_key = " + KEY, model="gpt-x"), "no-model")
        try:
            ex.wait_health(last_error_is("model gpt-x not listed"), 10, "the model error")
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_429_503_open_the_breaker_and_recovery_closes_it(self):
        llm = self.track(srv_openai.OpenAIServer(self.tmp, KEY, name="mock-llm-status"))
        ex = self.exporter(config(llm.base_url, "api_key = " + KEY, threshold=3), "status")
        try:
            ex.wait_health(succeeded, 10, "a first success")
            llm.set_status(429)
            h = ex.wait_health(last_error_is("HTTP 429 rate limited"), 5, "the 429 text")
            # Closed below three failures in a row (a slow test may see a later 429 than the first).
            assert (dep(h)["state"] == "closed") == (dep(h)["consecutive_failures"] < 3), dep(h)
            llm.set_status(503)
            ex.wait_health(last_error_is("HTTP 503 server error"), 5, "the 503 text")
            m = xptest.wait_until(lambda: (lambda m: xptest.state_of(m, "openai") == "open" and m)(ex.metrics()), 5,
                                  interval=0.02, what="the breaker to open")
            assert dep(ex.health())["last_error"]["message"] == "HTTP 503 server error", dep(ex.health())
            # Counted in the scrape that saw it open: no trial after it can have added one.
            assert xptest.calls(m, "openai", "failure") == 3
            assert xptest.sample(m, "feature_availability", feature="ai") == 0
            llm.reset()
            ex.wait_health(lambda h: dep(h)["state"] == "closed", 10, "the breaker to close")
            m = ex.metrics()
            assert xptest.sample(m, "circuit_breaker_transitions_total", dependency="openai",
                                 **{"from": "half_open", "to": "closed"}) == 1
            assert xptest.sample(m, "feature_availability", feature="ai") == 1
            self.assert_no_secret(ex)
        finally:
            self.stop_live()

    def test_ratelimit_detail_metrics(self):
        llm = self.track(srv_openai.OpenAIServer(self.tmp, KEY, name="mock-llm-ratelimit"))
        proxy = self.track(srv_openai.RateLimitProxy(self.tmp, llm.port, {
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-remaining-tokens": "29999994",
        }))
        ex = self.exporter(config(proxy.base_url, "api_key = " + KEY, threshold=10), "ratelimit")
        try:
            ex.wait_health(succeeded, 10, "a first success")
            text = ex.metrics_text()
            m = xptest.parse_metrics(text)
            assert xptest.sample(m, "dependency_openai_ratelimit_remaining_requests", dependency="openai") == 9999
            assert xptest.sample(m, "dependency_openai_ratelimit_remaining_tokens", dependency="openai") == 29999994
            assert "# TYPE dependency_openai_ratelimit_remaining_requests gauge" in text
            assert "# TYPE dependency_openai_ratelimit_remaining_tokens gauge" in text
            # OpenAI sends the headers with its 429s too: the gauges still come through.
            llm.set_status(429)
            ex.wait_health(last_error_is("HTTP 429 rate limited"), 5, "the 429 text")
            m = ex.metrics()
            assert xptest.sample(m, "dependency_openai_ratelimit_remaining_requests", dependency="openai") == 9999
            code, out = xptest.promtool_check(ex.metrics_text())
            assert code == 0, out
            self.assert_no_secret(ex)
        finally:
            self.stop_live()


if __name__ == "__main__":
    OpenAITest().run()
