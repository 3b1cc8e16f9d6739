"""The HTTP side as clients see it: persistent connections (plain, TLS, pipelined), the
security headers on every answer, the lifecycle flag, the request counter, Accept-Encoding
and the answer to a request without Host. Uses the test build with the "fake" collector.

Issue 10 fault 6 (every response closed its connection), fault 8 (Accept-Encoding q-values,
the Host-less request answered by libmicrohttpd's page), issue 11 items 6, 7 and 8."""
import gzip
import http.client
import signal
import socket
import time

import xptest
import xpweb
from xptest import sample, wait_until

USER = "prometheus"
PASSWORD = "proto-SENTINEL-pw-51c0"

# Every endpoint and the answer it gives: (method, path, status). /-/ready is 200 once the
# single dependency has been probed (the tests wait for that).
ENDPOINTS = [
    ("GET", "/metrics", 200),
    ("HEAD", "/metrics", 200),
    ("GET", "/health", 200),
    ("GET", "/", 200),
    ("GET", "/-/healthy", 200),
    ("GET", "/-/ready", 200),
    ("GET", "/nope", 404),
    ("GET", "/metrics/x", 404),
    ("POST", "/metrics", 405),
    ("DELETE", "/health", 405),
    ("GET", "/-/reload", 405),
    ("POST", "/-/reload", 403),  # no --web.enable-lifecycle
]
SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def dep(script, **kw):
    lines = ["[dependency.a]", "collector = fake", "script = %s" % script]
    kw.setdefault("interval", "1s")
    kw.setdefault("timeout", "500ms")
    lines += ["%s = %s" % (k, v) for k, v in kw.items()]
    return "\n".join(lines) + "\n"


class WebProtocolTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("webproto")
        self.script = self.tmp.file("ok", "ok\n")
        self.cert, self.key = xpweb.self_signed(self.tmp)
        self.hash = xpweb.bcrypt_hash(USER, PASSWORD)

    def teardown_all(self):
        self.tmp.cleanup()

    def start(self, web="", **kw):
        kw.setdefault("binary", xptest.FAKE_BINARY)
        e = xptest.Exporter(self.tmp, ("[web]\n" + web + "\n" if web else "") + dep(self.script), **kw)
        return e

    def web_tls(self):
        return "tls_cert_file = %s\ntls_key_file = %s\n" % (self.cert, self.key)

    def web_auth(self):
        return "basic_auth_user = %s\nbasic_auth_password_hash = %s\n" % (USER, self.hash)

    def wait_ready(self, e, headers=None, cert=None):
        def ready():
            c = self.conn(e, cert)
            c.request("GET", "/-/ready", headers=headers or {})
            st = c.getresponse().status
            c.close()
            return st == 200
        wait_until(ready, 10, what="ready")

    def conn(self, e, cert=None):
        if cert:
            return http.client.HTTPSConnection("127.0.0.1", e.port, timeout=10, context=xpweb.tls_context(cert))
        return http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)

    def one_connection_for_all(self, e, cert=None, headers=None, rounds=5):
        """Every endpoint, `rounds` times over, on one connection: each answer as expected and
        the socket never replaced (http.client would silently reconnect if the server closed)."""
        c = self.conn(e, cert)
        c.connect()
        sock = c.sock
        local = sock.getsockname()
        answered = 0
        for _ in range(rounds):
            for method, path, want in ENDPOINTS:
                c.request(method, path, body=b"" if method in ("POST", "DELETE") else None, headers=headers or {})
                r = c.getresponse()
                body = r.read()
                assert r.status == want, (method, path, r.status, body[:200])
                assert not r.will_close, (method, path, r.getheader("Connection"))
                assert c.sock is sock and sock.getsockname() == local, (method, path, "reconnected")
                answered += 1
        c.close()
        return answered

    def test_one_connection_serves_every_endpoint(self):
        e = self.start()
        try:
            self.wait_ready(e)
            n = self.one_connection_for_all(e)
            xptest.log("%d requests on one plain connection" % n)
        finally:
            e.stop()

    def test_one_tls_connection_serves_every_endpoint_with_auth(self):
        e = self.start(self.web_tls() + self.web_auth())
        try:
            auth = xpweb.basic(USER, PASSWORD)
            self.wait_ready(e, auth, self.cert)
            n = self.one_connection_for_all(e, self.cert, auth)
            xptest.log("%d requests on one TLS connection" % n)
            # A browser asks without credentials first, then again with them, on the same
            # connection: the 401 keeps it open too.
            c = self.conn(e, self.cert)
            c.connect()
            sock = c.sock
            for headers, want in (({}, 401), (auth, 200), ({}, 401), (xpweb.basic(USER, "wrong"), 401), (auth, 200)):
                c.request("GET", "/metrics", headers=headers)
                r = c.getresponse()
                r.read()
                assert r.status == want and not r.will_close and c.sock is sock, (headers, r.status)
            c.close()
        finally:
            e.stop()

    def test_pipelined_requests_all_answered(self):
        e = self.start()
        try:
            self.wait_ready(e)
            s = xpweb.connect(e.port)
            # Three requests in one write: each answered, in order, on this connection.
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            rest = b""
            statuses = []
            for _ in range(3):
                got = xpweb.read_response(s, rest)
                assert got is not None, "connection closed after %d answers" % len(statuses)
                status, headers, body, rest = got
                statuses.append(status)
                assert headers.get("connection", "").lower() != "close", headers
                if status == 200 and b"circuit_breaker_state" in body:
                    assert body.endswith(b"\n")
            assert statuses == [200, 200, 404], statuses
            # ... and the connection still takes a fourth.
            s.sendall(b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n")
            got = xpweb.read_response(s, rest)
            assert got is not None and got[0] == 200, got
            s.close()
        finally:
            e.stop()

    def test_pipelined_over_tls(self):
        e = self.start(self.web_tls())
        try:
            wait_until(lambda: xpweb.curl_head("https://127.0.0.1:%d/-/ready" % e.port, "--cacert", self.cert)[0] == 200,
                       10, what="ready")
            s = xpweb.connect(e.port, self.cert)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            first = xpweb.read_response(s)
            assert first is not None and first[0] == 200 and first[2].startswith(b"{"), first
            # HEAD: a Content-Length but no body follows.
            second = xpweb.read_response(s, first[3], head=True)
            assert second is not None and second[0] == 200, second
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            third = xpweb.read_response(s, b"")
            assert third is not None and third[0] == 200 and third[2] == b"OK\n", third
            s.close()
        finally:
            e.stop()

    def check_headers(self, e, scheme, extra, tls):
        base = "%s://127.0.0.1:%d" % (scheme, e.port)
        seen = 0
        for method, path, want in ENDPOINTS + [("GET", "/metrics?x=1", 200)]:
            for enc in ([], ["-H", "Accept-Encoding: gzip"]):
                args = list(extra) + enc + (["-I"] if method == "HEAD" else ["-X", method])
                status, h = xpweb.curl_head(base + path, *args)
                assert status == want, (method, path, status)
                for k, v in SECURITY.items():
                    assert h.get(k) == v, (method, path, k, h)
                csp = h.get("content-security-policy")
                if path == "/":
                    assert csp and "default-src 'none'" in csp and "script-src" not in csp, (path, h)
                else:
                    assert csp is None, (method, path, csp)
                if tls:
                    assert h.get("strict-transport-security") == "max-age=31536000", (method, path, h)
                else:
                    assert "strict-transport-security" not in h, (method, path, h)
                seen += 1
        return seen

    def test_security_headers_on_every_answer(self):
        e = self.start()
        try:
            self.wait_ready(e)
            n = self.check_headers(e, "http", [], tls=False)
            # The Host-less request, answered by us now, carries them too.
            s = xpweb.connect(e.port)
            s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            got = xpweb.read_response(s)
            assert got and got[0] == 400 and got[1].get("x-frame-options") == "DENY", got
            s.close()
            xptest.log("%d answers checked for the security headers (plain)" % n)
        finally:
            e.stop()

    def test_security_headers_with_tls_and_auth(self):
        e = self.start(self.web_tls() + self.web_auth())
        try:
            ca = ["--cacert", self.cert]
            wait_until(lambda: xpweb.curl_head("https://127.0.0.1:%d/-/ready" % e.port, *ca, "-u", "%s:%s" % (USER, PASSWORD))[0] == 200,
                       10, what="ready")
            n = self.check_headers(e, "https", ca + ["-u", "%s:%s" % (USER, PASSWORD)], tls=True)
            # 401 answers (known and unknown paths, a refused POST with a body) carry them too.
            for args in (["/metrics"], ["/nope"], ["/"], ["/-/reload", "-X", "POST", "-d", "x" * 100]):
                status, h = xpweb.curl_head("https://127.0.0.1:%d%s" % (e.port, args[0]), *ca, *args[1:])
                assert status == 401, (args, status)
                for k, v in SECURITY.items():
                    assert h.get(k) == v, (args, k, h)
                assert h.get("strict-transport-security") == "max-age=31536000", (args, h)
                assert h.get("www-authenticate", "").startswith("Basic"), h
                n += 1
            xptest.log("%d answers checked for the security headers (TLS + auth)" % n)
        finally:
            e.stop()

    def test_lifecycle_flag_gates_http_reload_only(self):
        other = self.tmp.file("other", "ok\n")
        e = self.start()
        try:
            self.wait_ready(e)
            with open(e.config_path, "w") as f:
                f.write(dep(other))
            status, headers, body = e.get("/-/reload", method="POST", data=b"")
            assert status == 403 and b"--web.enable-lifecycle" in body, (status, body)
            assert headers.get("X-Frame-Options") == "DENY"
            time.sleep(0.3)
            m = e.metrics()
            assert sample(m, "dependency_info", dependency="a", collector="fake", target="file://" + self.script) == 1
            # SIGHUP is not gated.
            e.proc.signal(signal.SIGHUP)
            wait_until(lambda: sample(e.metrics(), "dependency_info", dependency="a", collector="fake",
                                      target="file://" + other) == 1, 5, what="SIGHUP reload")
            assert e.get("/-/reload")[0] == 405  # a GET is a wrong method either way
        finally:
            e.stop()
        e = self.start(extra_args=["--web.enable-lifecycle"])
        try:
            self.wait_ready(e)
            with open(e.config_path, "w") as f:
                f.write(dep(other))
            status, _, body = e.get("/-/reload", method="POST", data=b"")
            assert status == 200 and body == b"config reloaded\n", (status, body)
            m = e.metrics()
            assert sample(m, "dependency_info", dependency="a", collector="fake", target="file://" + other) == 1
        finally:
            e.stop()
        # The flag is documented in the usage text.
        r = __import__("subprocess").run([xptest.FAKE_BINARY, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "--web.enable-lifecycle" in r.stdout, r.stdout

    def test_http_requests_total(self):
        e = self.start(self.web_auth(), extra_args=["--web.telemetry-path=/prom"])
        try:
            auth = xpweb.basic(USER, PASSWORD)
            self.wait_ready(e, auth)

            def counts():
                st, _, body = e.get("/prom", headers=auth)
                assert st == 200
                m = xptest.parse_metrics(body.decode())
                return {dict(k[1])["handler"] + " " + dict(k[1])["code"]: v for k, v in m.items()
                        if k[0] == "resilience_exporter_http_requests_total"}

            before = counts()
            # The usual answers are there from the start; the telemetry path counts as /metrics.
            for pair in ("/metrics 200", "/health 200", "/ 200", "/-/healthy 200", "/-/ready 200",
                         "/-/reload 200", "other 404"):
                assert pair in before, (pair, before)
            plan = [("/health", {}, "GET", 401), ("/health", auth, "GET", 200), ("/", auth, "GET", 200),
                    ("/-/healthy", {}, "GET", 200), ("/-/reload", auth, "POST", 403), ("/-/reload", auth, "GET", 405),
                    ("/-/breakers/a?mode=forced_open", auth, "POST", 403),  # no --web.enable-lifecycle
                    ("/metrics", auth, "GET", 404),  # not the telemetry path here: an unknown path
                    ("/../../etc/passwd", auth, "GET", 404), ("/x?y=z", {}, "GET", 401), ("/prom", auth, "PUT", 405)]
            for i in range(3):
                for path, h, method, want in plan:
                    st = e.get(path, headers=h, method=method, data=b"" if method in ("POST", "PUT") else None)[0]
                    assert st == want, (path, st)
            # Random paths never make series: they all count as "other".
            for i in range(50):
                assert e.get("/random-%d" % i, headers=auth)[0] == 404
            want = {"/health 401": 3, "/health 200": 3, "/ 200": 3, "/-/healthy 200": 3,
                    "/-/reload 403": 3, "/-/reload 405": 3, "/-/breakers/{name} 403": 3, "other 404": 3 * 2 + 50, "other 401": 3,
                    "/metrics 405": 3}

            def grown():
                now = counts()
                diff = {k: now.get(k, 0) - before.get(k, 0) for k in set(now) | set(before)}
                diff.pop("/metrics 200", None)  # the polling itself
                diff.pop("/-/ready 200", None)
                diff = {k: v for k, v in diff.items() if v}
                if diff != want:
                    raise AssertionError("counted %s, want %s" % (sorted(diff.items()), sorted(want.items())))
                return True
            # The page is cached for up to a second: poll until the counts show.
            wait_until(grown, 5, what="the counts")
            names = {k.split(" ")[0] for k in counts()}
            assert names <= {"/metrics", "/health", "/", "/-/healthy", "/-/ready", "/-/reload", "/-/breakers/{name}",
                             "/health/features/{name}", "/health/dependencies/{name}", "/events",
                             "/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags",
                             "/ofrep/v1/configuration", "other"}, names
            r = xptest.promtool_check(e.get("/prom", headers=auth)[2].decode())
            assert r[0] == 0, r
        finally:
            e.stop()

    def test_accept_encoding_q_values(self):
        e = self.start()
        try:
            self.wait_ready(e)
            for value, gz in (("gzip", True), ("gzip;Q=0", False), ("GZIP;q=0.000", False), ("gzip;q=0.001", True),
                              ("gzip;level=1;xq=0", True), ("gzip;q=2", False), ("identity;q=1, gzip;q=0.5", False),
                              ("*", True), ("br", False)):
                st, headers, body = e.get("/metrics", headers={"Accept-Encoding": value})
                assert st == 200
                assert (headers.get("Content-Encoding") == "gzip") == gz, (value, headers)
                text = gzip.decompress(body) if gz else body
                assert b"circuit_breaker_state" in text, value
        finally:
            e.stop()

    def test_request_without_host_gets_plain_400(self):
        e = self.start()
        try:
            self.wait_ready(e)
            for req in (b"GET /metrics HTTP/1.1\r\n\r\n",
                        b"GET /metrics HTTP/1.1\r\nX-Token: request-SENTINEL-7\r\n\r\n",
                        b"POST /-/reload HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"):
                s = xpweb.connect(e.port)
                s.sendall(req)
                data = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except socket.timeout:
                    pass
                s.close()
                # One answer, plain text, closed after: no HTML page, no doubled head, nothing
                # of the request echoed.
                assert data.startswith(b"HTTP/1.1 400 "), data[:200]
                assert data.count(b"HTTP/1.1 400") == 1, data
                head, _, body = data.partition(b"\r\n\r\n")
                assert b"content-type: text/plain" in head.lower(), head
                assert body == b"400 bad request: HTTP/1.1 request without a Host header\n", body
                assert b"SENTINEL" not in data and b"<html" not in data.lower()
            # HTTP/1.0 needs no Host.
            s = xpweb.connect(e.port)
            s.sendall(b"GET /-/healthy HTTP/1.0\r\n\r\n")
            got = xpweb.read_response(s)
            assert got and got[0] == 200, got
            s.close()
        finally:
            e.stop()


if __name__ == "__main__":
    WebProtocolTest().run()
