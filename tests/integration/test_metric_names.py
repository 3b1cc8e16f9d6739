"""No metric family of this exporter shares a name with blackbox_exporter, redis_exporter,
postgres_exporter or node_exporter (SPEC section 6; the standard process_* families that
every client library exposes excepted), nor lives in one of their namespaces (probe_,
redis_, pg_, node_, ...).

Method: both sides are read from live /metrics, nothing from documentation.
- Theirs: the Debian packages prometheus-blackbox-exporter, prometheus-redis-exporter,
  prometheus-postgres-exporter and prometheus-node-exporter run here on loopback ports below
  32768, redis_exporter and postgres_exporter against the same real Redis 7 and PostgreSQL 15
  that the exporter probes, blackbox_exporter probed through its /probe endpoint with the
  http, tcp, icmp, dns and grpc probers (its probe_* families appear only there). Their
  names are the # TYPE / # HELP names and every sample name.
- Ours: the real binary with one dependency of each collector on a real backend (PostgreSQL,
  Redis, s3rver, mock-llm behind a proxy that adds the x-ratelimit-* headers), scraped once
  every collector's detail families are there. Every family it emits must be in FAMILIES
  below (SPEC section 6, and the few it emits beyond the table), so a new family that is not
  added here fails this test; the comparison holds the live names and the whole list, so a
  family of the SPEC that this build does not emit yet is checked all the same.
The old version 1 names (probe_success, redis_connected_clients, ...) are checked to be among
theirs, so the comparison would have caught them.
"""
import os
import re
import shutil

import srv_openai
import srv_postgres
import srv_redis
import srv_s3
import xptest

PG_PASSWORD = "names-pg-s3cret"
REDIS_PASSWORD = "names-rd-s3cret"
S3_SECRET = "names-s3-s3cret"
OPENAI_KEY = "sk-names-0123456789"

# SPEC section 6, every family this exporter emits (name: type).
FAMILIES = {
    "circuit_breaker_state": "gauge",
    "circuit_breaker_consecutive_failures": "gauge",
    "circuit_breaker_calls_total": "counter",
    "circuit_breaker_transitions_total": "counter",
    "circuit_breaker_recovery_seconds": "gauge",
    "circuit_breaker_last_failure_timestamp_seconds": "gauge",
    "circuit_breaker_failure_rate": "gauge",
    "circuit_breaker_slow_call_rate": "gauge",
    "circuit_breaker_mode": "gauge",
    "health_score": "gauge",
    "system_health_score": "gauge",
    "degradation_level": "gauge",
    "feature_availability": "gauge",
    "dependency_probe_success": "gauge",
    "dependency_probe_duration_seconds": "histogram",
    "dependency_probe_last_timestamp_seconds": "gauge",
    "dependency_probe_failures_total": "counter",
    "dependency_probe_interval_seconds": "gauge",
    "dependency_probe_timeout_seconds": "gauge",
    "dependency_info": "gauge",
    "resilience_exporter_build_info": "gauge",
    "resilience_exporter_config_last_reload_successful": "gauge",
    "resilience_exporter_http_requests_total": "counter",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_start_time_seconds": "gauge",
    # emitted beyond the table of SPEC 6 (the usual client-library process and reload families)
    "process_max_fds": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "resilience_exporter_config_last_reload_success_timestamp_seconds": "gauge",
    # backend detail, dependency_<collector>_*
    "dependency_postgres_connections": "gauge",
    "dependency_postgres_max_connections": "gauge",
    "dependency_postgres_in_recovery": "gauge",
    "dependency_redis_used_memory_bytes": "gauge",
    "dependency_redis_maxmemory_bytes": "gauge",
    "dependency_redis_connected_clients": "gauge",
    "dependency_redis_keyspace_hits_total": "counter",
    "dependency_redis_keyspace_misses_total": "counter",
    "dependency_redis_evicted_keys_total": "counter",
    "dependency_openai_ratelimit_remaining_requests": "gauge",
    "dependency_openai_ratelimit_remaining_tokens": "gauge",
}
DETAIL = {n for n in FAMILIES if re.match(r"dependency_(postgres|redis|openai)_", n)}
# The names of version 1 that collided (SPEC section 10).
OLD_NAMES = {"probe_success", "probe_duration_seconds", "redis_connected_clients",
             "redis_keyspace_hits_total", "redis_evicted_keys_total"}
# Namespaces every Prometheus client library uses for itself (SPEC 6 allows process_*;
# ours never use go_ or promhttp_ either, which the check below also holds).
SHARED_PREFIXES = {"process"}
CLIENT_PREFIXES = {"go", "promhttp"}

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"


def names(text):
    """Every family name (# TYPE, # HELP) and every sample name of an exposition."""
    out = set(re.findall(r"^# (?:TYPE|HELP) (%s)" % NAME, text, re.M))
    out |= set(re.findall(r"^(%s)[{ ]" % NAME, text, re.M))
    return out


