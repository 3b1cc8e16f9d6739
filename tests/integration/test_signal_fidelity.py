"""Signal fidelity: an alarm must mean something.

1. Healthy real backends (PostgreSQL, Redis, s3rver, mock-llm) probed every second with the
   staging breaker settings: no breaker ever opens. The issue asks for 10 minutes; CI runs
   XP_FIDELITY_SECONDS (default 60), docs/hardening.md records a 600 s run.
2. A backend that fails every other probe (an OpenAI stand-in alternating 200 and 503): with
   failure_threshold 3 its breaker never opens, while the same backend behind threshold 1
   does open (so the alternation really reaches the breaker). It runs until 20 probes of each
   kind have been seen (a count, not a time), with a timeout the stand-in (a thread of this
   process) always beats on a busy machine: a probe timing out would be a failure the server
   did not send, two in a row."""
import json
import os
import threading
import time

import srv_openai
import srv_postgres
import srv_redis
import srv_s3
import xptest
from xptest import sample

OPEN_PAIRS = (("closed", "open"), ("half_open", "open"))


class Alternating:
    """GET /v1/models: 200 with a model list, then 503, then 200, ... per request."""

    def __init__(self):
        self.n = 0
        self.lsock, self.port = xptest.listening_socket(16)
        self.stopping = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        body = json.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}).encode()
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf.split(b"\r\n\r\n", 1)[1]
                self.n += 1
                if self.n % 2:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                else:
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.lsock.close()


def opens(m, d):
    return sum(sample(m, "circuit_breaker_transitions_total", dependency=d, **{"from": f, "to": t}) or 0 for f, t in OPEN_PAIRS)


class SignalFidelityTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("fidelity")

    def teardown_all(self):
        self.tmp.cleanup()

    def test_healthy_backends_never_open_a_breaker(self):
        seconds = float(os.environ.get("XP_FIDELITY_SECONDS", "60"))
        tmp = self.tmp
        pg = srv_postgres.Postgres(tmp.path, role="app", password="fid-pg-pw")
        rd = srv_redis.Redis(tmp.path, password="fid-redis-pw")
        servers = []
        try:
            pg.start()
            rd.start()
            s3 = srv_s3.S3Server(tmp, key="FIDKEY", secret="fid-s3-secret")
            servers.append(s3)
            ai = srv_openai.OpenAIServer(tmp, key="sk-fid")
            servers.append(ai)
            # The staging breaker settings (etc/resilience_exporter.ini) at a 1 s interval.
            cfg = """
[dependency.database]
collector = postgres
dsn = %s
password = fid-pg-pw
weight = 0.50
interval = 1s
timeout = 900ms
failure_threshold = 3
recovery_timeout = 20s
half_open_requests = 1
open_level = emergency

[dependency.redis]
collector = redis
address = %s
password = fid-redis-pw
weight = 0.15
interval = 1s
timeout = 900ms
failure_threshold = 5
recovery_timeout = 15s
half_open_requests = 2

[dependency.s3]
collector = s3
endpoint = %s
bucket = probe-bucket
access_key_id = FIDKEY
secret_access_key = fid-s3-secret
weight = 0.05
interval = 1s
timeout = 900ms
failure_threshold = 4
recovery_timeout = 25s
half_open_requests = 2

[dependency.openai]
collector = openai
base_url = %s
api_key = sk-fid
model = gpt-4o
weight = 0.30
interval = 1s
timeout = 900ms
failure_threshold = 5
recovery_timeout = 30s
half_open_requests = 2
open_level = limited
""" % (pg.dsn(), rd.address(), s3.endpoint, ai.base_url)
            e = xptest.Exporter(tmp, cfg)
            try:
                deps = ("database", "redis", "s3", "openai")
                xptest.wait_until(lambda: e.get("/-/ready")[0] == 200, 15, what="ready")
                t_end = time.monotonic() + seconds
                worst_level = 0
                while time.monotonic() < t_end:
                    m = e.metrics()
                    for d in deps:
                        assert sample(m, "circuit_breaker_state", dependency=d, state="closed") == 1, \
                            (d, e.health()["dependencies"][d])
                    worst_level = max(worst_level, sample(m, "degradation_level"))
                    time.sleep(min(2.0, max(0.0, t_end - time.monotonic())))
                m = e.metrics()
                summary = []
                for d in deps:
                    ok = sample(m, "circuit_breaker_calls_total", dependency=d, result="success")
                    bad = sample(m, "circuit_breaker_calls_total", dependency=d, result="failure")
                    n = sample(m, "dependency_probe_duration_seconds_count", dependency=d)
                    mean = sample(m, "dependency_probe_duration_seconds_sum", dependency=d) / n
                    summary.append("%s %d ok/%d failed, mean %.1f ms" % (d, ok, bad, mean * 1e3))
                    assert opens(m, d) == 0, d
                    assert ok >= seconds * 0.8, (d, ok)
                xptest.log("%.0f s at 1 s intervals: %s; worst level %d" % (seconds, "; ".join(summary), worst_level))
                assert "breaker opened" not in e.logs()
            finally:
                e.stop()
        finally:
            for s in servers:
                s.stop()
            rd.stop()
            rd.cleanup()
            pg.stop()
            pg.cleanup()

    def test_every_other_probe_failing_never_opens_threshold_3(self):
        a3, a1 = Alternating(), Alternating()
        try:
            cfg = ""
            for name, srv, thr in (("flappy3", a3, 3), ("flappy1", a1, 1)):
                cfg += ("[dependency.%s]\ncollector = openai\nbase_url = http://127.0.0.1:%d/v1\napi_key = sk-x\n"
                        "interval = 300ms\ntimeout = 250ms\nfailure_threshold = %d\nrecovery_timeout = 150ms\n\n") % (name, srv.port, thr)
            e = xptest.Exporter(self.tmp, cfg)
            try:
                worst = 0
                want = int(os.environ.get("XP_FLAPPING_PROBES", "20"))
                t_end = time.monotonic() + 30 * want  # only an exporter that stopped probing takes this long
                while True:
                    m = e.metrics()
                    worst = max(worst, sample(m, "circuit_breaker_consecutive_failures", dependency="flappy3") or 0)
                    assert sample(m, "circuit_breaker_state", dependency="flappy3", state="closed") == 1
                    if min(xptest.calls(m, "flappy3", "success") or 0, xptest.calls(m, "flappy3", "failure") or 0) >= want:
                        break
                    assert time.monotonic() < t_end, m
                    time.sleep(0.05)
                ok = sample(m, "circuit_breaker_calls_total", dependency="flappy3", result="success")
                bad = sample(m, "circuit_breaker_calls_total", dependency="flappy3", result="failure")
                xptest.log("flappy3: %d ok, %d failed, never more than %d failure in a row, %d opens; "
                           "flappy1 opened %d times" % (ok, bad, worst, opens(m, "flappy3"), opens(m, "flappy1")))
                assert ok >= want and abs(ok - bad) <= 2, (ok, bad)
                assert worst == 1, worst
                assert opens(m, "flappy3") == 0
                assert opens(m, "flappy1") >= 5  # the same alternation does reach a breaker
            finally:
                e.stop()
        finally:
            a3.stop()
            a1.stop()


if __name__ == "__main__":
    SignalFidelityTest().run()
