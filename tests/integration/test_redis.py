"""The redis collector through the real binary against a real redis-server 7: healthy with
details that match INFO, outage and recovery through the breaker, a frozen server (SIGSTOP:
the kernel still accepts connections) that must not slow probes past their deadline nor any
scrape, wrong and missing passwords, a unix socket with an ACL user and a db, and no secret
anywhere the exporter writes."""
import subprocess

import scenarios
import srv_redis
import xptest

SECRET = "rd-SENTINEL-s3cret"
WRONG = "rd-SENTINEL-wr0ng"
ACL_SECRET = "acl-SENTINEL-pw"
MAXMEMORY = 64 * 1024 * 1024
TIMEOUT = 0.5
THRESHOLD = 3
HALF_OPEN_REQUESTS = 2


def config(address, password=SECRET, username=None, db=None):
    lines = ["address = %s" % address]
    if password is not None:
        lines.append("password = %s" % password)
    if username:
        lines.append("username = %s" % username)
    if db is not None:
        lines.append("db = %d" % db)
    # interval 1s, timeout 500ms: each breaker test below fits in a few seconds. The latency
    # budget is the whole timeout: scores here are about the breaker, not a busy machine.
    return """
[exporter]
log_level = debug

[dependency.cache]
collector = redis
%s
interval = 1s
timeout = 500ms
latency_budget = 500ms
failure_threshold = %d
recovery_timeout = 2s
half_open_requests = %d
open_level = degraded

[feature.sessions]
min_level = limited
requires = cache
""" % ("\n".join(lines), THRESHOLD, HALF_OPEN_REQUESTS)


def dep(h):
    return h["dependencies"]["cache"]



def good_probe(h):
    return dep(h)["last_probe"] and dep(h)["last_probe"]["success"]


def detail(m, name):
    return xptest.sample(m, name, dependency="cache")


class RedisTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("redis")
        self.rd = srv_redis.Redis(self.tmp.path, password=SECRET, unix_socket=True,
                                  extra_args=["--maxmemory", str(MAXMEMORY)])
        self.rd.start()

    def teardown_all(self):
        self.rd.cleanup()
        self.tmp.cleanup()

    def exporter(self, text, name):
        return xptest.Exporter(self.tmp, text, name=name)

    def assert_no_secret(self, ex):
        xptest.assert_no_secret(ex, (SECRET, WRONG, ACL_SECRET))

    def test_healthy_details_match_info(self):
        self.rd.command("FLUSHALL")
        self.rd.command("CONFIG", "RESETSTAT")
        self.rd.command("SET", "k", "v")
        for _ in range(3):
            self.rd.command("GET", "k")
        for _ in range(2):
            self.rd.command("GET", "missing")
        ex = self.exporter(config(self.rd.address()), "healthy")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            assert good_probe(h), dep(h)
            assert dep(h)["state"] == "closed" and dep(h)["health_score"] == 100, dep(h)
            m = ex.metrics()
            assert xptest.sample(m, "dependency_probe_success", dependency="cache") == 1
            assert xptest.state_of(m, "cache") == "closed"
            # The exact counts this test caused; the probe itself reads no keys.
            assert detail(m, "dependency_redis_keyspace_hits_total") == 3, detail(m, "dependency_redis_keyspace_hits_total")
            assert detail(m, "dependency_redis_keyspace_misses_total") == 2
            assert detail(m, "dependency_redis_evicted_keys_total") == 0
            assert detail(m, "dependency_redis_maxmemory_bytes") == MAXMEMORY
            assert detail(m, "dependency_redis_connected_clients") >= 1
            used = detail(m, "dependency_redis_used_memory_bytes")
            assert 100000 < used < MAXMEMORY, used
            assert xptest.sample(m, "dependency_info", dependency="cache", collector="redis",
                                 target=self.rd.address()) == 1
            text = ex.metrics_text()
            for fam, kind in (("dependency_redis_used_memory_bytes", "gauge"), ("dependency_redis_keyspace_hits_total", "counter"),
                              ("dependency_redis_evicted_keys_total", "counter"), ("dependency_redis_connected_clients", "gauge")):
                assert "# TYPE %s %s" % (fam, kind) in text and "# HELP %s " % fam in text, fam
            # The connection is kept between probes: the exporter is one client, not one per probe.
            ex.wait_probes("cache", 2, 10)
            clients = [c for c in self.rd.command("CLIENT", "LIST").splitlines() if "cmd=client" not in c]
            assert len(clients) == 1, clients
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_stopped_opens_breaker_then_recovers(self):
        ex = self.exporter(config(self.rd.address()), "outage")
        try:
            m = scenarios.stop_until_open(ex, "cache", self.rd, THRESHOLD)
            h = ex.health()
            assert dep(h)["last_probe"]["error"] == "connection refused", dep(h)["last_probe"]
            assert dep(h)["health_score"] == 0 and h["features"]["sessions"] is False, h
            scenarios.start_until_closed(ex, "cache", self.rd, THRESHOLD, HALF_OPEN_REQUESTS, m)
            assert ex.health()["features"]["sessions"] is True
            self.assert_no_secret(ex)
        finally:
            if self.rd.proc is None:
                self.rd.start()
            ex.stop()

    def test_frozen_server_fails_at_deadline_scrapes_stay_fast(self):
        ex = self.exporter(config(self.rd.address()), "frozen")
        try:
            scenarios.frozen_server(ex, "cache", self.rd, TIMEOUT, THRESHOLD)
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_wrong_and_missing_password(self):
        ex = self.exporter(config(self.rd.address(), password=WRONG), "wrongpw")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            err = dep(h)["last_probe"]["error"]
            assert dep(h)["last_probe"]["success"] is False
            assert err.startswith("authentication failed (WRONGPASS"), err
            self.assert_no_secret(ex)
        finally:
            ex.stop()
        ex = self.exporter(config(self.rd.address(), password=None), "nopw")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            err = dep(h)["last_probe"]["error"]
            assert err.startswith("authentication failed (NOAUTH"), err
        finally:
            ex.stop()

    def test_unix_socket_acl_user_and_db(self):
        self.rd.command("ACL", "SETUSER", "prober", "on", ">" + ACL_SECRET, "~*", "+ping", "+info", "+select")
        self.rd.command("SELECT", "5")
        address = "unix:" + self.rd.socket_path
        ex = self.exporter(config(address, username="prober", password=ACL_SECRET, db=5), "acl")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            assert good_probe(h), dep(h)
            m = ex.metrics()
            assert xptest.sample(m, "dependency_info", dependency="cache", collector="redis", target=address) == 1
            assert detail(m, "dependency_redis_maxmemory_bytes") == MAXMEMORY
            # The server sees our session as that user, on that db, over the socket.
            mine = [c for c in self.rd.command("CLIENT", "LIST").splitlines() if "user=prober" in c]
            assert len(mine) == 1 and " db=5 " in mine[0], mine
            # redis shows a unix laddr as PATH:0, cut to 77 characters (the cut can fall
            # anywhere in it, the ":0" included: the test directory's depth decides).
            laddr = mine[0].split(" laddr=", 1)[1].split(" ", 1)[0]
            sock = self.rd.socket_path
            assert laddr.startswith("/") and (sock + ":0").startswith(laddr), (laddr, sock)
            self.assert_no_secret(ex)
        finally:
            ex.stop()
        # The ACL user with the main password: refused, and said so.
        ex = self.exporter(config(address, username="prober", password=WRONG), "aclwrong")
        try:
            h = ex.wait_health(lambda h: dep(h)["last_probe"], 10, "the first probe")
            assert dep(h)["last_probe"]["error"].startswith("authentication failed (WRONGPASS"), dep(h)
            self.assert_no_secret(ex)
        finally:
            ex.stop()

    def test_config_check_addresses(self):
        cases = [("127.0.0.1:99999", 2, 'address "127.0.0.1:99999": port must be 1-65535'),
                 ("unix:relative.sock", 2, "unix socket path must be absolute"),
                 ("::1:6379", 2, "write an IPv6 address as [addr]:port"),
                 ("[::1]:6380", 0, ": ok, "),
                 ("unix:/run/redis.sock", 0, ": ok, ")]
        for address, code, words in cases:
            path = self.tmp.file("addr.ini", "[dependency.c]\ncollector = redis\naddress = %s\n"
                                 "password = %s\n" % (address, SECRET))
            r = subprocess.run([xptest.BINARY, "--config.check", "--config.file=" + path],
                               capture_output=True, timeout=20)
            out = (r.stdout + r.stderr).decode()
            assert r.returncode == code and words in out, (address, r.returncode, out)
            assert SECRET not in out, out


if __name__ == "__main__":
    RedisTest().run()
