"""The gate in front of every path (issue 11 items 4 and 5): API keys ([web] api_key_hash,
sent as X-API-Key or Authorization: Bearer, checked with curl), the rate limit per client
address ([web] rate_limit = N/PERIOD: 429 with Retry-After, before credentials, failed
authentications counted, /-/healthy and /-/ready exempt), and a flood of wrong passwords from
several addresses beside an authenticated scraper: the flood gets 401/429/503, the scraper 200
every time (its timings are logged, not asserted: tests/bench/auth_flood.py measures them),
and SIGTERM in the middle of the flood still ends the process at once.

Client addresses: every 127.x.y.z is this machine's loopback, so a client binds its socket to
127.0.0.2 and so on to be another TCP peer."""
import http.client
import re
import signal
import statistics
import subprocess
import threading
import time

import xptest
import xpweb
from xptest import sample, wait_until

USER = "prometheus"
PASSWORD = "gate-SENTINEL-pw-7f1c"
KEY = "gate-SENTINEL-key-0c9a2e"


def dep(script):
    return "[dependency.a]\ncollector = fake\nscript = %s\ninterval = 1s\ntimeout = 500ms\n" % script


def curl(url, *args):
    """(status, {lowercase header: value}) of one request; status 0 when none came."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-D", "-", url] + list(args),
                       capture_output=True, text=True)
    blocks = [b for b in r.stdout.replace("\r\n", "\n").split("\n\n") if b.startswith("HTTP/")]
    if not blocks:
        return 0, {}
    lines = blocks[-1].split("\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), {k: v[0] if len(v) == 1 else v for k, v in headers.items()}


def get(port, path="/metrics", source="127.0.0.1", headers=None, conn=None):
    """(status, headers, body) from `source`; conn: a kept-alive http.client connection."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(source, 0))
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        if conn is None:
            c.close()


class WebGateTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("webgate")
        self.script = self.tmp.file("ok", "ok\n")
        self.hash = xpweb.bcrypt_hash(USER, PASSWORD)
        self.key_hash_file = self.tmp.file("api.hash", xpweb.bcrypt_hash("", KEY) + "\n", mode=0o600)

    def teardown_all(self):
        self.tmp.cleanup()

    def start(self, web_ini="", web_yaml=None, args=()):
        extra = ["--log.level=debug"] + list(args)
        if web_yaml is not None:
            extra.append("--web.config.file=" + self.tmp.file("web-%d.yml" % xptest.Exporter.count, web_yaml))
        return xptest.Exporter(self.tmp, ("[web]\n" + web_ini if web_ini else "") + dep(self.script),
                               binary=xptest.FAKE_BINARY, extra_args=extra)

    def test_api_key_with_curl(self):
        e = self.start("api_key_hash_file = %s\n" % self.key_hash_file)
        try:
            url = e.base + "/metrics"
            assert curl(url, "-H", "X-API-Key: " + KEY)[0] == 200
            assert curl(url, "-H", "Authorization: Bearer " + KEY)[0] == 200
            assert curl(url, "-H", "authorization: bearer " + KEY)[0] == 200  # scheme is case-blind
            st, h = curl(url)
            assert st == 401 and h.get("www-authenticate") == 'Bearer realm="resilience_exporter"', h
            assert curl(url, "-H", "X-API-Key: " + KEY + "x")[0] == 401
            assert curl(url, "-H", "Authorization: Bearer " + KEY[:-1])[0] == 401
            assert curl(url, "-u", "%s:%s" % (USER, KEY))[0] == 401  # a key is not a password
            # When both are sent, the Authorization header is the one judged.
            assert curl(url, "-H", "X-API-Key: " + KEY, "-H", "Authorization: Bearer nope")[0] == 401
            for path in ("/health", "/", "/nope"):
                assert curl(e.base + path)[0] == 401, path
                assert curl(e.base + path, "-H", "X-API-Key: " + KEY)[0] in (200, 404), path
            # Probes stay open.
            assert curl(e.base + "/-/healthy")[0] == 200
            wait_until(lambda: curl(e.base + "/-/ready")[0] == 200, 5, what="ready without credentials")
            # A rotated key: the old one refused from the reload on.
            new_key = KEY + "-rotated"
            self.tmp.file("api.hash", xpweb.bcrypt_hash("", new_key) + "\n", mode=0o600)
            e.reload()
            wait_until(lambda: curl(url, "-H", "X-API-Key: " + new_key)[0] == 200, 5, what="the new key")
            assert curl(url, "-H", "X-API-Key: " + KEY)[0] == 401
            assert "SENTINEL" not in e.logs()
        finally:
            self.tmp.file("api.hash", xpweb.bcrypt_hash("", KEY) + "\n", mode=0o600)
            e.stop()

    def test_basic_auth_or_api_key(self):
        e = self.start("api_key_hash_file = %s\n" % self.key_hash_file, web_yaml=xpweb.web_yaml(users={USER: self.hash}))
        try:
            url = e.base + "/metrics"
            assert curl(url, "-u", "%s:%s" % (USER, PASSWORD))[0] == 200
            assert curl(url, "-H", "X-API-Key: " + KEY)[0] == 200
            st, h = curl(url)
            assert st == 401 and sorted(h.get("www-authenticate")) == [
                'Basic realm="resilience_exporter"', 'Bearer realm="resilience_exporter"'], h
            assert curl(url, "-u", "%s:%s" % (USER, KEY))[0] == 401
        finally:
            e.stop()

    def test_rate_limit(self):
        e = self.start("rate_limit = 5/60s\nbasic_auth_user = %s\nbasic_auth_password_hash = %s\n" % (USER, self.hash))
        try:
            good, bad = xpweb.basic(USER, PASSWORD), xpweb.basic(USER, "wrong")
            for _ in range(5):
                assert get(e.port, headers=good)[0] == 200
            st, h, body = get(e.port, headers=good)
            assert st == 429 and body == b"429 too many requests\n", (st, body)
            assert 1 <= int(h["retry-after"]) <= 12, h  # a token every 12 s
            # Checked before credentials: a client over its limit learns nothing more.
            assert get(e.port)[0] == 429
            assert get(e.port, headers=bad)[0] == 429
            # Probes are outside the limit.
            for _ in range(20):
                assert get(e.port, "/-/healthy")[0] == 200
                assert get(e.port, "/-/ready")[0] in (200, 503)
            # Another address has its own bucket; failed authentications spend it like any
            # request: five wrong passwords, then the right one is too many.
            assert get(e.port, source="127.0.0.2", headers=good)[0] == 200
            for _ in range(5):
                assert get(e.port, source="127.0.0.3", headers=bad)[0] == 401
            assert get(e.port, source="127.0.0.3", headers=good)[0] == 429
            # (Tokens coming back with time: tests/unit/test_ratelimit.c, with a fake clock.)
            # The answers are counted (the page is rendered at most once a second: polled, each
            # time from a fresh address).
            sources = iter("127.0.1.%d" % i for i in range(1, 200))

            def counted():
                text = get(e.port, source=next(sources), headers=good)[2].decode()
                m = re.search(r'resilience_exporter_http_requests_total\{handler="/metrics",code="429"\} (\d+)', text)
                return m and int(m.group(1)) >= 4
            wait_until(counted, 5, interval=0.2, what="the 429s counted")
            # A reload without rate_limit lifts it.
            with open(e.config_path, "w") as f:
                f.write("[web]\nbasic_auth_user = %s\nbasic_auth_password_hash = %s\n" % (USER, self.hash) + dep(self.script))
            e.reload()
            wait_until(lambda: all(get(e.port, source="127.0.0.3", headers=good)[0] == 200 for _ in range(8)), 5,
                       what="no limit after reload")
        finally:
            e.stop()

    def test_429_with_a_body_closes(self):
        e = self.start("rate_limit = 1/1h\n", args=["--web.enable-lifecycle"])
        try:
            assert get(e.port, "/nope")[0] == 404
            s = xpweb.connect(e.port)
            s.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
            got = xpweb.read_response(s)
            assert got is not None and got[0] == 429 and int(got[1]["retry-after"]) > 3000, got
            s.close()
        finally:
            e.stop()

    def flood(self, e, seconds, pause, until=None):
        """Wrong passwords from four addresses (two kept-alive connections each) while the scraper asks
        for /metrics with the right ones from 127.0.0.1. Returns (scraper latencies, scraper
        statuses, flood statuses)."""
        stop = threading.Event()
        flood_statuses, lock = [], threading.Lock()

        def attacker(source, n):
            c = None
            while not stop.is_set():
                try:
                    c = c or http.client.HTTPConnection("127.0.0.1", e.port, timeout=20, source_address=(source, 0))
                    st = get(e.port, source=source, headers=xpweb.basic(USER, "wrong-%d" % n), conn=c)[0]
                except (OSError, http.client.HTTPException):
                    st, c = "closed", None
                with lock:
                    flood_statuses.append(st)
                n += 1

        threads = [threading.Thread(target=attacker, args=("127.0.0.%d" % (10 + i % 4), i * 1000000)) for i in range(8)]
        good = xpweb.basic(USER, PASSWORD)
        conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=20)
        assert get(e.port, headers=good, conn=conn)[0] == 200  # cached from here on
        for t in threads:
            t.start()
        lat, statuses = [], []
        try:
            time.sleep(0.5)
            # At least `seconds`; then on until `until(flood statuses)` holds (at most 30 s: a
            # slow machine hashes slowly, so the flood spends its tokens slowly).
            start = time.monotonic()
            while time.monotonic() < start + seconds or (until and time.monotonic() < start + 30 and
                                                          not until(list(flood_statuses))):
                t0 = time.monotonic()
                statuses.append(get(e.port, headers=good, conn=conn)[0])
                lat.append(time.monotonic() - t0)
                time.sleep(pause)
        finally:
            stop.set()
            for t in threads:
                t.join()
            conn.close()
        return lat, statuses, flood_statuses

    def test_flood_of_wrong_passwords(self):
        # With the limit, the scraper asks every 1.2 s, below the refill of 10 per 10 s; each
        # address of the flood asks as fast as bcrypt answers it, past its tokens in seconds.
        for rate, pause in (("", 0.02), ("rate_limit = 10/10s\n", 1.2)):
            e = self.start(rate + "basic_auth_user = %s\nbasic_auth_password_hash = %s\n" % (USER, self.hash))
            try:
                lat, statuses, flood = self.flood(e, 5, pause, until=(lambda f: 429 in f) if rate else None)
                lat.sort()
                counts = {s: flood.count(s) for s in set(flood)}
                xptest.log("%s: scraper %d requests, p50 %.1f ms, p99 %.1f ms; flood %s" % (
                    "rate limit on" if rate else "no rate limit", len(lat), statistics.median(lat) * 1e3,
                    lat[int(len(lat) * 0.99) - 1] * 1e3, counts))
                assert statuses and set(statuses) == {200}, set(statuses)
                allowed = {401, 503} | ({429} if rate else set())
                assert flood and set(flood) <= allowed, counts
                assert counts.get(401, 0) > 0
                if rate:  # past its 10 tokens each address is held off
                    assert counts.get(429, 0) > 0, counts
                assert e.proc.poll() is None
                assert "wrong-" not in e.logs() and "SENTINEL" not in e.logs()
            finally:
                e.stop()

    def test_sigterm_during_a_flood(self):
        """Connections suspended while bcrypt runs are answered (503) and closed: the process
        still exits 0 within 2 s."""
        e = self.start("basic_auth_user = %s\nbasic_auth_password_hash = %s\n" % (USER, xpweb.bcrypt_hash(USER, PASSWORD, cost=12)))
        socks = []
        try:
            for i in range(30):  # 30 checks queued: a few seconds of bcrypt at cost 12
                s = xpweb.connect(e.port, timeout=10)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
                          % __import__("base64").b64encode(b"%s:wrong%d" % (USER.encode(), i)))
                socks.append(s)
            time.sleep(0.3)
            t0 = time.monotonic()
            e.proc.signal(signal.SIGTERM)
            rc = e.proc.p.wait(5)
            took = time.monotonic() - t0
            xptest.log("exit %d after %.2f s with 30 checks waiting" % (rc, took))
            assert rc == 0 and took < 2, (rc, took)
            answers = []
            for s in socks:
                try:
                    got = xpweb.read_response(s)
                    answers.append(got[0] if got else "closed")
                except OSError:
                    answers.append("closed")
            assert set(answers) <= {401, 503, "closed"}, answers
        finally:
            for s in socks:
                s.close()
            e.stop()


if __name__ == "__main__":
    WebGateTest().run()
