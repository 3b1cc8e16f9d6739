"""A real Prometheus with the shipped config and rules scraping two replicas of the real
exporter (as deploy/kubernetes/ runs it) on a real PostgreSQL and Redis.

The config is a transformed copy of etc/prometheus/prometheus.staging.yml (targets rewritten
to the test's two exporters, intervals 1 s). The rules are the groups of the Kubernetes
PrometheusRule, deploy/kubernetes/prometheusrule.yaml, which must equal the shipped
etc/prometheus/ files' groups, with every alert's for: shortened to 2 s
(tests/prometheus/alerts_test.yml checks the real ones).
Checks: both targets are up; every rule of the PrometheusRule is loaded and evaluates without
error; every PromQL expression of the rules and the dashboard evaluates without error and the
core panels return data; every metric the rules and the dashboard use (but OpenAI's, whose
server this test does not start) exists; stopping PostgreSQL fires
CircuitBreakerOpen{dependency="database",severity="critical"} once (not once per replica) and
both degradation alerts; starting it again resolves them.
"""
import json
import os
import sys
import time
import urllib.parse

import xptest
import yaml

sys.path.insert(0, os.path.join(xptest.SOURCE_DIR, "tests", "integration"))
import test_operator_kit as kit  # noqa: E402  (expression helpers shared with the offline test)
import srv_postgres  # noqa: E402
import srv_redis  # noqa: E402

PG_PASSWORD = "pg-e2e-s3cret"
PROMETHEUS_RULE = os.path.join(xptest.SOURCE_DIR, "deploy", "kubernetes", "prometheusrule.yaml")
REDIS_PASSWORD = "rd-e2e-s3cret"
# Panels that must show data on a healthy PostgreSQL + Redis stack: (title, query index).
CORE_PANELS = [
    ("System health score", 0), ("Degradation level", 0), ("Breakers not closed", 0),
    ("Features available", 0), ("Exporter up", 0), ("System health score and degradation level", 0),
    ("Health score per dependency", 0), ("Breaker state per dependency", 0), ("Recovery countdown", 0),
    ("Dependencies", 0), ("Dependencies", 1), ("Feature availability", 0), ("Probe latency p50 / p95 / p99", 0),
    ("Probe latency p50 / p95 / p99", 2), ("Probe success", 0), ("Breaker transitions", 0),
    ("Calls by result (rejected while OPEN)", 0), ("PostgreSQL connections", 0), ("PostgreSQL connections", 1),
    ("Redis memory", 0), ("Redis clients and evictions", 0), ("PostgreSQL role", 0), ("Exporter process", 0),
    ("Config reload, uptime, version", 0),
]


def exporter_config(pg, redis):
    return """
[exporter]
log_level = info

[dependency.database]
collector = postgres
dsn = %s
password = %s
weight = 0.6
interval = 1s
timeout = 800ms
latency_budget = 700ms
failure_threshold = 2
recovery_timeout = 3s
half_open_requests = 1
open_level = emergency

[dependency.redis]
collector = redis
address = %s
password = %s
weight = 0.4
interval = 1s
timeout = 800ms
latency_budget = 700ms
failure_threshold = 2
recovery_timeout = 3s
half_open_requests = 1
open_level = degraded

[feature.inventory_management]
min_level = minimal
requires = database

[feature.realtime_updates]
min_level = degraded
requires = redis

[feature.read_only_access]
min_level = emergency
""" % (pg.dsn(), PG_PASSWORD, redis.address(), REDIS_PASSWORD)


