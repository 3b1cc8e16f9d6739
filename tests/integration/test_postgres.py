"""The postgres collector through the real binary against a real PostgreSQL 15: healthy with
plausible details, outage and recovery through the breaker, a frozen cluster (every process
SIGSTOPped) that must not slow probes past their deadline nor any scrape, a wrong password, a
failing query, and no secret anywhere the exporter writes."""
import subprocess
import time

import srv_postgres
import xptest

SECRET = "pg-SENTINEL-s3cret"
WRONG = "pg-SENTINEL-wr0ng"
MAX_CONNECTIONS = 37  # distinctive, so dependency_postgres_max_connections cannot match by accident
TIMEOUT = 0.5
THRESHOLD = 3


def config(dsn, password=SECRET, query=None, password_file=None):
    # interval 1s, timeout 500ms: each breaker test below fits in a few seconds.
    secret = "password_file = %s" % password_file if password_file else "password = %s" % password
    return """
[exporter]
log_level = debug

[dependency.database]
collector = postgres
dsn = %s
%s
%s
interval = 1s
timeout = 500ms
failure_threshold = %d
recovery_timeout = 2s
half_open_requests = 2
open_level = emergency

[feature.orders]
min_level = minimal
requires = database
""" % (dsn, secret, "query = %s" % query if query else "", THRESHOLD)


def dep(h):
    return h["dependencies"]["database"]



def state_of(m):
    for s in ("closed", "open", "half_open"):
        if xptest.sample(m, "circuit_breaker_state", dependency="database", state=s) == 1:
            return s
    raise AssertionError("no breaker state set")


def calls(m, result):
    return xptest.sample(m, "circuit_breaker_calls_total", dependency="database", result=result)


def transitions(m, frm, to):
    return xptest.sample(m, "circuit_breaker_transitions_total", dependency="database", **{"from": frm, "to": to})


def timed_scrape(ex):
    t0 = time.monotonic()
    text = ex.metrics_text()
    return time.monotonic() - t0, text


class PostgresTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("postgres")
        self.pg = srv_postgres.Postgres(self.tmp.path, role="app", password=SECRET,
                                        extra_conf={"max_connections": MAX_CONNECTIONS})
        self.pg.start()

    def teardown_all(self):
        self.pg.cleanup()
        self.tmp.cleanup()

    def exporter(self, text, name):
        return xptest.Exporter(self.tmp, text, name=name)

    def assert_no_secret(self, ex):
        """Neither the right nor a wrong password in anything the exporter shows or logs."""
        _, _, page = ex.get("/")
        shown = ex.metrics_text() + ex.get("/health")[2].decode() + page.decode("utf-8", "replace") + ex.logs()
        for s in (SECRET, WRONG):
            assert s not in shown, "secret %r leaked" % s

    def test_healthy_with_details(self):
        pwfile = self.tmp.file("pg.pw", SECRET + "\n", mode=0o600)
        ex = self.exporter(config(self.pg.dsn(), password_file=pwfile), "healthy")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            assert dep(h)["last_probe"]["success"] is True, dep(h)
            assert dep(h)["last_probe"]["error"] is None
            assert dep(h)["state"] == "closed" and dep(h)["health_score"] == 100, dep(h)
            m = ex.metrics()
            assert xptest.sample(m, "dependency_probe_success", dependency="database") == 1
            assert state_of(m) == "closed"
            assert xptest.sample(m, "health_score", dependency="database") == 100
            # What the server itself says, not just "some number".
            assert int(self.pg.sql("SHOW max_connections")) == MAX_CONNECTIONS
            assert xptest.sample(m, "dependency_postgres_max_connections", dependency="database") == MAX_CONNECTIONS
            conns = xptest.sample(m, "dependency_postgres_connections", dependency="database")
            assert conns is not None and 1 <= conns <= MAX_CONNECTIONS, conns
            assert xptest.sample(m, "dependency_postgres_in_recovery", dependency="database") == 0
            assert xptest.sample(m, "dependency_info", dependency="database", collector="postgres",
                                 target="127.0.0.1:%d" % self.pg.port) == 1
            # The connection is kept between probes: one session, not one per probe.
            time.sleep(2.5)
            n = int(self.pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'"))
            assert n == 1, "exporter holds %d sessions" % n
            text = ex.metrics_text()
            for fam in ("dependency_postgres_connections", "dependency_postgres_max_connections", "dependency_postgres_in_recovery"):
                assert "# HELP %s " % fam in text and "# TYPE %s gauge" % fam in text, fam
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_stopped_opens_breaker_then_recovers(self):
        ex = self.exporter(config(self.pg.dsn()), "outage")
        try:
            ex.wait_health(lambda h: dep(h)["last_probe"] and dep(h)["last_probe"]["success"], 10, "a good probe")
            self.pg.stop()
            m = xptest.wait_until(lambda: (lambda m: state_of(m) == "open" and m)(ex.metrics()), 15,
                                  interval=0.02, what="breaker open")
            # Opened by exactly failure_threshold failures, each one a probe that ran.
            assert calls(m, "failure") == THRESHOLD, calls(m, "failure")
            assert transitions(m, "closed", "open") == 1
            assert xptest.sample(m, "dependency_probe_success", dependency="database") == 0
            h = ex.health()
            assert dep(h)["last_probe"]["error"] == "connection refused", dep(h)["last_probe"]
            assert dep(h)["health_score"] == 0 and h["status"] == "emergency", h

            self.pg.start()
            h = ex.wait_health(lambda h: dep(h)["state"] == "half_open", 10, "half_open")
            assert dep(h)["health_score"] == 50, dep(h)
            ex.wait_health(lambda h: dep(h)["state"] == "closed", 10, "closed again")
            m = ex.metrics()
            assert transitions(m, "open", "half_open") == 1
            assert transitions(m, "half_open", "closed") == 1
            assert transitions(m, "half_open", "open") == 0
            assert calls(m, "rejected") >= 1  # ticks skipped while OPEN
            assert xptest.sample(m, "dependency_probe_success", dependency="database") == 1
            assert xptest.sample(m, "dependency_postgres_max_connections", dependency="database") == MAX_CONNECTIONS
            self.assert_no_secret(ex)
        finally:
            if not self.pg.running():
                self.pg.start()
            ex.stop()

    def test_frozen_server_fails_at_deadline_scrapes_stay_fast(self):
        ex = self.exporter(config(self.pg.dsn()), "frozen")
        scrape_times = []
        try:  # the exporter is stopped whatever fails below
            try:  # and the server thawed
                ex.wait_health(lambda h: dep(h)["last_probe"] and dep(h)["last_probe"]["success"], 10, "a good probe")
                self.pg.freeze()
                t_end = time.monotonic() + 15
                opened = None
                while time.monotonic() < t_end:
                    dt, text = timed_scrape(ex)
                    scrape_times.append(dt)
                    m = xptest.parse_metrics(text)
                    if state_of(m) == "open":
                        opened = m
                        break
                    time.sleep(0.02)
                assert opened is not None, "breaker never opened while frozen"
                assert calls(opened, "failure") == THRESHOLD
                h = ex.health()
                lp = dep(h)["last_probe"]
                assert lp["success"] is False and "timed out" in lp["error"], lp
                # The probe ended at its deadline, neither early nor late.
                assert TIMEOUT - 0.05 <= lp["duration_seconds"] <= TIMEOUT + 0.2, lp
                # Every probe of this run ended within the 1 s bucket: none waited on the server.
                count = xptest.sample(opened, "dependency_probe_duration_seconds_count", dependency="database")
                le1 = xptest.sample(opened, "dependency_probe_duration_seconds_bucket", dependency="database", le="1")
                assert count == le1 and count >= THRESHOLD + 1, (count, le1)
                # Keep scraping through the rest of the freeze (OPEN: no probes, but still frozen).
                for _ in range(20):
                    scrape_times.append(timed_scrape(ex)[0])
                xptest.log("scrapes during freeze: n=%d max=%.1f ms" % (len(scrape_times), max(scrape_times) * 1000))
                assert max(scrape_times) < 0.1, "slowest scrape %.3fs" % max(scrape_times)
            finally:
                self.pg.thaw()
            ex.wait_health(lambda h: dep(h)["state"] == "closed", 15, "closed after thaw")
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_wrong_password(self):
        ex = self.exporter(config(self.pg.dsn(), password=WRONG), "wrongpw")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            err = dep(h)["last_probe"]["error"]
            assert dep(h)["last_probe"]["success"] is False
            assert err == 'password authentication failed for user "app"', err
            assert dep(h)["last_error"]["message"] == err
            assert xptest.sample(ex.metrics(), "dependency_probe_success", dependency="database") == 0
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_query_error_and_no_rows(self):
        ex = self.exporter(config(self.pg.dsn(), query="SELECT * FROM no_such_table"), "badquery")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            err = dep(h)["last_probe"]["error"]
            assert err == 'query failed: relation "no_such_table" does not exist', err
        finally:
            ex.stop()
        ex = self.exporter(config(self.pg.dsn(), query="SELECT 1 WHERE false"), "norows")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            assert dep(h)["last_probe"]["success"] is False
            assert "no rows" in dep(h)["last_probe"]["error"], dep(h)["last_probe"]
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_config_rejects_password_in_dsn(self):
        # A dsn is shown (target label, errors): a password in it must come through
        # password / password_file instead, and the refusal must not quote it.
        for dsn in ("postgresql://app:%s@127.0.0.1:%d/postgres" % (SECRET, self.pg.port),
                    "host=127.0.0.1 user=app password=%s" % SECRET):
            path = self.tmp.file("dsnpw.ini", "[dependency.db]\ncollector = postgres\ndsn = %s\n" % dsn)
            r = subprocess.run([xptest.BINARY, "--config.check", "--config.file=" + path],
                               capture_output=True, timeout=20)
            out = (r.stdout + r.stderr).decode()
            assert r.returncode == 2, (r.returncode, out)
            assert "dsn must not contain a password" in out, out
            assert SECRET not in out, out


if __name__ == "__main__":
    PostgresTest().run()
