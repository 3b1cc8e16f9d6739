"""Breaker scenarios that each backend's test runs the same way against its real server: an
outage (server stopped) that opens the breaker and a restart that closes it again, and a
frozen server (SIGSTOP: the kernel still accepts connections, nothing answers) whose probes
must fail at their deadline while no scrape waits on them.

`server` is one of the srv_* helpers: stop(), start() (returns once the server listens and
answers), freeze() and thaw(). `ex` is an xptest.Exporter probing it as dependency `dep` at a
1 s interval. Each function returns the parsed scrape it ended on, for the test's own checks.
"""
import xptest
from xptest import calls, log, state_of, timed_scrape, transitions, wait_until


def _dep(ex, dep):
    return ex.health()["dependencies"][dep]


def _good_probe(h, dep):
    lp = h["dependencies"][dep]["last_probe"]
    return lp is not None and lp["success"]


def _scrape_until_open(ex, dep, within, scrape_times=None):
    """Scrapes until dep's breaker is OPEN; returns that scrape, so its counts and its state
    are one moment (a trial cannot slip in between)."""
    def opened():
        dt, text = timed_scrape(ex)
        if scrape_times is not None:
            scrape_times.append(dt)
        m = xptest.parse_metrics(text)
        return m if state_of(m, dep) == "open" else None
    return wait_until(opened, within, interval=0.02, what="the %s breaker to open" % dep)


def stop_until_open(ex, dep, server, threshold, within=15):
    """After a good probe, stops the server: exactly `threshold` failed probes open the
    breaker (one transition), and no probe runs while it is OPEN (ticks are rejected)."""
    ex.wait_health(lambda h: _good_probe(h, dep), 10, "a good probe of %s" % dep)
    server.stop()
    m = _scrape_until_open(ex, dep, within)
    assert calls(m, dep, "failure") == threshold, calls(m, dep, "failure")
    assert transitions(m, dep, "closed", "open") == 1
    assert xptest.sample(m, "dependency_probe_success", dependency=dep) == 0
    wait_until(lambda: calls(ex.metrics(), dep, "rejected") >= 1, 10, what="a rejected tick while OPEN")
    return m


def start_until_closed(ex, dep, server, threshold, half_open_requests, m_open, within=20):
    """Starts the server again (m_open: the scrape stop_until_open returned) and waits for the
    breaker to close: through HALF_OPEN, whose score is half the dependency's, then
    half_open_requests successful trials.

    The breaker's recovery runs on its own clock, so a trial may come while the server is
    still starting on a busy machine and fail: that reopens the breaker for another recovery
    period, and is no fault. What is checked are the counts that hold however the two
    interleave: every trial round ended exactly once (reopened or closed), every failure was
    one of the `threshold` or a failed trial, and a trial that starts once the server answers
    succeeds."""
    server.start()
    ready = ex.metrics()  # the server answers from here on
    seen = {}

    def closed():
        h = _dep(ex, dep)
        seen.setdefault(h["state"], h)
        return h["state"] == "closed"
    wait_until(closed, within, interval=0.05, what="the %s breaker to close again" % dep)
    m = ex.metrics()
    reopened = transitions(m, dep, "half_open", "open")
    if reopened:
        log("%s: %d trial(s) failed while the server was starting" % (dep, reopened))
    assert transitions(m, dep, "closed", "open") == 1
    assert transitions(m, dep, "open", "half_open") == reopened + 1, (
        transitions(m, dep, "open", "half_open"), reopened)
    assert transitions(m, dep, "half_open", "closed") == 1
    assert calls(m, dep, "failure") == threshold + reopened, (calls(m, dep, "failure"), reopened)
    # OPEN when the server already answered: the next trial came after, and must succeed.
    # Otherwise one trial may have been on its way.
    before = transitions(ready, dep, "half_open", "open")
    allowed = before if state_of(ready, dep) == "open" else before + 1
    assert reopened <= allowed, "a trial failed after the server was back (%d > %d)" % (reopened, allowed)
    assert calls(m, dep, "success") >= calls(m_open, dep, "success") + half_open_requests
    assert calls(m, dep, "rejected") >= 1
    # Two or more trials one interval apart: HALF_OPEN lasts a second, polled every 50 ms.
    if half_open_requests > 1:
        assert "half_open" in seen, sorted(seen)
        assert seen["half_open"]["health_score"] == 50, seen["half_open"]
    assert xptest.sample(m, "dependency_probe_success", dependency=dep) == 1
    return m


def frozen_server(ex, dep, server, timeout, threshold, within=15):
    """Freezes the server after a good probe. Every probe then fails with "timed out" at its
    deadline (timeout, in seconds), `threshold` of them open the breaker, and no scrape,
    during the probes or after, waits on them. Thawed, the breaker closes again."""
    ex.wait_health(lambda h: _good_probe(h, dep), 10, "a good probe of %s" % dep)
    scrape_times = []
    server.freeze()
    try:
        opened = _scrape_until_open(ex, dep, within, scrape_times)
        assert calls(opened, dep, "failure") == threshold, calls(opened, dep, "failure")
        lp = _dep(ex, dep)["last_probe"]
        assert lp["success"] is False and "timed out" in lp["error"], lp
        # The deadline: neither early nor (much) late.
        assert timeout - 0.05 <= lp["duration_seconds"] <= timeout + xptest.DEADLINE_SLACK, lp
        # Every probe of the run, not only the last, ended by then: the histogram's smallest
        # bucket that holds the deadline counts them all.
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in opened.items()
                         if k[0] == "dependency_probe_duration_seconds_bucket" and dict(k[1])["dependency"] == dep)
        le, within_deadline = next(b for b in buckets if b[0] >= timeout + xptest.DEADLINE_SLACK)
        count = xptest.sample(opened, "dependency_probe_duration_seconds_count", dependency=dep)
        assert count == within_deadline and count >= threshold + 1, (count, le, within_deadline)
        # Keep scraping through the rest of the freeze (OPEN: no probes, still frozen).
        for _ in range(20):
            scrape_times.append(timed_scrape(ex)[0])
        xptest.assert_scrapes_did_not_wait(scrape_times, timeout)
    finally:
        server.thaw()
    ex.wait_health(lambda h: h["dependencies"][dep]["state"] == "closed", 15, "%s closed after the thaw" % dep)
    return opened