def listed_names():
    """FAMILIES with the sample names each type adds."""
    out = set(FAMILIES)
    for n, t in FAMILIES.items():
        if t == "histogram":
            out |= {n + s for s in ("_bucket", "_sum", "_count")}
    return out


def prefix(name):
    return name.split("_", 1)[0]


def exporter_config(pg, redis, s3, proxy):
    return """
[exporter]
log_level = warn
[dependency.database]
collector = postgres
dsn = %s
password = %s
interval = 2s
timeout = 1500ms
[dependency.redis]
collector = redis
address = %s
password = %s
interval = 2s
timeout = 1500ms
[dependency.s3]
collector = s3
endpoint = %s
bucket = names
region = us-east-1
access_key_id = names
secret_access_key = %s
interval = 2s
timeout = 1500ms
[dependency.openai]
collector = openai
base_url = %s
api_key = %s
interval = 2s
timeout = 1500ms
[feature.reports]
min_level = degraded
requires = database
""" % (pg.dsn(), PG_PASSWORD, redis.address(), REDIS_PASSWORD, s3.endpoint, S3_SECRET, proxy.base_url,
       OPENAI_KEY)


BLACKBOX_CONFIG = """
modules:
  http_2xx:
    prober: http
    timeout: 2s
  tcp_connect:
    prober: tcp
    timeout: 2s
  icmp:
    prober: icmp
    timeout: 2s
  dns:
    prober: dns
    timeout: 2s
    dns:
      query_name: example.org
      transport_protocol: tcp
  grpc:
    prober: grpc
    timeout: 2s
    grpc:
      tls: false
"""