class PrometheusE2E(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("prometheus-e2e")
        self.pg = self.redis = self.exp = self.exp2 = self.prom = None
        self.failed_setup = None

    def setup(self):
        """Started by the first test; the others reuse the stack."""
        if self.prom is not None:
            return
        if self.failed_setup:
            raise AssertionError("setup failed earlier: %s" % self.failed_setup)
        try:
            self.pg = srv_postgres.Postgres(self.tmp.path, role="app", password=PG_PASSWORD)
            self.pg.start()
            self.redis = srv_redis.Redis(self.tmp.path, password=REDIS_PASSWORD)
            self.redis.start()
            # some keyspace traffic, so the hit ratio has something to show
            self.redis.command("SET", "k", "v")
            for _ in range(3):
                self.redis.command("GET", "k")
            self.redis.command("GET", "missing")
            # two replicas, each probing on its own
            self.exp = xptest.Exporter(self.tmp, exporter_config(self.pg, self.redis))
            self.exp2 = xptest.Exporter(self.tmp, exporter_config(self.pg, self.redis))
            self.start_prometheus()
        except Exception as e:
            self.failed_setup = repr(e)
            raise

    def start_prometheus(self):
        src = os.path.join(xptest.SOURCE_DIR, "etc", "prometheus")
        with open(os.path.join(src, "prometheus.staging.yml")) as f:
            cfg = yaml.safe_load(f)
        cfg["global"].update(scrape_interval="1s", scrape_timeout="900ms", evaluation_interval="1s")
        jobs = []
        for job in cfg["scrape_configs"]:
            if job["job_name"] != "resilience_exporter":
                continue  # the staging self-scrape is not under test
            job.update(scrape_interval="1s", scrape_timeout="900ms")
            job["static_configs"] = [{"targets": ["127.0.0.1:%d" % e.port for e in (self.exp, self.exp2)]}]
            jobs.append(job)
        assert jobs, "no resilience_exporter job in the shipped config"
        cfg["scrape_configs"] = jobs
        shipped = []
        for name in cfg["rule_files"]:
            with open(os.path.join(src, name)) as f:
                shipped += yaml.safe_load(f)["groups"]
        with open(PROMETHEUS_RULE) as f:
            groups = yaml.safe_load(f)["spec"]["groups"]
        assert sorted(groups, key=lambda g: g["name"]) == sorted(shipped, key=lambda g: g["name"]), \
            "the PrometheusRule's groups are not the shipped rule files' (deploy/gen-prometheusrule.py)"
        self.rule_groups = groups
        for g in groups:
            for r in g["rules"]:
                if "alert" in r and "for" in r:
                    r["for"] = "2s"
        cfg["rule_files"] = [self.tmp.file("prometheusrule.yml", yaml.safe_dump({"groups": groups}, sort_keys=False))]
        path = self.tmp.file("prometheus.yml", yaml.safe_dump(cfg, sort_keys=False))
        rc, out = kit.run(["promtool", "check", "config", path])
        assert rc == 0, out
        self.prom_port, self.prom = xptest.listen_on_free_port(lambda port: xptest.Proc(
            ["prometheus", "--config.file=" + path, "--storage.tsdb.path=" + os.path.join(self.tmp.path, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % port], self.tmp.file("prometheus.log")), timeout=30)
        self.prom_url = "http://127.0.0.1:%d" % self.prom_port

    def teardown_all(self):
        for thing in (self.prom, self.exp, self.exp2, self.redis, self.pg):
            if thing is None:
                continue
            try:
                if thing is self.pg or thing is self.redis:
                    thing.cleanup()
                else:
                    thing.stop()
            except Exception as e:  # keep tearing down the rest
                xptest.log("teardown: %r" % e)
        if self.prom is not None and os.environ.get("XP_KEEP_LOGS"):
            xptest.log(self.prom.output()[-3000:])
        self.tmp.cleanup()

    # ---------------------------------------------------------------- helpers
    def api(self, path, **params):
        url = self.prom_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        status, _, body = xptest.http(url)
        doc = json.loads(body)
        return status, doc

    def query(self, expr):
        status, doc = self.api("/api/v1/query", query=expr)
        if status != 200 or doc.get("status") != "success":
            raise AssertionError("query %r: %s %s" % (expr, status, doc.get("error")))
        return doc["data"]["result"]

    def firing(self):
        _, doc = self.api("/api/v1/alerts")
        return [a for a in doc["data"]["alerts"] if a["state"] == "firing"]

    def health_state(self, dep, exp=None):
        return (exp or self.exp).health()["dependencies"][dep]["state"].lower()

    # ---------------------------------------------------------------- tests
    def test_1_target_up(self):
        self.setup()

        def up():
            _, doc = self.api("/api/v1/targets")
            t = doc["data"]["activeTargets"]
            return len(t) == 2 and all(x["health"] == "up" for x in t) and t
        targets = xptest.wait_until(up, 30, interval=0.5, what="both exporter targets up in Prometheus")
        for t in targets:
            assert t["labels"]["job"] == "resilience_exporter", t["labels"]
            assert t["lastError"] == "", t

    def test_2_every_expression_evaluates(self):
        self.setup()
        with open(kit.DASHBOARD) as f:
            dash = json.load(f)
        # every rule has been evaluated a few times and the rate windows hold several samples
        xptest.wait_until(lambda: self.query('dependency:dependency_probe_duration_seconds:quantile_rate5m{quantile="0.5"}'),
                          40, interval=0.5, what="the latency recording rule to have data")
        errors = []
        for where, expr in self.all_exprs(dash):
            try:
                self.query(expr)
            except AssertionError as e:
                errors.append("%s: %s" % (where, e))
        assert not errors, "\n".join(errors)
        # the core panels show data
        panels = {}
        for p in dash["panels"]:
            if p.get("targets"):
                panels.setdefault(p["title"], p)
        empty = []
        for title, i in CORE_PANELS:
            expr = kit.substitute(panels[title]["targets"][i]["expr"], rate_interval="30s")
            try:
                xptest.wait_until(lambda: self.query(expr), 15, interval=0.5, what=title)
            except AssertionError:
                empty.append("%s [%d]: %s" % (title, i, expr))
        assert not empty, "panels without data:\n" + "\n".join(empty)
        # every metric the rules and the dashboard use exists (OpenAI's server is not started)
        names = set()
        for _, expr in self.all_exprs(dash):
            names |= kit.metric_names(expr)
        missing = [n for n in sorted(names) if not n.startswith("dependency_openai_")
                   and not self.query('count({__name__="%s"})' % n)]
        assert not missing, "metrics used but not in Prometheus: %s" % missing
        firing = [a["labels"]["alertname"] for a in self.firing()]
        assert not firing, "alerts firing on a healthy stack: %s" % firing

    def test_2b_prometheusrule_groups_evaluate(self):
        """Every rule of the Kubernetes PrometheusRule is loaded and has been evaluated without
        error."""
        self.setup()
        want = {g["name"]: [r.get("alert", r.get("record")) for r in g["rules"]] for g in self.rule_groups}

        def evaluated():
            _, doc = self.api("/api/v1/rules")
            got = {g["name"]: g for g in doc["data"]["groups"]}
            if set(got) != set(want):
                return False
            rules = [r for g in got.values() for r in g["rules"]]
            return all(not r["lastEvaluation"].startswith("0001-") for r in rules) and got
        got = xptest.wait_until(evaluated, 30, interval=0.5, what="every rule group evaluated")
        bad = []
        for name, g in got.items():
            assert [r["name"] for r in g["rules"]] == want[name], (name, [r["name"] for r in g["rules"]])
            for r in g["rules"]:
                if r["health"] != "ok" or r.get("lastError"):
                    bad.append("%s %s: %s %s" % (name, r["name"], r["health"], r.get("lastError")))
        assert not bad, "\n".join(bad)

    def all_exprs(self, dash):
        out = []
        for path in (kit.ALERTS, kit.RULES):
            for r in kit.load_rules(path):
                out.append((r.get("alert", r.get("record")), r["expr"]))
        out += [("dashboard " + t, kit.substitute(e, rate_interval="30s")) for t, e in kit.dashboard_exprs(dash)]
        out += [("variable " + n, kit.substitute(s)) for n, s in kit.dashboard_variable_queries(dash)]
        return out

    def test_3_database_outage_fires_and_resolves(self):
        self.setup()
        for e in (self.exp, self.exp2):
            xptest.wait_until(lambda: self.health_state("database", e) == "closed", 20, what="database CLOSED")
        self.pg.stop()
        t0 = time.monotonic()
        want = {("CircuitBreakerOpen", "critical"), ("ResilienceDegraded", "warning"),
                ("ResilienceDegradedCritical", "critical")}

        def fired():
            alerts = self.firing()
            got = {(a["labels"]["alertname"], a["labels"].get("severity")) for a in alerts
                   if a["labels"].get("dependency") in (None, "database")}
            return want <= got and alerts
        alerts = xptest.wait_until(fired, 60, interval=0.5, what="the database outage alerts")
        xptest.log("alerts fired %.1fs after stopping PostgreSQL" % (time.monotonic() - t0))
        # once, not once per replica
        open_alerts = [a for a in alerts if a["labels"]["alertname"] == "CircuitBreakerOpen"]
        assert [a["labels"]["dependency"] for a in open_alerts] == ["database"], open_alerts
        assert "instance" not in open_alerts[0]["labels"], open_alerts
        for name in ("ResilienceDegraded", "ResilienceDegradedCritical"):
            assert len([a for a in alerts if a["labels"]["alertname"] == name]) == 1, alerts
        assert open_alerts[0]["labels"]["severity"] == "critical", open_alerts
        for a in alerts:
            for key in ("summary", "description", "runbook"):
                assert a["annotations"].get(key), (a["labels"], key)
        assert "database" in open_alerts[0]["annotations"]["summary"]
        names = {a["labels"]["alertname"] for a in alerts}
        assert not names & {"ResilienceExporterDown", "ResilienceExporterReplicaDown", "DependencyProbesStale",
                            "CircuitBreakerReplicasDisagree"}, names
        # the dashboard sees it too
        state = self.query('dependency:circuit_breaker_state:code{dependency="database"}')
        assert len(state) == 1 and float(state[0]["value"][1]) in (1, 2), state  # one series for both replicas
        level = self.query("degradation_level")
        assert len(level) == 2 and all(float(l["value"][1]) == 4 for l in level), level  # open_level emergency

        self.pg.start()
        t0 = time.monotonic()

        def resolved():
            names = {a["labels"]["alertname"] for a in self.firing()}
            return not names & {w[0] for w in want}
        xptest.wait_until(resolved, 60, interval=0.5, what="the alerts to resolve after PostgreSQL restarted")
        xptest.log("alerts resolved %.1fs after starting PostgreSQL" % (time.monotonic() - t0))
        for e in (self.exp, self.exp2):
            xptest.wait_until(lambda: self.health_state("database", e) == "closed", 20, what="database CLOSED")
        xptest.wait_until(lambda: all(float(l["value"][1]) == 0 for l in self.query("degradation_level")),
                          10, interval=0.5, what="level optimal in Prometheus on both replicas")


if __name__ == "__main__":
    PrometheusE2E().run()
