"""The postgres collector through the real binary against a real PostgreSQL 15: healthy with
plausible details, outage and recovery through the breaker, a frozen cluster (every process
SIGSTOPped) that must not slow probes past their deadline nor any scrape, a wrong password, a
failing query, and no secret anywhere the exporter writes."""
import subprocess

import scenarios
import srv_postgres
import xptest

SECRET = "pg-SENTINEL-s3cret"
WRONG = "pg-SENTINEL-wr0ng"
MAX_CONNECTIONS = 37  # distinctive, so dependency_postgres_max_connections cannot match by accident
TIMEOUT = 0.5
THRESHOLD = 3
HALF_OPEN_REQUESTS = 2


def config(dsn, password=SECRET, query=None, password_file=None):
    # interval 1s, timeout 500ms: each breaker test below fits in a few seconds. The latency
    # budget is the whole timeout: scores here are about the breaker, not a busy machine.
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
latency_budget = 500ms
failure_threshold = %d
recovery_timeout = 2s
half_open_requests = %d
open_level = emergency

[feature.orders]
min_level = minimal
requires = database
""" % (dsn, secret, "query = %s" % query if query else "", THRESHOLD, HALF_OPEN_REQUESTS)


def dep(h):
    return h["dependencies"]["database"]



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
        xptest.assert_no_secret(ex, (SECRET, WRONG))

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
            assert xptest.state_of(m, "database") == "closed"
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
            ex.wait_probes("database", 2, 10)
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
            m = scenarios.stop_until_open(ex, "database", self.pg, THRESHOLD)
            h = ex.health()
            assert dep(h)["last_probe"]["error"] == "connection refused", dep(h)["last_probe"]
            assert dep(h)["health_score"] == 0 and h["status"] == "emergency", h
            m = scenarios.start_until_closed(ex, "database", self.pg, THRESHOLD, HALF_OPEN_REQUESTS, m)
            assert xptest.sample(m, "dependency_postgres_max_connections", dependency="database") == MAX_CONNECTIONS
            self.assert_no_secret(ex)
        finally:
            if not self.pg.running():
                self.pg.start()
            ex.stop()

    def test_frozen_server_fails_at_deadline_scrapes_stay_fast(self):
        ex = self.exporter(config(self.pg.dsn()), "frozen")
        try:
            scenarios.frozen_server(ex, "database", self.pg, TIMEOUT, THRESHOLD)
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
