"""Rate windows (SPEC section 5, "Rates") against a real PostgreSQL 15: the shipped staging
values (etc/resilience_exporter.ini: the last 20 probes, at least 10, 50% failed or 80% slow)
at a shortened interval.

The backend's faults are real server behaviour, switched on from the test through a table:
each dependency's probe query is `SELECT 1 / probe_value('NAME')`, a function that, for that
dependency,
- "alternate": fails every other call (division by zero on every odd value of a sequence of
  its own, so the first faulty probe fails, then one succeeds, and so on), whatever else runs;
- "slow": answers after pg_sleep(0.3), against a slow_call_duration of 200 ms and a timeout
  of 900 ms: slow but successful;
- "none": answers at once.

Checked, for each fault, with the staging rate settings and without any (version 1's breaker):
- a backend failing every other probe opens the breaker with failure_rate_threshold 50% after
  a full window of healthy probes at the 19th faulty probe (the model: 180 s at the staging
  10 s interval), or right after start at the 10th (90 s), with `trip=failure_rate` in the
  log, and the rate that tripped it stays visible while OPEN; the same backend without a rate
  threshold never opens in twice that many probes;
- a slow backend opens the breaker with slow_call_rate_threshold 80% at the 16th slow probe
  (150 s), or the 10th right after start (90 s), `trip=slow_call_rate`; without, never.
Counts, not durations, are asserted. The time from the fault's start (the UPDATE) to OPEN is
measured from the exporter's own /events and printed, scaled to the staging interval, for
docs/configuration.md."""
import json
import re
import time

import srv_postgres
import xptest
from xptest import sample

PG_PW = "rates-pg-pw"
SETUP = """
CREATE TABLE fault (dep text PRIMARY KEY, mode text NOT NULL);
CREATE FUNCTION probe_value(d text) RETURNS int LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $f$
DECLARE m text;
BEGIN
  SELECT mode INTO m FROM fault WHERE dep = d;
  IF m = 'alternate' THEN
    RETURN 1 - (nextval(('flip_' || d)::regclass) % 2)::int;
  ELSIF m = 'slow' THEN
    PERFORM pg_sleep(0.3);
  END IF;
  RETURN 1;
END
$f$;
"""
STAGING_RATES = ("window_calls = 20\nminimum_calls = 10\nfailure_rate_threshold = 50%\n"
                 "slow_call_duration = 200ms\nslow_call_rate_threshold = 80%\n")
STAGING_INTERVAL = 10.0

# name: (fault, staging rates?, interval seconds, fault on from the start?)
DEPS = {
    "rated": ("alternate", True, 0.5, False),
    "plain": ("alternate", False, 0.5, False),
    "rated_new": ("alternate", True, 0.5, True),
    "slow_rated": ("slow", True, 1.0, False),
    "slow_plain": ("slow", False, 1.0, False),
    "slow_new": ("slow", True, 1.0, True),
}


def probes(m, dep):
    return sample(m, "dependency_probe_duration_seconds_count", dependency=dep) or 0


def opened(m, dep):
    return (xptest.transitions(m, dep, "closed", "open") or 0) > 0


class RateWindowsTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("rates")

    def teardown_all(self):
        self.tmp.cleanup()

    def config(self, pg):
        out = "[exporter]\nlog_level = info\n"
        for name, (fault, rates, interval, _) in DEPS.items():
            out += ("[dependency.%s]\ncollector = postgres\ndsn = %s\npassword = %s\n"
                    "query = SELECT 1 / probe_value('%s')\ninterval = %gs\ntimeout = %dms\n"
                    "latency_budget = 100ms\nfailure_threshold = 3\nrecovery_timeout = 1h\n%s\n") % (
                name, pg.dsn(), PG_PW, name, interval, int(interval * 900), STAGING_RATES if rates else "")
        return out

    def test_every_other_and_slow_with_the_staging_window(self):
        pg = srv_postgres.Postgres(self.tmp.path, role="app", password=PG_PW)
        self.track(pg)
        pg.start()
        pg.sql(SETUP)
        for name, (fault, _, _, from_start) in DEPS.items():
            pg.sql("CREATE SEQUENCE flip_%s; INSERT INTO fault VALUES ('%s', '%s')" % (
                name, name, fault if from_start else "none"))
        e = self.track(xptest.Exporter(self.tmp, self.config(pg)))
        started = time.time()

        # A full window of healthy probes first (20), for those whose fault comes later.
        later = [n for n, d in DEPS.items() if not d[3]]
        xptest.wait_until(lambda: all(probes(e.metrics(), n) >= 21 for n in later), 60,
                          what="a full window of healthy probes")
        m = e.metrics()
        for n in later:
            assert xptest.state_of(m, n) == "closed", (n, e.health()["dependencies"][n])
            assert sample(m, "circuit_breaker_failure_rate", dependency=n) == 0, n
        before = {n: probes(m, n) for n in later}
        pg.sql("UPDATE fault SET mode = CASE WHEN dep LIKE 'slow%' THEN 'slow' ELSE 'alternate' END")
        fault_at = time.time()
        # Probes that ran while the UPDATE was on its way saw the old answer: counted from the
        # first probe that started after it (at most one per dependency is in doubt).
        xptest.log("faults on for %s" % ", ".join(later))

        rated = [n for n, d in DEPS.items() if d[1]]
        plain = [n for n, d in DEPS.items() if not d[1]]
        xptest.wait_until(lambda: all(opened(e.metrics(), n) for n in rated), 120,
                          what="every breaker with a rate threshold to open")
        m = e.metrics()
        # The others go on for twice as many faulty probes as their counterpart with the
        # staging window needed to open.
        counterpart = {"plain": "rated", "slow_plain": "slow_rated"}
        target = {n: before[n] + 2 * (probes(m, counterpart[n]) - before[counterpart[n]]) for n in plain}
        xptest.wait_until(lambda: all(probes(e.metrics(), n) >= target[n] for n in plain), 120,
                          what="the breakers without a rate threshold to see as many faulty probes")
        m = e.metrics()
        h = e.health()["dependencies"]
        logs = e.logs()
        events = e.get("/events")
        assert events[0] == 200, events
        opened_at = {}
        for ev in json.loads(events[2])["events"]:
            if ev["type"] == "transition" and ev["to"] == "open":
                opened_at[ev["dependency"]] = ev["timestamp"]

        report = []
        for n in rated:
            fault, _, interval, from_start = DEPS[n]
            timeouts = sample(m, "dependency_probe_failures_total", dependency=n, reason="timeout")
            assert opened(m, n) and xptest.state_of(m, n) == "open", (n, h[n])
            assert xptest.transitions(m, n, "closed", "open") == 1, n
            cause = "failure_rate" if fault == "alternate" else "slow_call_rate"
            assert re.search(r'dependency=%s msg="breaker opened" from=closed to=open .*trip=%s' % (n, cause), logs), \
                (n, logs[-3000:])
            # The rate that tripped it stays visible while OPEN (the window is kept).
            if fault == "alternate":
                assert h[n]["failure_rate"] >= 0.5, (n, h[n])
                assert h[n]["consecutive_failures"] <= 2 + timeouts, (n, h[n])
            else:
                assert h[n]["slow_call_rate"] >= 0.8, (n, h[n])
            # Once OPEN no probe runs (recovery_timeout 1 h): the count is the probes it took.
            ran = probes(m, n) - before.get(n, 0)
            want = 10 if from_start else (19 if fault == "alternate" else 16)
            # A probe in flight during the UPDATE may have seen the old answer: one more.
            slack = 0 if from_start else 1
            if timeouts == 0:
                assert want <= ran <= want + slack, (n, ran, want)
            else:  # a loaded machine turned answers into timeouts: they count as failures
                xptest.log("%s: %d probe(s) timed out on this loaded machine" % (n, timeouts))
                assert ran <= want + slack, (n, ran, want)
            t0 = started if from_start else fault_at
            secs = opened_at[n] - t0
            report.append("%s: OPEN after %d faulty probes, %.1f s from the fault's start at a %g s "
                          "interval = %.0f s at the staging 10 s (model: %d s from the first faulty probe)" % (
                              n, ran, secs, interval, secs * STAGING_INTERVAL / interval,
                              (want - 1) * STAGING_INTERVAL))
        for n in plain:
            assert xptest.state_of(m, n) == "closed", (n, h[n])
            assert sum(xptest.transitions(m, n, f, "open") or 0 for f in ("closed", "half_open")) == 0, n
            ran = probes(m, n) - before[n]
            if DEPS[n][0] == "alternate":
                # Half of them failed, never three in a row: only a rate can see it.
                rate = sample(m, "circuit_breaker_failure_rate", dependency=n)
                assert 0.4 <= rate <= 0.6, (n, rate)
                assert xptest.calls(m, n, "failure") >= ran // 2 - 1, (n, ran)
            else:
                assert sample(m, "circuit_breaker_slow_call_rate", dependency=n) >= 0.8, n
                assert (xptest.calls(m, n, "failure") or 0) == (
                    sample(m, "dependency_probe_failures_total", dependency=n, reason="timeout") or 0), n
            report.append("%s: still CLOSED after %d faulty probes" % (n, ran))
        for line in report:
            xptest.log(line)


if __name__ == "__main__":
    RateWindowsTest().run()