class MetricNames(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("metric-names")
        self.live = []
        self.theirs = None
        self.ours = None
        self.failed_setup = None

    def teardown_all(self):
        for thing in reversed(self.live):
            try:
                thing.cleanup() if hasattr(thing, "cleanup") else thing.stop()
            except Exception as e:  # keep stopping the rest
                xptest.log("teardown: %r" % e)
        self.tmp.cleanup()

    def start(self, name, argv, env=None):
        port = xptest.free_port()
        argv = [a.replace("PORT", str(port)) for a in argv]
        proc = xptest.Proc(argv, self.tmp.file(name + ".log"), env=dict(os.environ, **(env or {})))
        self.live.append(proc)
        xptest.wait_listen(port, proc=proc)
        return "http://127.0.0.1:%d" % port

    def setup(self):
        """The backends, this exporter and the four others, started once for all tests."""
        if self.ours is not None:
            return
        if self.failed_setup:
            raise AssertionError("setup failed earlier: %s" % self.failed_setup)
        try:
            self._setup()
        except Exception as e:
            self.failed_setup = repr(e)
            raise

    def _setup(self):
        for cmd in ("prometheus-blackbox-exporter", "prometheus-redis-exporter",
                    "prometheus-postgres-exporter", "prometheus-node-exporter"):
            assert shutil.which(cmd), "%s is not installed (etc/packages/test.txt)" % cmd
        pg = srv_postgres.Postgres(self.tmp.path, role="app", password=PG_PASSWORD)
        self.live.append(pg)
        pg.start()
        redis = srv_redis.Redis(self.tmp.path, password=REDIS_PASSWORD)
        self.live.append(redis)
        redis.start()
        for cmd in (("SET", "k", "v"), ("GET", "k"), ("GET", "missing")):
            redis.command(*cmd)
        s3 = srv_s3.S3Server(self.tmp, buckets=("names",), key="names", secret=S3_SECRET)
        self.live.append(s3)
        llm = srv_openai.OpenAIServer(self.tmp, OPENAI_KEY)
        self.live.append(llm)
        proxy = srv_openai.RateLimitProxy(self.tmp, llm.port, {"x-ratelimit-remaining-requests": "99",
                                                              "x-ratelimit-remaining-tokens": "9999"})
        self.live.append(proxy)

        exp = xptest.Exporter(self.tmp, exporter_config(pg, redis, s3, proxy))
        self.live.append(exp)

        def all_detail():
            text = exp.metrics_text()
            return DETAIL <= names(text) and text
        text = xptest.wait_until(all_detail, 30, interval=0.2, what="every collector's detail families")
        self.ours = text

        theirs = {}
        bb_config = self.tmp.file("blackbox.yml", BLACKBOX_CONFIG)
        bb = self.start("blackbox", ["prometheus-blackbox-exporter", "--config.file=" + bb_config,
                                     "--web.listen-address=127.0.0.1:PORT"])
        text = xptest.http(bb + "/metrics")[2].decode()
        for module, target in (("http_2xx", exp.base + "/-/healthy"), ("tcp_connect", redis.address()),
                               ("icmp", "127.0.0.1"), ("dns", "127.0.0.1:%d" % xptest.free_port()),
                               ("grpc", redis.address())):
            status, _, body = xptest.http(bb + "/probe?module=%s&target=%s" % (module, target))
            assert status == 200, (module, status, body[:300])
            text += body.decode()
        theirs["blackbox_exporter"] = text

        rx = self.start("redis_exporter", ["prometheus-redis-exporter", "-redis.addr",
                                           "redis://" + redis.address(), "-redis.password", REDIS_PASSWORD,
                                           "-web.listen-address", "127.0.0.1:PORT"])
        theirs["redis_exporter"] = xptest.http(rx + "/metrics")[2].decode()

        dsn = "postgresql://app:%s@127.0.0.1:%d/postgres?sslmode=disable" % (PG_PASSWORD, pg.port)
        px = self.start("postgres_exporter", ["prometheus-postgres-exporter", "--web.listen-address=127.0.0.1:PORT"],
                        env={"DATA_SOURCE_NAME": dsn})
        theirs["postgres_exporter"] = xptest.http(px + "/metrics")[2].decode()

        textfiles = os.path.join(self.tmp.path, "textfiles")
        os.makedirs(textfiles)
        nx = self.start("node_exporter", ["prometheus-node-exporter", "--web.listen-address=127.0.0.1:PORT",
                                          "--collector.textfile.directory=" + textfiles])
        theirs["node_exporter"] = xptest.http(nx + "/metrics")[2].decode()
        self.theirs = {k: names(v) for k, v in theirs.items()}
        for k, v in theirs.items():
            build = re.findall(r"^\w+_build_info\{[^}]*version=\"([^\"]+)\"", v, re.M)
            xptest.log("%s %s: %d names" % (k, build[0] if build else "?", len(self.theirs[k])))

    # ------------------------------------------------------------------ tests
    def test_our_families_are_listed(self):
        self.setup()
        got = dict(re.findall(r"^# TYPE (%s) (\w+)$" % NAME, self.ours, re.M))
        unlisted = sorted(set(got) - set(FAMILIES))
        assert not unlisted, "emitted but not in FAMILIES (add them, SPEC 6): %s" % unlisted
        retyped = sorted("%s %s, listed %s" % (n, got[n], FAMILIES[n]) for n in got if got[n] != FAMILIES[n])
        assert not retyped, retyped
        missing = DETAIL - set(got)
        assert not missing, "detail families missing with every backend up: %s" % sorted(missing)
        pending = sorted(set(FAMILIES) - set(got))
        if pending:
            xptest.log("listed (SPEC 6) but not emitted by this build, compared all the same: %s" % pending)

    def test_their_names_are_real(self):
        """The comparison has something to compare with: each exporter answered with its own
        names, and version 1's names are among them."""
        self.setup()
        expect = {"blackbox_exporter": {"probe_success", "probe_duration_seconds", "probe_http_status_code",
                                        "probe_icmp_duration_seconds", "blackbox_exporter_build_info"},
                  "redis_exporter": {"redis_up", "redis_connected_clients", "redis_keyspace_hits_total",
                                     "redis_evicted_keys_total"},
                  "postgres_exporter": {"pg_up", "pg_settings_max_connections"},
                  "node_exporter": {"node_exporter_build_info", "node_time_seconds"}}
        for exporter, want in expect.items():
            missing = want - self.theirs[exporter]
            assert not missing, "%s did not report %s" % (exporter, sorted(missing))
            assert len(self.theirs[exporter]) >= 20, (exporter, sorted(self.theirs[exporter]))
        assert OLD_NAMES <= set().union(*self.theirs.values()), OLD_NAMES - set().union(*self.theirs.values())

    def test_no_shared_name(self):
        self.setup()
        ours = names(self.ours) | listed_names()
        clashes = []
        for exporter, theirs in sorted(self.theirs.items()):
            for n in sorted(ours & theirs):
                if prefix(n) not in SHARED_PREFIXES:
                    clashes.append("%s (also %s's)" % (n, exporter))
        assert not clashes, "names shared with other exporters:\n" + "\n".join(clashes)

    def test_no_shared_namespace(self):
        """A name of theirs that did not show here (another version, a collector that was off)
        lives in their namespace: ours stay out of those."""
        self.setup()
        ours = {prefix(n) for n in names(self.ours) | listed_names()} - SHARED_PREFIXES
        assert not ours & CLIENT_PREFIXES, ours & CLIENT_PREFIXES
        clashes = []
        for exporter, theirs in sorted(self.theirs.items()):
            spaces = {prefix(n) for n in theirs} - SHARED_PREFIXES - CLIENT_PREFIXES
            for p in sorted(ours & spaces):
                clashes.append("%s_ (%s's namespace: %s)" % (p, exporter, sorted(n for n in theirs if prefix(n) == p)[:5]))
        assert not clashes, "\n".join(clashes)


if __name__ == "__main__":
    MetricNames().run()
