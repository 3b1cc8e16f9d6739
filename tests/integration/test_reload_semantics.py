"""A reload compares meaning, not text (SPEC section 3, issue 9): a dependency whose section is
only reordered, has a duration written in other units, or has its comments edited keeps its
breaker, OPEN with its counters, against a real Redis that was started and then stopped. A
reload that changes a setting or rotates its password file starts the dependency afresh."""
import os
import sys

import srv_redis
import xptest
from xptest import wait_until

DEP = "cache"


def sample(m, name, **labels):
    return xptest.sample(m, name, dependency=DEP, **labels)


def state_of(m):
    for s in ("closed", "open", "half_open"):
        if sample(m, "circuit_breaker_state", state=s) == 1:
            return s
    raise AssertionError("no breaker state set")


def counts(m):
    return {
        "failure": sample(m, "circuit_breaker_calls_total", result="failure"),
        "rejected": sample(m, "circuit_breaker_calls_total", result="rejected"),
        "opened": sample(m, "circuit_breaker_transitions_total", **{"from": "closed", "to": "open"}),
    }


ORIGINAL = """[dependency.cache]
collector = redis
address = {address}
password_file = {pw}
interval = 200ms
timeout = 100ms
failure_threshold = 2
recovery_timeout = 1h
"""

# The same settings: keys reordered, durations in other units, comments and blank lines,
# a default written out.
SAME_MEANING = """; the cache, rewritten by hand
[dependency.cache]   ; still redis

recovery_timeout = 60m   ; an hour, as before
failure_threshold = 2
timeout = 0.1
interval = 0.2s
half_open_requests = 1   ; the default
password_file = {pw}
address = {address}
collector = redis
"""


class ReloadSemantics(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("reload-semantics")

    def teardown_all(self):
        self.tmp.cleanup()

    def start_open(self):
        """An exporter whose one breaker is OPEN on a stopped Redis; returns (exporter, config
        values, the metrics when it opened)."""
        rd = srv_redis.Redis(self.tmp.path, password="reload-pw-1")
        rd.start()
        address = rd.address()
        rd.stop()  # a real server, stopped: connection refused from now on
        rd.cleanup()
        values = {"address": address, "pw": self.tmp.file("pw", "reload-pw-1\n")}
        ex = xptest.Exporter(self.tmp, ORIGINAL.format(**values), name="reload",
                             extra_args=["--web.enable-lifecycle"])
        # Long enough OPEN that a fresh breaker could not have counted as many rejections.
        wait_until(lambda: state_of(ex.metrics()) == "open" and counts(ex.metrics())["rejected"] >= 15,
                   20, what="the breaker OPEN on the stopped redis")
        return ex, values, ex.metrics()

    def reload_with(self, ex, text):
        with open(ex.config_path, "w") as f:
            f.write(text)
        status, _, body = ex.get("/-/reload", method="POST", data=b"")
        assert status == 200, (status, body)

    def test_same_meaning_keeps_the_open_breaker(self):
        ex, values, before = self.start_open()
        try:
            c0 = counts(before)
            assert c0["failure"] == 2 and c0["opened"] == 1, c0
            self.reload_with(ex, SAME_MEANING.format(**values))
            assert "unchanged_dependencies=1" in ex.logs(), ex.logs()[-2000:]
            # Still OPEN, nothing counted again: no new probe failed, the rejected ticks go on
            # from where they were (a new breaker would start CLOSED, from 0, and probe).
            wait_until(lambda: counts(ex.metrics())["rejected"] >= c0["rejected"] + 2, 10,
                       what="more rejected ticks after the reload")
            m = ex.metrics()
            assert state_of(m) == "open", state_of(m)
            c1 = counts(m)
            assert c1["failure"] == 2 and c1["opened"] == 1, (c0, c1)
            # An edit of comments alone, on top: the same again.
            self.reload_with(ex, "; edited\n" + SAME_MEANING.format(**values).replace("; an hour, as before", ""))
            assert ex.logs().count("unchanged_dependencies=1") == 2, ex.logs()[-2000:]
            m = ex.metrics()
            assert state_of(m) == "open" and counts(m)["failure"] == 2 and counts(m)["opened"] == 1, counts(m)
            assert counts(m)["rejected"] >= c1["rejected"], (c1, counts(m))
        finally:
            ex.stop()

    def test_a_real_change_starts_afresh(self):
        # The control: the test above could fail. A changed threshold or a rotated password
        # file is a new dependency, with a new breaker and counters from 0.
        for change in ("threshold", "password"):
            ex, values, before = self.start_open()
            try:
                rejected = counts(before)["rejected"]
                if change == "threshold":
                    text = ORIGINAL.format(**values).replace("failure_threshold = 2", "failure_threshold = 50")
                else:
                    self.tmp.file("pw", "reload-pw-2\n")
                    text = ORIGINAL.format(**values)
                self.reload_with(ex, text)
                assert "unchanged_dependencies=0" in ex.logs(), ex.logs()[-2000:]
                m = ex.metrics()
                c = counts(m)
                assert c["rejected"] < rejected, (change, c, rejected)
                if change == "threshold":  # 50 failures take 10 s: CLOSED, nothing carried over
                    assert state_of(m) == "closed" and c["opened"] == 0, (state_of(m), c)
            finally:
                ex.stop()


if __name__ == "__main__":
    if not os.path.exists(xptest.BINARY):
        print("binary %s not built" % xptest.BINARY, file=sys.stderr)
        sys.exit(1)
    ReloadSemantics().run()
