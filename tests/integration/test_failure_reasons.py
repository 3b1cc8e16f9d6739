"""Failure reasons (SPEC section 5) end to end: each failure a collector can meet against a real
server comes out as exactly one reason, in dependency_probe_failures_total{dependency,reason}
(which counts it while every other reason of that dependency stays 0), in /health's
last_probe.reason, in the "probe failed" and breaker log lines, and on the status page.

Real servers: PostgreSQL 15 (stopped = connect, frozen = timeout, wrong password = auth, a
database that does not exist = client_error, a query without a row = check), redis-server
(wrong password = auth, nothing listening = connect), mock-llm (wrong key = auth, 429 =
rate_limited, 503 = server_error, model not listed = check), s3rver (missing bucket =
client_error, wrong secret = auth, https:// to its plain port = tls) with the LocalStack
stand-in in front (s3 not running = check), and names under .invalid (dns). Garbage from a
Redis port (protocol) and oversized answers are in test_hostile_backends.py."""
import re
import socket

import srv_openai
import srv_postgres
import srv_redis
import srv_s3
import xptest

REASONS = ("timeout", "dns", "tls", "connect", "auth", "rate_limited", "server_error", "client_error",
           "protocol", "check")
PG_PW = "pg-reasons-pw"
REDIS_PW = "rd-reasons-pw"
AI_KEY = "sk-reasons-key"
S3_KEY, S3_SECRET = "AKIDREASONS", "s3-reasons-secret"
# Probes every second with a deadline long enough that a loaded machine rarely turns an
# answer into a timeout.
TIMING = "interval = 1s\ntimeout = 900ms\nfailure_threshold = 100\n"


def section(name, collector, keys, timing=TIMING):
    return "[dependency.%s]\ncollector = %s\n%s%s\n" % (
        name, collector, "".join("%s = %s\n" % kv for kv in keys.items()), timing)


def failures(m, dep):
    """{reason: count} of dependency_probe_failures_total for dep; every reason must be there."""
    out = {}
    for r in REASONS:
        v = xptest.sample(m, "dependency_probe_failures_total", dependency=dep, reason=r)
        assert v is not None, (dep, r, "series missing")
        out[r] = v
    return out


class ReasonsTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("reasons")

    def teardown_all(self):
        self.tmp.cleanup()

    def wait_reason(self, e, dep, reason, at_least=1, what=None):
        """Waits until dep has failed with `reason` at_least times in all and its last probe
        says so; returns the metrics of that moment."""
        seen = {}

        def check():
            h = e.health()["dependencies"][dep]
            lp = h["last_probe"]
            m = e.metrics()
            seen["m"], seen["lp"] = m, lp
            return lp is not None and lp["reason"] == reason and failures(m, dep)[reason] >= at_least
        try:
            xptest.wait_until(check, 15, what=what or "%s to fail with %s" % (dep, reason))
        except AssertionError:
            raise AssertionError("%s: last probe %r, failures %r" % (
                dep, seen.get("lp"), failures(seen["m"], dep) if "m" in seen else None))
        return seen["m"]

    def assert_only(self, m, dep, allowed):
        """Every reason of dep outside `allowed` is still 0. Except timeout: on a machine
        starved enough (seen: a 9 s stall with dozens of processes on 2 cores) a probe really
        does pass its deadline, and then timeout is the right reason (it comes first in the
        order of precedence); what must never happen is one failure read as another."""
        f = failures(m, dep)
        if f["timeout"] and "timeout" not in allowed:
            xptest.log("%s: %d probe(s) passed their deadline on this loaded machine" % (dep, f["timeout"]))
        others = {r: v for r, v in f.items() if r not in allowed | {"timeout"} and v != 0}
        assert not others, (dep, f)

    def test_every_series_present_from_start(self):
        # A listener that never accepts: the kernel completes the handshake into the backlog
        # and PING waits for its 30 s deadline, so the first probe is still running below.
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent.bind(("127.0.0.1", xptest.free_port()))
        silent.listen(8)
        e = xptest.Exporter(self.tmp, section("slow", "redis", {"address": "127.0.0.1:%d" % silent.getsockname()[1]},
                                              timing="interval = 60s\ntimeout = 30s\n"))
        try:
            xptest.wait_until(lambda: xptest.listening(silent.getsockname()[1]), 5)
            text = e.metrics_text()
            assert e.health()["dependencies"]["slow"]["last_probe"] is None
            assert failures(xptest.parse_metrics(text), "slow") == {r: 0 for r in REASONS}
            rc, out = xptest.promtool_check(text)
            assert rc == 0 and out.strip() == "", (rc, out)
        finally:
            e.stop()
            silent.close()

    def test_engine_reasons(self):
        """The core's own classification, through the test collector: a success that comes
        back after the deadline is a timeout (the breaker sees what the application would
        have), and a collector's reason passes through untouched."""
        stuck = self.tmp.file("stuck.script", "stuck 400\n")
        limited = self.tmp.file("limited.script", "fail reason=rate_limited slow down\n")
        text = section("stuck", "fake", {"script": stuck}, timing="interval = 1s\ntimeout = 100ms\n")
        text += section("limited", "fake", {"script": limited})
        e = xptest.Exporter(self.tmp, text, binary=xptest.FAKE_BINARY)
        try:
            m = self.wait_reason(e, "stuck", "timeout")
            self.assert_only(m, "stuck", {"timeout"})
            m = self.wait_reason(e, "limited", "rate_limited")
            self.assert_only(m, "limited", {"rate_limited"})
            assert e.health()["dependencies"]["limited"]["last_probe"]["error"] == "slow down"
        finally:
            e.stop()

    def test_postgres(self):
        pg = srv_postgres.Postgres(self.tmp.path, role="app", password=PG_PW)
        pg.start()
        e = None
        try:
            text = "[exporter]\nlog_level = debug\n\n"
            text += section("pg", "postgres", {"dsn": pg.dsn(), "password": PG_PW},
                            timing="interval = 1s\ntimeout = 500ms\nfailure_threshold = 100\n")
            text += section("pg_badpw", "postgres", {"dsn": pg.dsn(), "password": "not-" + PG_PW},
                            timing="interval = 1s\ntimeout = 900ms\nfailure_threshold = 1\nrecovery_timeout = 60s\n")
            text += section("pg_nodb", "postgres", {"dsn": pg.dsn(dbname="no_such_db"), "password": PG_PW})
            text += section("pg_norow", "postgres", {"dsn": pg.dsn(), "password": PG_PW,
                                                     "query": "SELECT 1 WHERE false"})
            text += section("pg_dns", "postgres", {"dsn": "host=nonexistent.invalid dbname=app user=app",
                                                   "password": PG_PW})
            e = xptest.Exporter(self.tmp, text)
            for dep, reason in (("pg_badpw", "auth"), ("pg_nodb", "client_error"), ("pg_norow", "check"),
                                ("pg_dns", "dns")):
                m = self.wait_reason(e, dep, reason)
                self.assert_only(m, dep, {reason})
            h = e.wait_health(lambda h: h["dependencies"]["pg"]["last_probe"] is not None, 10, "the first probe")
            lp = h["dependencies"]["pg"]["last_probe"]
            assert lp["success"] is True and lp["reason"] is None and lp["error"] is None, lp
            self.assert_only(e.metrics(), "pg", set())

            # Frozen (every process SIGSTOPped): the kept connection's query, or a new
            # connection's start-up exchange, never answers.
            pg.freeze()
            try:
                m = self.wait_reason(e, "pg", "timeout")
            finally:
                pg.thaw()
            self.assert_only(m, "pg", {"timeout"})
            e.wait_health(lambda h: h["dependencies"]["pg"]["last_probe"]["success"], 15, "recovery after thaw")

            # Stopped: refused. The kept connection may first read the shutdown notice (57P01,
            # server_error) before the reconnect is refused (SPEC section 5).
            pg.stop()
            m = self.wait_reason(e, "pg", "connect")
            self.assert_only(m, "pg", {"timeout", "connect", "server_error"})
            logs = e.logs()
        finally:
            if e:
                e.stop()
            pg.cleanup()
        # The reason is in the log lines of failed probes and of transitions.
        assert re.search(r'dependency=pg msg="probe failed" reason=timeout error=', logs), logs[-3000:]
        assert re.search(r'dependency=pg msg="probe failed" reason=connect error=', logs), logs[-3000:]
        assert re.search(r'dependency=pg_badpw msg="breaker opened" from=closed to=open reason=auth error="', logs), logs[-3000:]
        assert PG_PW not in logs

    def test_redis(self):
        r = srv_redis.Redis(self.tmp.path, password=REDIS_PW)
        r.start()
        e = None
        try:
            text = section("rd_badpw", "redis", {"address": r.address(), "password": "not-" + REDIS_PW})
            text += section("rd_nopw", "redis", {"address": r.address()})
            text += section("rd_down", "redis", {"address": "127.0.0.1:%d" % xptest.free_port()})
            text += section("rd_dns", "redis", {"address": "nonexistent.invalid:6379"})
            e = xptest.Exporter(self.tmp, text)
            for dep, reason in (("rd_badpw", "auth"), ("rd_nopw", "auth"), ("rd_down", "connect"),
                                ("rd_dns", "dns")):
                m = self.wait_reason(e, dep, reason, at_least=2)
                self.assert_only(m, dep, {reason})
            h = e.health()["dependencies"]
            assert "WRONGPASS" in h["rd_badpw"]["last_probe"]["error"], h["rd_badpw"]
            assert "NOAUTH" in h["rd_nopw"]["last_probe"]["error"], h["rd_nopw"]
            # The status page shows the reason next to the error.
            status, _, page = e.get("/")
            assert status == 200
            row = re.search(rb'<tr [^>]*data-dependency="rd_down".*?</tr>', page, re.S)
            assert row and b'<span class="reason">connect</span> connection refused' in row.group(0), page
        finally:
            if e:
                e.stop()
            r.cleanup()

    def test_openai(self):
        llm = srv_openai.OpenAIServer(self.tmp, AI_KEY)
        e = None
        try:
            text = section("ai", "openai", {"base_url": llm.base_url, "api_key": AI_KEY})
            text += section("ai_badkey", "openai", {"base_url": llm.base_url, "api_key": "sk-not-the-key"})
            text += section("ai_nomodel", "openai", {"base_url": llm.base_url, "api_key": AI_KEY,
                                                     "model": "gpt-no-such-model"})
            text += section("ai_dns", "openai", {"base_url": "http://nonexistent.invalid/v1", "api_key": AI_KEY})
            e = xptest.Exporter(self.tmp, text)
            for dep, reason in (("ai_badkey", "auth"), ("ai_nomodel", "check"), ("ai_dns", "dns")):
                m = self.wait_reason(e, dep, reason)
                self.assert_only(m, dep, {reason})
            e.wait_health(lambda h: (h["dependencies"]["ai"]["last_probe"] or {}).get("success"), 10, "ai healthy")
            self.assert_only(e.metrics(), "ai", set())

            llm.set_status(429)
            m = self.wait_reason(e, "ai", "rate_limited")
            self.assert_only(m, "ai", {"rate_limited"})
            llm.set_status(503)
            m = self.wait_reason(e, "ai", "server_error")
            self.assert_only(m, "ai", {"rate_limited", "server_error"})
            # While every answer is 503, the wrong key reads server_error too: the reason is
            # what the server said, not what the config holds.
            self.wait_reason(e, "ai_badkey", "server_error")
        finally:
            if e:
                e.stop()
            llm.stop()

    def test_s3(self):
        s3 = srv_s3.S3Server(self.tmp, key=S3_KEY, secret=S3_SECRET)
        ls = srv_s3.LocalStackStandIn(self.tmp, s3.port, s3_status="running")
        e = None
        try:
            base = {"region": "us-east-1", "access_key_id": S3_KEY, "secret_access_key": S3_SECRET}
            text = section("s3_nobucket", "s3", dict(base, endpoint=s3.endpoint, bucket="no-such-bucket"))
            text += section("s3_badsecret", "s3", dict(base, endpoint=s3.endpoint, bucket="probe-bucket",
                                                       secret_access_key="not-" + S3_SECRET))
            text += section("s3_tls", "s3", dict(base, endpoint="https://127.0.0.1:%d" % s3.port,
                                                 bucket="probe-bucket"))
            text += section("s3_ls", "s3", dict(base, endpoint=ls.endpoint, bucket="probe-bucket",
                                                localstack_health="true"))
            text += section("s3_dns", "s3", dict(base, endpoint="http://nonexistent.invalid:4566",
                                                 bucket="probe-bucket"))
            e = xptest.Exporter(self.tmp, text)
            for dep, reason in (("s3_nobucket", "client_error"), ("s3_badsecret", "auth"), ("s3_tls", "tls"),
                                ("s3_dns", "dns")):
                m = self.wait_reason(e, dep, reason)
                self.assert_only(m, dep, {reason})
            e.wait_health(lambda h: (h["dependencies"]["s3_ls"]["last_probe"] or {}).get("success"), 10,
                          "s3 behind LocalStack healthy")
            ls.set_s3("stopped")
            m = self.wait_reason(e, "s3_ls", "check")
            self.assert_only(m, "s3_ls", {"check"})
        finally:
            if e:
                e.stop()
            ls.stop()
            s3.stop()


if __name__ == "__main__":
    ReasonsTest().run()
