"""The web side under attack: TLS and basic auth from a --web.config.file (exporter-toolkit YAML),
and the HTTP limits (connection limit, per-connection timeout, header size) against
slowloris clients, oversized and malformed requests. Uses the test build with the "fake"
collector: what is tested here is the HTTP server, not a backend."""
import os
import signal
import socket
import ssl
import statistics
import subprocess
import threading
import time

import xptest
import xpweb
from xptest import wait_until

PASSWORD = "web-SENTINEL-pa55word-7d2e"
USER = "prometheus"


def dep(script, **kw):
    lines = ["[dependency.a]", "collector = fake", "script = %s" % script]
    kw.setdefault("interval", "1s")
    kw.setdefault("timeout", "500ms")
    lines += ["%s = %s" % (k, v) for k, v in kw.items()]
    return "\n".join(lines) + "\n"


def bcrypt_hash(password):
    return xpweb.bcrypt_hash(USER, password)


def self_signed(tmp):
    return xpweb.self_signed(tmp)


def curl(url, *args):
    """(http status or 0, curl exit code, body)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url] + list(args),
                       capture_output=True)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code or 0), r.returncode, body


def raw(port, data, timeout=5.0):
    """Sends bytes as they are and returns what comes back before the server closes or the
    timeout passes (b"" when nothing does)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may cut us off mid-send: what it answered still counts
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out:
                    break
        except OSError:
            pass
        return out
    finally:
        s.close()


def status_of(reply):
    if not reply.startswith(b"HTTP/1."):
        return None
    return int(reply.split(b" ", 2)[1])


class WebSecurityTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("websec")
        self.script = self.tmp.file("ok", "ok\n")
        self.cert, self.key = self_signed(self.tmp)
        self.hash = bcrypt_hash(PASSWORD)

    def teardown_all(self):
        self.tmp.cleanup()

    def start(self, config, **kw):
        kw.setdefault("binary", xptest.FAKE_BINARY)
        return xptest.Exporter(self.tmp, config, **kw)

    def web_file(self, name, tls=True, auth=True, password_hash=None):
        return self.tmp.file(name, xpweb.web_yaml(cert=self.cert if tls else None, key=self.key,
                                                  users={USER: password_hash or self.hash} if auth else None))

    def test_tls_and_basic_auth(self):
        web = self.web_file("web-tls.yml")
        e = self.start(dep(self.script), extra_args=["--web.config.file=" + web, "--log.level=debug"])
        try:
            base = "https://127.0.0.1:%d" % e.port
            ca = ["--cacert", self.cert]
            # /-/healthy and /-/ready are open (probes); everything else, known path or not,
            # wants credentials.
            assert curl(base + "/-/healthy", *ca)[0] == 200
            assert curl(base + "/-/ready", *ca)[0] in (200, 503)
            for path in ("/metrics", "/health", "/", "/nope", "/../etc/passwd"):
                code, rc, body = curl(base + path, *ca)
                assert code == 401, (path, code, rc, body)
            r = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", self.cert, base + "/metrics"],
                               capture_output=True, text=True)
            assert "www-authenticate: basic" in r.stdout.lower(), r.stdout
            code, _, body = curl(base + "/metrics", *ca, "-u", "%s:%s" % (USER, PASSWORD))
            assert code == 200 and b"circuit_breaker_state" in body, (code, body[:200])
            assert curl(base + "/nope", *ca, "-u", "%s:%s" % (USER, PASSWORD))[0] == 404
            assert curl(base + "/metrics", *ca, "-u", "%s:%s" % (USER, PASSWORD + "x"))[0] == 401
            assert curl(base + "/metrics", *ca, "-u", "%s:%s" % (USER, PASSWORD[:-1]))[0] == 401
            assert curl(base + "/metrics", *ca, "-u", "%s:%s" % ("someone", PASSWORD))[0] == 401
            assert curl(base + "/metrics", *ca, "-u", "%s:" % USER)[0] == 401
            assert curl(base + "/metrics", *ca, "-H", "Authorization: Basic !!!notbase64")[0] == 401
            assert curl(base + "/metrics", *ca, "-H", "Authorization: Bearer " + PASSWORD)[0] == 401
            # The certificate is served and verified (curl checks it against --cacert).
            code, rc, _ = curl(base + "/-/healthy")
            assert rc == 60 and code == 0, (code, rc)  # self-signed: refused without --cacert
            # Plain HTTP to the TLS port gets no page.
            code, rc, _ = curl("http://127.0.0.1:%d/-/healthy" % e.port)
            assert code != 200, code
            # TLS 1.1 and older are refused; 1.2 and 1.3 work.
            code, rc, _ = curl(base + "/-/healthy", *ca, "--tls-max", "1.1")
            assert code == 0 and rc != 0, (code, rc)
            assert curl(base + "/-/healthy", *ca, "--tlsv1.2", "--tls-max", "1.2")[0] == 200
            assert curl(base + "/-/healthy", *ca, "--tlsv1.3")[0] == 200
            # POST /-/reload without credentials is refused before the body is read: an
            # announced 100 MB body does not hold the answer back.
            t0 = time.monotonic()
            ctx = ssl.create_default_context(cafile=self.cert)
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", e.port), timeout=5), server_hostname="127.0.0.1")
            s.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
            reply = s.recv(200)
            s.close()
            assert status_of(reply) == 401 and time.monotonic() - t0 < 2, reply
            assert e.proc.poll() is None
            assert PASSWORD not in e.logs()
        finally:
            e.stop()

    def test_unknown_user_costs_as_much_as_a_known_one(self):
        # Plain HTTP so that only the password check is timed, not TLS handshakes.
        web = self.web_file("web-auth.yml", tls=False)
        e = self.start(dep(self.script), extra_args=["--web.config.file=" + web])
        try:
            import base64

            def timed(user, pw):
                tok = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
                t0 = time.monotonic()
                st = e.get("/metrics", headers={"Authorization": "Basic " + tok})[0]
                return st, time.monotonic() - t0

            known, unknown = [], []
            for i in range(9):
                st, t = timed(USER, "wrong%d" % i)
                assert st == 401
                known.append(t)
                st, t = timed("nobody%d" % i, "wrong%d" % i)
                assert st == 401
                unknown.append(t)
            # The quickest of each: a busy machine only ever adds time, so the minimum is what
            # the check itself costs.
            k, u = min(known), min(unknown)
            xptest.log("quickest 401: known user %.1f ms, unknown user %.1f ms (medians %.1f, %.1f)" % (
                k * 1e3, u * 1e3, statistics.median(known) * 1e3, statistics.median(unknown) * 1e3))
            # bcrypt at cost 10 takes tens of ms: both must pay it, within a factor of 2.
            assert k > 0.01, k
            assert 0.5 < u / k < 2.0, (k, u)
            # The right password still works (and the next one comes from the cache).
            assert timed(USER, PASSWORD)[0] == 200
            assert timed(USER, PASSWORD)[0] == 200
        finally:
            e.stop()

    def test_reload_replaces_credentials(self):
        web = self.web_file("web-reload.yml", tls=False)
        e = self.start(dep(self.script), extra_args=["--web.config.file=" + web])
        try:
            import base64
            auth = lambda pw: {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (USER, pw)).encode()).decode()}
            assert e.get("/metrics", headers=auth(PASSWORD))[0] == 200
            new_pw = PASSWORD + "-rotated"
            self.tmp.file("web-reload.yml", xpweb.web_yaml(users={USER: bcrypt_hash(new_pw)}))
            e.proc.signal(signal.SIGHUP)
            wait_until(lambda: e.get("/metrics", headers=auth(new_pw))[0] == 200, 5, what="new password accepted")
            # The old password was cached as good: a reload must forget it.
            assert e.get("/metrics", headers=auth(PASSWORD))[0] == 401
            assert new_pw not in e.logs() and PASSWORD not in e.logs()
        finally:
            e.stop()

    def test_rotated_password_refused_right_after_reload(self):
        """Issue 10 fault 2: the password file is rotated and reloaded while requests with the
        old password are in bcrypt. Those checks used to finish after the reload had wiped the
        cache, cache the old password, and let it in for 60 s. Each round sends the old
        password on two connections at once (both workers run bcrypt: nothing is cached), and
        rotates the file and reloads halfway through those checks; the old password must be
        refused from the moment the new one is accepted, or the reload request answered."""
        import base64
        auth = lambda pw: {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (USER, pw)).encode()).decode()}
        pw = lambda i: "%s-round%d" % (PASSWORD, i)
        hash_file = self.tmp.file("rotating.hash", bcrypt_hash(pw(0)) + "\n", mode=0o600)
        web = "[web]\nbasic_auth_user = %s\nbasic_auth_password_hash_file = %s\n" % (USER, hash_file)
        e = self.start(web + dep(self.script), extra_args=["--web.enable-lifecycle"])
        try:
            t0 = time.monotonic()
            assert e.get("/metrics", headers=auth("wrong"))[0] == 401
            bcrypt_s = time.monotonic() - t0  # one check's cost: wrong passwords are never cached
            rounds, straddled = 8, 0
            for i in range(rounds):
                old, new = pw(i), pw(i + 1)
                new_hash = bcrypt_hash(new)
                statuses = []
                threads = [threading.Thread(target=lambda: statuses.append(e.get("/metrics", headers=auth(old))[0]))
                           for _ in range(2)]
                for t in threads:
                    t.start()
                time.sleep(bcrypt_s / 2)  # both checks are in bcrypt now
                self.tmp.file("rotating.hash", new_hash + "\n", mode=0o600)
                if i % 2 == 0:
                    e.proc.signal(signal.SIGHUP)
                    wait_until(lambda: e.get("/metrics", headers=auth(new))[0] == 200, 10, what="new password")
                else:  # the reload request waits for a worker, then reloads
                    st, _, body = e.get("/-/reload", method="POST", data=b"", headers=auth(old))
                    assert st == 200 and body == b"config reloaded\n", (i, st, body)
                # From here on: refused, on every try while the straddling checks finish...
                while any(t.is_alive() for t in threads):
                    assert e.get("/metrics", headers=auth(old))[0] == 401, "round %d: old password let in" % i
                for t in threads:
                    t.join()
                # ... and after (a cached old password would show now).
                for _ in range(2):
                    assert e.get("/metrics", headers=auth(old))[0] == 401, "round %d: old password let in" % i
                assert e.get("/metrics", headers=auth(new))[0] == 200
                # That cached the new password: one more reload forgets it, so the next round's
                # old password starts uncached again.
                assert e.get("/-/reload", method="POST", data=b"", headers=auth(new))[0] == 200
                # A right password sent before the reload and refused: its check straddled it.
                straddled += statuses.count(401)
                xptest.log("round %d (%s): the two old-password checks answered %s" % (
                    i, "SIGHUP" if i % 2 == 0 else "POST /-/reload", sorted(statuses)))
            xptest.log("bcrypt %.0f ms; %d of %d checks straddled a reload" % (bcrypt_s * 1e3, straddled, 2 * rounds))
            assert straddled > 0, "no check straddled a reload: the race was not exercised"
            assert PASSWORD not in e.logs()
        finally:
            e.stop()

    def test_slowloris_does_not_block_scrapes(self):
        e = self.start(dep(self.script))
        socks = []
        try:
            wait_until(lambda: e.get("/-/ready")[0] == 200, 5, what="ready")
            # A scraper's connection, answered once and then idle like between two scrapes.
            kept = xpweb.connect(e.port, timeout=5)
            kept.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            assert xpweb.read_response(kept)[0] == 200
            for i in range(300):
                s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)  # never finished
                socks.append(s)
            time.sleep(0.3)
            times = []
            for _ in range(30):
                t0 = time.monotonic()
                st, _, body = e.get("/metrics", timeout=5)
                times.append(time.monotonic() - t0)
                assert st == 200 and b"circuit_breaker_state" in body
            # One that waited for a connection slot would wait for the 10 s connection timeout.
            xptest.assert_scrapes_did_not_wait(times, 10)
            # The per-connection timeout (10 s) ends them: each sees the server close.
            t0 = time.monotonic()
            closed = 0
            for s in socks:
                s.settimeout(max(0.1, 14 - (time.monotonic() - t0)))
                try:
                    closed += s.recv(100) == b""
                except ConnectionResetError:
                    closed += 1
                except socket.timeout:
                    break
            assert closed == len(socks), "only %d of %d idle connections were closed" % (closed, len(socks))
            # The answered connection outlives them: it may idle until the next scrape (120 s).
            kept.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            got = xpweb.read_response(kept)
            assert got is not None and got[0] == 200, "the kept-alive connection was closed with the idle ones"
            kept.close()
            assert e.proc.poll() is None
        finally:
            for s in socks:
                s.close()
            e.stop()

    def test_connection_limit_bounds_descriptors(self):
        e = self.start("[web]\nmax_connections = 64\n" + dep(self.script))
        socks = []
        try:
            base_fds = len(os.listdir("/proc/%d/fd" % e.proc.pid))
            for _ in range(250):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", e.port), timeout=2))
                except OSError:
                    break
            time.sleep(0.5)
            fds = len(os.listdir("/proc/%d/fd" % e.proc.pid))
            xptest.log("descriptors: %d at rest, %d with 250 connections tried (limit 64)" % (base_fds, fds))
            assert fds <= base_fds + 64 + 2, (base_fds, fds)
            for s in socks:
                s.close()
            socks = []
            wait_until(lambda: e.get("/metrics", timeout=2)[0] == 200, 5, what="scrapes once the crowd left")
        finally:
            for s in socks:
                s.close()
            e.stop()

    def test_oversized_and_malformed_requests(self):
        e = self.start(dep(self.script))
        try:
            p = e.port
            big_header = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
            assert status_of(raw(p, big_header)) == 431
            many_headers = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(8000)) + b"\r\n"
            assert status_of(raw(p, many_headers)) in (413, 431)
            huge_query = b"GET /metrics?" + b"a=b&" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            assert status_of(raw(p, huge_query)) == 414
            huge_path = b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            assert status_of(raw(p, huge_path)) == 414
            # A harmless query string is ignored.
            assert status_of(raw(p, b"GET /metrics?name[]=x&debug=1 HTTP/1.1\r\nHost: x\r\n\r\n")) == 200
            for method in (b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT", b"FOO"):
                assert status_of(raw(p, method + b" /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")) == 405, method
            for path in (b"/../metrics", b"/%2e%2e/%2e%2e/etc/passwd", b"/metrics/../../etc/passwd",
                         b"../../etc/passwd", b"/metrics%00", b"//metrics", b"http://evil.example/metrics",
                         b"/" + "ü".encode() * 100, b"/%ff%fe"):
                st = status_of(raw(p, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
                assert st is not None and 400 <= st < 500, (path, st)
            assert status_of(raw(p, b"GET /metrics HTTP/1.1\r\n\r\n")) == 400  # no Host
            assert status_of(raw(p, b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n")) == 505
            assert status_of(raw(p, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n")) == 413
            # Bytes that are not HTTP at all get no page (at most an error), and cost nothing.
            for junk in (b"\x00\x01\x02\xff" * 100 + b"\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64):
                st = status_of(raw(p, junk, timeout=1))
                assert st is None or 400 <= st < 600, st
            assert e.proc.poll() is None
            assert e.get("/-/healthy")[0] == 200
            assert e.get("/metrics")[0] == 200
        finally:
            e.stop()


if __name__ == "__main__":
    WebSecurityTest().run()
