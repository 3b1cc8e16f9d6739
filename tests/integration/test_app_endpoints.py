"""The application side of SPEC section 7 through the real binary (the test build with the
scripted "fake" collector, so each test decides when a dependency fails): /health's new
fields and ETag, /health/features/NAME and /health/dependencies/NAME, long-polls with
?wait= (answer on change, 304 at the end, the waiter limit, SIGTERM), what-if with
?assume= and --config.check --assume/--matrix, /events, credentials on every new path, and
bad input that gets 400/404 with a JSON message, never a 500 and never a change of state."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import xptest
import xpweb
from xptest import wait_until

SECRET = "fake-SENTINEL-app-9d2e"


def dep(name, script, **kw):
    lines = ["[dependency.%s]" % name, "collector = fake", "script = %s" % script]
    kw.setdefault("interval", "200ms")
    kw.setdefault("timeout", "150ms")
    for k, v in kw.items():
        lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n\n"


FEATURES = """
[feature.cache]
min_level = degraded
requires = redis

[feature.reports]
min_level = optimal
requires = db

[feature.orders]
min_level = limited
requires = db, redis

[feature.read_only]
min_level = emergency
"""


def raw_get(port, path, headers=None, timeout=90):
    """One GET on its own connection: (status, headers, body, seconds it took)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        h = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, h)).encode())
        r = xpweb.read_response(s)
    finally:
        s.close()
    assert r is not None, "connection closed without an answer: " + path
    return r[0], r[1], r[2], time.monotonic() - t0


class Poll(threading.Thread):
    """A long-poll on its own thread."""

    def __init__(self, port, tag, wait="30s"):
        super().__init__(daemon=True)
        self.port, self.tag, self.wait = port, tag, wait
        self.result = None
        self.error = None
        self.start()

    def run(self):
        try:
            self.result = raw_get(self.port, "/health?wait=" + self.wait, {"If-None-Match": self.tag})
        except Exception as e:  # reported by the test
            self.error = e


class AppTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("app")

    def teardown_all(self):
        self.tmp.cleanup()

    def script(self, name, text):
        return self.tmp.file(name, text + "\n")

    def start(self, config, **kw):
        kw.setdefault("binary", xptest.FAKE_BINARY)
        return xptest.Exporter(self.tmp, config, **kw)

    def two(self, redis="ok", db="ok", **redis_kw):
        self.redis_s = self.script("redis", redis)
        self.db_s = self.script("db", db)
        redis_kw.setdefault("failure_threshold", 1)
        redis_kw.setdefault("recovery_timeout", "1s")
        redis_kw.setdefault("open_level", "degraded")
        redis_kw.setdefault("weight", "0.2")
        return dep("redis", self.redis_s, secret=SECRET, **redis_kw) + \
            dep("db", self.db_s, weight="0.8", failure_threshold=1, recovery_timeout="1s", open_level="emergency") + FEATURES

    def etag(self, e):
        st, h, _ = xptest.http(e.base + "/health")
        assert st == 200
        return h["ETag"]

    def test_health_fields_and_etag(self):
        e = self.start(self.two())
        try:
            h = e.wait_health(lambda h: h["ready"], 10, "ready")
            r = h["dependencies"]["redis"]
            assert r["mode"] == "auto" and r["failure_rate"] == -1 and r["slow_call_rate"] == -1, r
            assert r["last_probe"]["reason"] is None and r["last_probe"]["error"] is None, r
            st, hd, body = xptest.http(e.base + "/health")
            tag = hd["ETag"]
            assert tag.startswith('W/"') and len(tag) == 20, tag
            # Probes go on (timestamps and durations move): the tag stays.
            ts = json.loads(body)["dependencies"]["db"]["last_probe"]["timestamp"]
            later = e.wait_health(lambda h: h["dependencies"]["db"]["last_probe"]["timestamp"] > ts + 0.3, 5,
                                  "more probes")
            assert self.etag(e) == tag
            # A conditional GET: 304, no body, the same tag; HEAD likewise.
            st, hd, body = xptest.http(e.base + "/health", headers={"If-None-Match": tag})
            assert st == 304 and body == b"" and hd["ETag"] == tag, (st, hd)
            st, hd = xpweb.curl_head(e.base + "/health", "-I", "-H", "If-None-Match: " + tag)
            assert st == 304, st
            st, hd = xpweb.curl_head(e.base + "/health", "-I")
            assert st == 200 and hd["etag"] == tag, hd
            # A failure that opens the breaker: a new tag; the reason shows.
            self.script("redis", "fail reason=connect connection refused")
            h = e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "open", 5, "redis open")
            assert h["dependencies"]["redis"]["last_probe"]["reason"] == "connect", h["dependencies"]["redis"]
            tag2 = self.etag(e)
            assert tag2 != tag
            st, _, _ = xptest.http(e.base + "/health", headers={"If-None-Match": tag})
            assert st == 200
            # Back to the same state: back to the same tag (it names the state, not the time).
            self.script("redis", "ok")
            e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "closed", 5, "redis closed")
            assert self.etag(e) == tag
            assert later  # silence: the document was read
        finally:
            e.stop()

    def test_features_and_dependencies(self):
        e = self.start(self.two())
        try:
            e.wait_health(lambda h: h["ready"], 10, "ready")

            def get(path):
                st, hd, b = xptest.http(e.base + path)
                assert hd["Content-Type"] == "application/json; charset=utf-8", (path, hd)
                return st, json.loads(b)
            st, doc = get("/health/features/cache")
            assert st == 200 and doc == {"feature": "cache", "available": True, "blocked_by": [],
                                         "degradation_level": 0, "status": "optimal", "min_level": "degraded"}, doc
            st, doc = get("/health/dependencies/redis")
            assert st == 200 and doc["available"] is True and doc["state"] == "closed" and doc["mode"] == "auto", doc
            self.script("redis", "fail reason=timeout timed out")
            e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "open", 5, "redis open")
            # redis OPEN, weight 0.2: score 80, degraded (its open_level and the cascade).
            st, doc = get("/health/features/cache")
            assert st == 503 and doc["available"] is False and doc["blocked_by"] == ["redis"], doc
            assert doc["status"] == "degraded" and doc["degradation_level"] == 1, doc
            st, doc = get("/health/features/reports")
            assert st == 503 and doc["blocked_by"] == ["level"], doc
            st, doc = get("/health/features/orders")
            assert st == 503 and doc["blocked_by"] == ["redis"], doc
            st, doc = get("/health/features/read_only")
            assert st == 200 and doc["available"], doc
            st, doc = get("/health/dependencies/redis")
            assert st == 503 and doc["state"] == "open" and doc["available"] is False, doc
            st, doc = get("/health/dependencies/db")
            assert st == 200 and doc["state"] == "closed", doc
            # HEAD: the same status, no body.
            for path, want in (("/health/features/cache", 503), ("/health/features/read_only", 200),
                               ("/health/dependencies/redis", 503), ("/health/dependencies/db", 200),
                               ("/health/features/nope", 404), ("/health/dependencies/nope", 404)):
                st, hd = xpweb.curl_head(e.base + path, "-I")
                assert st == want, (path, st)
            # Unknown or odd names: 404 with a JSON error, never a 500.
            for path in ("/health/features/nope", "/health/features/", "/health/features/cache/x",
                         "/health/features/%ff%fe", "/health/features/" + "x" * 3000,
                         "/health/dependencies/nope", "/health/dependencies/", "/health/dependencies/%0a"):
                st, hd, b = xptest.http(e.base + path)
                assert st == 404 and hd["Content-Type"].startswith("application/json"), (path, st)
                assert "error" in json.loads(b), b
            # Only GET and HEAD.
            st, hd, b = xptest.http(e.base + "/health/features/cache", method="POST", data=b"")
            assert st == 405 and hd["Allow"] == "GET, HEAD" and json.loads(b)["error"], (st, hd)
            self.script("redis", "ok")
            e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "closed", 5, "redis closed")
            st, doc = get("/health/features/cache")
            assert st == 200 and doc["available"], doc
        finally:
            e.stop()

    def test_long_poll_answers_on_change_or_at_the_end(self):
        e = self.start(self.two())
        try:
            e.wait_health(lambda h: h["ready"], 10, "ready")
            tag = self.etag(e)
            # Nothing changes: 304 when the wait ends (probes go on meanwhile), with the tag.
            st, hd, body, took = raw_get(e.port, "/health?wait=1s", {"If-None-Match": tag})
            assert st == 304 and hd["etag"] == tag and body == b"", (st, hd)
            assert took >= 0.9, took
            # A change while waiting: answered with the new document, before the wait ends.
            # (That the poll really waits, rather than arriving after the change, is shown by
            # test_waiter_limit_is_half_the_connections: a fifth poll is refused only while
            # four wait. Here a second is left for it to arrive.)
            p = Poll(e.port, tag, "30s")
            time.sleep(1.0)
            assert p.result is None, "answered before anything changed: %r" % (p.result,)
            self.script("redis", "fail reason=connect refused")
            p.join(20)
            assert p.error is None and p.result, p.error
            st, hd, body, took = p.result
            assert st == 200 and hd["etag"] != tag, (st, hd)
            doc = json.loads(body)
            assert doc["dependencies"]["redis"]["state"] == "open" and doc["status"] == "degraded", doc
            assert took < 25, took
            new = hd["etag"]
            # Without If-None-Match, or with a tag that is not the current one: at once.
            for headers in ({}, {"If-None-Match": tag}, {"If-None-Match": '"nonsense"'}):
                st, hd, body, took = raw_get(e.port, "/health?wait=30s", headers)
                assert st == 200 and hd["etag"] == new, (headers, st)
                assert took < 10, took
            # wait=0: no wait.
            st, hd, body, took = raw_get(e.port, "/health?wait=0", {"If-None-Match": new})
            assert st == 304 and took < 10
            # A bad wait: 400 with a message, the state untouched.
            for bad in ("abc", "61s", "2m", "-1s", "", "1e9", "30x", "%00"):
                st, hd, body, took = raw_get(e.port, "/health?wait=" + bad, {"If-None-Match": new})
                assert st == 400 and hd["content-type"].startswith("application/json"), (bad, st)
                assert "wait" in json.loads(body)["error"], body
            st, hd, body, took = raw_get(e.port, "/health?wait=5s&assume=db:open")
            assert st == 400 and "cannot be combined" in json.loads(body)["error"], body
            assert self.etag(e) == new
        finally:
            e.stop()

    def test_waiter_limit_is_half_the_connections(self):
        # max_connections 8: at most 4 wait; the 5th is answered at once.
        e = self.start("[web]\nmax_connections = 8\n\n" + self.two())
        try:
            e.wait_health(lambda h: h["ready"], 10, "ready")
            tag = self.etag(e)
            polls = [Poll(e.port, tag, "60s") for _ in range(4)]
            time.sleep(1.0)
            assert all(p.result is None for p in polls), [p.result for p in polls]
            st, hd, body, took = raw_get(e.port, "/health?wait=60s", {"If-None-Match": tag})
            assert st == 304 and took < 10, (st, took)  # past the limit: at once
            # Scrapes still get through beside the four waiters.
            for _ in range(5):
                assert xptest.http(e.base + "/metrics")[0] == 200
            self.script("redis", "fail reason=connect refused")
            for p in polls:
                p.join(20)
                assert p.result and p.result[0] == 200, (p.result, p.error)
        finally:
            e.stop()

    def test_sigterm_answers_waiters_and_exits_in_time(self):
        e = self.start(self.two())
        e.wait_health(lambda h: h["ready"], 10, "ready")
        tag = self.etag(e)
        polls = [Poll(e.port, tag, "60s") for _ in range(5)]
        time.sleep(0.8)
        assert all(p.result is None for p in polls)
        t0 = time.monotonic()
        e.proc.signal(signal.SIGTERM)
        rc = e.proc.p.wait(10)
        took = time.monotonic() - t0
        assert rc == 0, (rc, e.logs()[-2000:])
        assert took < 2.0, "SIGTERM took %.2fs with waiters" % took
        for p in polls:
            p.join(5)
            assert p.result and p.result[0] == 304, (p.result, p.error)
        e.stop()

    def test_what_if(self):
        e = self.start(self.two())
        try:
            e.wait_health(lambda h: h["ready"], 10, "ready")
            before = e.metrics_text()
            st, hd, body = xptest.http(e.base + "/health?assume=db:open")
            doc = json.loads(body)
            assert st == 200 and doc["assumed"] == {"db": "open"}, doc
            assert doc["status"] == "emergency" and doc["degradation_level"] == 4, doc
            assert abs(doc["health_score"] - 20) < 1e-6, doc
            assert doc["dependencies"]["db"]["state"] == "open" and doc["dependencies"]["db"]["health_score"] == 0
            assert doc["features"] == {"cache": False, "reports": False, "orders": False, "read_only": True}, doc
            assert "ETag" not in hd
            st, hd, body = xptest.http(e.base + "/health?assume=redis:half_open,db:closed")
            doc = json.loads(body)
            assert st == 200 and doc["status"] == "degraded" and doc["health_score"] == 90, doc
            assert doc["assumed"] == {"redis": "half_open", "db": "closed"}, doc
            for bad, says in (("x:open", "unknown dependency"), ("db:gone", "unknown state"), ("db", "NAME:STATE"),
                              ("", "no dependency"), ("db:open,db:open", "twice")):
                st, hd, body = xptest.http(e.base + "/health?assume=" + bad)
                assert st == 400 and says in json.loads(body)["error"], (bad, st, body)
            # Nothing changed: the real /health is as before, no transition happened.
            h = e.health()
            assert h["status"] == "optimal" and h["dependencies"]["db"]["state"] == "closed"
            pick = lambda t: sorted(l for l in t.splitlines() if l.startswith("circuit_breaker_transitions_total"))
            assert pick(before) == pick(e.metrics_text())
        finally:
            e.stop()

    def test_config_check_assume_and_matrix(self):
        cfg = self.tmp.file("check.ini", self.two())
        run = lambda *a: subprocess.run([xptest.FAKE_BINARY, "--config.file=" + cfg] + list(a),
                                        capture_output=True, text=True, timeout=30)
        r = run("--config.check", "--assume=db:open")
        assert r.returncode == 0, r.stderr
        assert "level emergency (4), system health score 20.0" in r.stdout, r.stdout
        assert "  reports (db, level emergency > optimal)" in r.stdout, r.stdout
        r = run("--config.check", "--assume=db:open", "--format=json")
        doc = json.loads(r.stdout)
        assert doc["status"] == "emergency" and doc["assumed"] == {"db": "open"}, doc
        r = run("--config.check", "--matrix")
        lines = r.stdout.splitlines()
        assert r.returncode == 0 and len(lines) == 2 + 1 + 2 + 1, r.stdout
        assert lines[2].split()[:4] == ["(none)", "optimal", "100.0", "0"], lines
        assert lines[3].split()[:4] == ["redis", "degraded", "80.0", "3"], lines
        assert lines[3].endswith("cache, reports, orders"), lines
        assert lines[5].split()[:6] == ["redis", "+", "db", "emergency", "0.0", "3"], lines
        r = run("--config.check", "--matrix", "--format=json")
        doc = json.loads(r.stdout)
        assert [s["open"] for s in doc["scenarios"]] == [[], ["redis"], ["db"], ["redis", "db"]], doc
        for args, says in ((["--config.check", "--assume=nope:open"], "unknown dependency \"nope\""),
                           (["--assume=db:open"], "only goes with --config.check"),
                           (["--config.check", "--matrix", "--format=yaml"], "text or json"),
                           (["--config.check", "--matrix", "--assume=db:open"], "one at a time")):
            r = run(*args)
            assert r.returncode == 2 and says in r.stderr, (args, r.returncode, r.stderr)
        # --config.check alone keeps its one line.
        r = run("--config.check")
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, r.stdout

    def test_events(self):
        e = self.start(self.two())
        try:
            e.wait_health(lambda h: h["ready"], 10, "ready")
            st, hd, body = xptest.http(e.base + "/events")
            assert st == 200 and json.loads(body) == {"events": []}, body
            self.script("redis", "fail reason=auth wrong password " + SECRET)
            e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "open", 5, "redis open")
            self.script("redis", "ok")
            e.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "closed", 5, "redis closed")
            # A reload that works, and one that does not.
            e.reload()
            wait_until(lambda: any(ev["type"] == "reload" for ev in json.loads(e.get("/events")[2])["events"]), 5)
            with open(e.config_path, "a") as f:
                f.write("\n[dependency.broken]\ncollector = fake\n")
            e.reload()
            wait_until(lambda: sum(ev["type"] == "reload" for ev in json.loads(e.get("/events")[2])["events"]) == 2, 5)
            st, hd, body = xptest.http(e.base + "/events")
            assert SECRET.encode() not in body
            events = json.loads(body)["events"]
            kinds = [(ev["type"], ev.get("dependency"), ev.get("from"), ev.get("to")) for ev in events]
            # Newest first: the two reloads, then the recovery, then the opening.
            want = [("reload", None, None, None), ("reload", None, None, None),
                    ("level", None, "degraded", "optimal"), ("transition", "redis", "half_open", "closed"),
                    ("transition", "redis", "open", "half_open"), ("level", None, "optimal", "degraded"),
                    ("transition", "redis", "closed", "open")]
            assert kinds == want, kinds
            assert events[0]["success"] is False and "broken" in events[0]["error"], events[0]
            assert events[1]["success"] is True and events[1]["error"] is None, events[1]
            opened = events[6]
            assert opened["reason"] == "auth" and "wrong password" in opened["error"], opened
            assert events[4]["reason"] is None and events[4]["error"] is None, events[4]
            ts = [ev["timestamp"] for ev in events]
            assert ts == sorted(ts, reverse=True) and ts[-1] > time.time() - 60, ts
        finally:
            e.stop()

    def test_credentials_on_every_new_path(self):
        pw = "app-endpoints-pw"
        e = self.start("[web]\nbasic_auth_user = u\nbasic_auth_password_hash = %s\n\n" % xpweb.bcrypt_hash("u", pw)
                       + self.two())
        try:
            good = xpweb.basic("u", pw)
            wait_until(lambda: xptest.http(e.base + "/-/ready", headers=good)[0] == 200, 10)
            paths = [("GET", "/health/features/cache"), ("GET", "/health/features/nope"),
                     ("GET", "/health/dependencies/redis"), ("GET", "/events"), ("GET", "/health?wait=1s"),
                     ("GET", "/health?assume=db:open"), ("POST", "/ofrep/v1/evaluate/flags/cache"),
                     ("POST", "/ofrep/v1/evaluate/flags"), ("GET", "/ofrep/v1/configuration")]
            for method, path in paths:
                data = b"{}" if method == "POST" else None
                st, _, body = xptest.http(e.base + path, method=method, data=data)
                assert st == 401, (path, st)
                assert b"cache" not in body and b"redis" not in body, body
                st, _, _ = xptest.http(e.base + path, method=method, data=data, headers=xpweb.basic("u", "wrong"))
                assert st == 401, (path, st)
                st, _, _ = xptest.http(e.base + path, method=method, data=data, headers=good)
                assert st in (200, 404), (path, st)
        finally:
            e.stop()

    def test_bad_input_never_500(self):
        e = self.start(self.two())
        try:
            e.wait_health(lambda h: h["ready"], 10, "ready")
            tag = self.etag(e)

            def errors():
                # (A /health asked before the runtime started answers 500 on main, where HTTP
                # starts first: only the 500s of this test's requests are counted.)
                return sum(v for (name, labels), v in e.metrics().items()
                           if name == "resilience_exporter_http_requests_total" and dict(labels)["code"] == "500")
            before = errors()
            requests = [("GET", "/health?assume=" + "x" * 5000), ("GET", "/health?assume=%ff:open"),
                        ("GET", "/health?assume=redis:open," * 100), ("GET", "/health?wait=99999999999999999999s"),
                        ("GET", "/health?wait=1s&wait=2s"), ("GET", "/events?x=1"), ("GET", "/health/features/%2e%2e"),
                        ("POST", "/ofrep/v1/evaluate/flags/%ff"), ("POST", "/ofrep/v1/evaluate/flags/")]
            for method, path in requests:
                st, hd, body = xptest.http(e.base + path, method=method, data=b"{}" if method == "POST" else None)
                assert st in (200, 304, 400, 404), (path, st, body[:200])
                if st != 200 and body:
                    json.loads(body)
            assert self.etag(e) == tag
            time.sleep(1.1)  # /metrics is rendered at most once a second
            assert errors() == before
        finally:
            e.stop()


if __name__ == "__main__":
    AppTest().run()
