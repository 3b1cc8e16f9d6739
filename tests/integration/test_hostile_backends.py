"""Backends that misbehave on purpose, against the real binary and the real collectors: each
must come out as a failed probe within the probe's timeout, with a readable reason, while the
exporter's memory stays bounded and scrapes keep answering.

The hostile servers are small Python threads in this process:
  garbage      random bytes as soon as a client connects, then silence
  silent       accepts, reads, never answers
  drip         an HTTP status line and headers, one byte a second
  bigbody      200 with Content-Length 100 MB, streamed as fast as the client reads
  endless      200 chunked, chunks forever
  headerflood  header lines forever
  gzipbomb     100 MB of zeros sent gzip-compressed (about 100 KB on the wire)
  badjson      200 with a body that is not JSON
  redirect     302 to the same URL, forever
  http400      an HTTP 400 to whatever arrives (a plain-text server meeting a TLS hello)
  resp_bulk    RESP bulk string announcing 2 GB, then bytes forever
  resp_array   RESP array announcing 2^31 elements, then elements forever
  pg_rows      a PostgreSQL that trusts any login and answers every query with rows forever
  pg_bigrow    likewise, with one row announcing a 1 GB message, then its bytes forever
  pg_copy      likewise, answering a query as if it were COPY TO STDOUT, with data forever
The pg_* servers speak just enough of the PostgreSQL wire protocol (version 3) to get a
client past the start-up exchange: they are hostile peers, not a stand-in for a database.

The servers share this process's CPU (and its interpreter lock) with each other and with the
test: on a busy machine they may feed a probe slowly. A probe that must end at a size cap
gets a timeout long enough that the cap, not the deadline, ends it (CAP_TIMEOUT); the others
end at TIMEOUT, and their deadline is checked.
"""
import gzip
import os
import socket
import struct
import threading
import time

import xptest
from xptest import wait_until

TIMEOUT = 1.0  # a dependency's probe timeout (s) ...
CAP_TIMEOUT = 3.0  # ... and that of one whose probe must end at a size cap


class Hostile:
    """A TCP server on a free port that treats every client according to `mode`."""

    def __init__(self, mode):
        self.mode = mode
        self.sent = 0  # bytes sent to clients in all
        self.requests = 0
        self.stopping = threading.Event()
        self.lsock, self.port = xptest.listening_socket()
        self.lsock.settimeout(0.2)
        self.conns = []
        if mode == "gzipbomb" and Hostile.BOMB is None:
            # Made before any probe comes (it takes a second of CPU), not while one waits.
            Hostile.BOMB = gzip.compress(b"\0" * (100 << 20), 9)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopping.set()
        self.lsock.close()
        for c in list(self.conns):
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _send(self, c, data):
        c.sendall(data)
        self.sent += len(data)

    def _read_request(self, c):
        """Reads one HTTP request head (the probes send no body); None when the client left."""
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = c.recv(65536)
            if not chunk:
                return None
            buf += chunk
        self.requests += 1
        return buf

    def _hold(self, c):
        while not self.stopping.is_set():
            try:
                c.settimeout(0.2)
                if c.recv(65536) == b"":
                    return
            except socket.timeout:
                continue

    def _serve(self, c):
        try:
            getattr(self, "_m_" + self.mode)(c)
        except OSError:
            pass  # the client hung up: what these servers expect
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _m_garbage(self, c):
        self._send(c, b"\xff\xfe" + os.urandom(65534))  # never valid UTF-8: error texts quote it
        self._hold(c)

    def _m_silent(self, c):
        self._hold(c)

    def _m_drip(self, c):
        if self._read_request(c) is None:
            return
        for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}":
            if self.stopping.wait(1.0):
                return
            self._send(c, bytes([b]))

    def _m_bigbody(self, c):
        while self._read_request(c) is not None:
            self._send(c, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (100 << 20))
            chunk = b"0" * 65536
            for _ in range((100 << 20) // len(chunk)):
                self._send(c, chunk)

    def _m_endless(self, c):
        while self._read_request(c) is not None:
            self._send(c, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"[" * 65536)
            while not self.stopping.is_set():
                self._send(c, chunk)

    def _m_headerflood(self, c):
        while self._read_request(c) is not None:
            self._send(c, b"HTTP/1.1 200 OK\r\n")
            line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
            while not self.stopping.is_set():
                self._send(c, line)

    BOMB = None

    def _m_gzipbomb(self, c):
        while self._read_request(c) is not None:
            self._send(c, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(Hostile.BOMB) + Hostile.BOMB)

    def _m_badjson(self, c):
        body = b'{"object": "list", "data": [{"id": "gpt-4o"' + b"\x00\xff not json"
        while self._read_request(c) is not None:
            self._send(c, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def _m_redirect(self, c):
        while True:
            req = self._read_request(c)
            if req is None:
                return
            path = req.split(b" ", 2)[1]
            self._send(c, b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d%s\r\nContent-Length: 0\r\n\r\n" % (self.port, path))

    def _m_http400(self, c):
        c.recv(65536)
        self._send(c, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def _m_resp_bulk(self, c):
        c.recv(65536)
        self._send(c, b"$2147483647\r\n")
        chunk = b"a" * 65536
        while not self.stopping.is_set():
            self._send(c, chunk)

    def _m_resp_array(self, c):
        c.recv(65536)
        self._send(c, b"*2147483647\r\n")
        chunk = b":1\r\n" * 16384
        while not self.stopping.is_set():
            self._send(c, chunk)

    # --- PostgreSQL wire protocol, server side, just enough to be trusted ---

    @staticmethod
    def _pg_msg(kind, payload):
        return kind + struct.pack("!I", len(payload) + 4) + payload

    def _pg_recv_exact(self, c, n):
        buf = b""
        while len(buf) < n:
            chunk = c.recv(n - len(buf))
            if not chunk:
                raise OSError("client left")
            buf += chunk
        return buf

    def _pg_login(self, c):
        """Start-up exchange: refuse SSL/GSS encryption, accept the login without a password."""
        while True:
            length, code = struct.unpack("!II", self._pg_recv_exact(c, 8))
            self._pg_recv_exact(c, length - 8)
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                self._send(c, b"N")
                continue
            break
        out = self._pg_msg(b"R", struct.pack("!I", 0))  # AuthenticationOk
        for k, v in (("server_version", "15.0"), ("client_encoding", "UTF8"), ("server_encoding", "UTF8"),
                     ("standard_conforming_strings", "on"), ("integer_datetimes", "on"), ("DateStyle", "ISO, MDY")):
            out += self._pg_msg(b"S", k.encode() + b"\0" + v.encode() + b"\0")
        out += self._pg_msg(b"K", struct.pack("!II", 4242, 1234))
        out += self._pg_msg(b"Z", b"I")
        self._send(c, out)

    def _pg_query(self, c):
        """Waits for a simple Query message; False when the client left or said Terminate."""
        while True:
            kind = c.recv(1)
            if not kind or kind == b"X":
                return False
            (length,) = struct.unpack("!I", self._pg_recv_exact(c, 4))
            self._pg_recv_exact(c, length - 4)
            if kind == b"Q":
                self.requests += 1
                return True

    def _pg_row_description(self):
        # One int4 column named "x".
        return self._pg_msg(b"T", struct.pack("!H", 1) + b"x\0" + struct.pack("!IHIhih", 0, 0, 23, 4, -1, 0))

    def _m_pg_rows(self, c):
        self._pg_login(c)
        if not self._pg_query(c):
            return
        row = self._pg_msg(b"D", struct.pack("!HI", 1, 1) + b"1")
        batch = row * (65536 // len(row))
        self._send(c, self._pg_row_description())
        while not self.stopping.is_set():
            self._send(c, batch)

    def _m_pg_bigrow(self, c):
        self._pg_login(c)
        if not self._pg_query(c):
            return
        size = 1 << 30
        self._send(c, self._pg_row_description() + b"D" + struct.pack("!IHI", size + 4, 1, size - 6))
        chunk = b"1" * 65536
        while not self.stopping.is_set():
            self._send(c, chunk)

    def _m_pg_copy(self, c):
        self._pg_login(c)
        if not self._pg_query(c):
            return
        self._send(c, self._pg_msg(b"H", struct.pack("!bH", 0, 0)))  # CopyOutResponse, text, 0 columns
        data = self._pg_msg(b"d", b"1\n" * 1000)
        while not self.stopping.is_set():
            self._send(c, data * 16)


def cap(case):
    """case, with a timeout its size cap always beats."""
    collector, keys, words, reason = case
    return collector, dict(keys, timeout="%gs" % CAP_TIMEOUT), words, reason


class HostileBackendsTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("hostile")

    def teardown_all(self):
        self.tmp.cleanup()

    def run_cases(self, cases, rounds=3, rss_growth_mb=24, check=None, peak_rss_mb=None):
        """cases: {dependency name: (collector, {key: value}, expected error words, expected
        reason)}. Starts one exporter probing all of them and checks every probe of `rounds`
        rounds; then check(exporter), if given. peak_rss_mb bounds the process's peak resident
        memory (VmHWM)."""
        text, timeouts = "", {}
        for name, (collector, keys, _, _) in cases.items():
            keys = dict(keys)
            timeouts[name] = float(keys.pop("timeout", "%gs" % TIMEOUT)[:-1])
            text += "[dependency.%s]\ncollector = %s\ninterval = %gs\ntimeout = %gs\nfailure_threshold = 100\n" % (
                name, collector, timeouts[name] + 1, timeouts[name])
            text += "".join("%s = %s\n" % kv for kv in keys.items()) + "\n"
        round_time = 3 * (max(timeouts.values()) + 1)
        e = xptest.Exporter(self.tmp, text, extra_args=["--log.level=debug"])
        try:
            first_rss = None
            worst = {}
            errors = {}
            reasons_seen = {}

            def all_probed(n):
                h = e.health()["dependencies"]
                calls = {d: v["consecutive_failures"] for d, v in h.items()}
                return all(c >= n for c in calls.values())

            try:
                wait_until(lambda: all_probed(1), round_time, what="first probes")
            except AssertionError:
                raise AssertionError("first probes incomplete: %r" % {
                    d: (v["consecutive_failures"], v["last_probe"]) for d, v in e.health()["dependencies"].items()})
            first_rss = xptest.rss_kb(e.proc.pid)
            for r in range(rounds):
                # Scrapes keep answering while every backend misbehaves: one that waited on a
                # probe would take up to a timeout.
                t0 = time.monotonic()
                m = e.metrics()
                assert time.monotonic() - t0 < TIMEOUT / 2, time.monotonic() - t0
                h = e.health()["dependencies"]
                for name in cases:
                    lp = h[name]["last_probe"]
                    assert lp and lp["success"] is False, (name, h[name])
                    worst[name] = max(worst.get(name, 0), lp["duration_seconds"])
                    errors[name] = lp.get("error")
                    assert errors[name], (name, h[name])
                    assert xptest.sample(m, "dependency_probe_success", dependency=name) == 0
                    # A probe that really passed its deadline (a starved machine) is rightly
                    # timeout, first in the order of precedence; nothing else may differ.
                    late = (cases[name][3] != "timeout" and lp["reason"] == "timeout" and
                            lp["duration_seconds"] >= timeouts[name])
                    assert lp["reason"] == cases[name][3] or late, (name, lp)
                    if not late:
                        reasons_seen.setdefault(name, set()).add(lp["reason"])
                    f = {x: xptest.sample(m, "dependency_probe_failures_total", dependency=name, reason=x)
                         for x in (cases[name][3], "timeout")}
                    assert sum(f.values()) >= r + 1, (name, f)
                if r + 1 < rounds:
                    try:
                        wait_until(lambda: all_probed(r + 2), round_time, what="probe round %d" % (r + 2))
                    except AssertionError:
                        raise AssertionError("probe round %d incomplete: %r" % (r + 2, {
                            d: (v["consecutive_failures"], v["last_probe"]) for d, v in e.health()["dependencies"].items()}))
            rss = xptest.rss_kb(e.proc.pid)
            peak = xptest.rss_kb(e.proc.pid, "VmHWM")
            for name, (_, _, words, reason) in cases.items():
                xptest.log("%-16s worst %.3fs  error: %s" % (name, worst[name], errors[name]))
                # At least one round came back before the deadline with the expected reason.
                assert reasons_seen.get(name) == {reason}, (name, reasons_seen.get(name), reason)
                assert worst[name] <= timeouts[name] + xptest.DEADLINE_SLACK, (name, worst[name])
                assert any(w in errors[name].lower() for w in words), (name, errors[name], words)
            xptest.log("RSS after first probes %d KB, after %d rounds %d KB, peak %d KB" % (first_rss, rounds, rss, peak))
            # A sanitizer's shadow memory and quarantine: RSS means nothing there.
            if not xptest.SANITIZER:
                if peak_rss_mb is not None:
                    assert peak < peak_rss_mb * 1024, peak
                assert rss < 64 * 1024, rss  # the whole exporter, with 100 MB offered by servers
                assert rss - first_rss < rss_growth_mb * 1024, (first_rss, rss)
            assert e.proc.poll() is None
            if check:
                check(e)
            return e, worst, errors
        finally:
            e.stop()

    def test_hostile_http_backends(self):
        servers = {m: Hostile(m) for m in ("drip", "bigbody", "endless", "headerflood", "gzipbomb", "badjson",
                                           "redirect", "silent", "http400")}
        u = lambda m: "http://127.0.0.1:%d" % servers[m].port
        try:
            s3 = lambda ep, **kw: ("s3", dict({"endpoint": ep, "bucket": "probe-bucket", "access_key_id": "AKIDHOSTILE",
                                               "secret_access_key": "hostile-secret"}, **kw))
            ai = lambda base, **kw: ("openai", dict({"base_url": base, "api_key": "sk-hostile"}, **kw))
            cases = {
                "ai_drip": ai(u("drip") + "/v1") + (("timed out", "timeout"), "timeout"),
                "s3_drip": s3(u("drip")) + (("timed out", "timeout"), "timeout"),
                "ai_bigbody": cap(ai(u("bigbody") + "/v1") + (("larger", "too large", "exceed", "maximum"), "protocol")),
                "s3_bigbody": cap(s3(u("bigbody"), localstack_health="true") + (("larger", "too large", "exceed", "maximum"), "protocol")),
                "ai_endless": cap(ai(u("endless") + "/v1") + (("larger", "too large", "exceed"), "protocol")),
                "ai_headerflood": cap(ai(u("headerflood") + "/v1") + (("header", "larger", "too large"), "protocol")),
                "s3_headerflood": cap(s3(u("headerflood")) + (("header", "larger", "too large"), "protocol")),
                "ai_gzipbomb": cap(ai(u("gzipbomb") + "/v1") + (("larger", "too large", "exceed"), "protocol")),
                "ai_badjson": ai(u("badjson") + "/v1") + (("json", "model list", "not a"), "protocol"),
                "s3_badjson": s3(u("badjson"), localstack_health="true") + (("json", "localstack", "not a"), "protocol"),
                "ai_redirect": ai(u("redirect") + "/v1") + (("302", "redirect"), "protocol"),
                "s3_redirect": s3(u("redirect")) + (("302", "redirect"), "protocol"),
                "ai_silent": ai(u("silent") + "/v1") + (("timed out",), "timeout"),
                "s3_silent": s3(u("silent")) + (("timed out",), "timeout"),
                "ai_tls_plain": ai("https://127.0.0.1:%d/v1" % servers["http400"].port) + (("tls", "ssl"), "tls"),
                "s3_tls_plain": s3("https://127.0.0.1:%d" % servers["http400"].port) + (("tls", "ssl"), "tls"),
                "ai_nxdomain": ai("http://no-such-host.invalid/v1") + (("resolve",), "dns"),
                "s3_nxdomain": s3("http://no-such-host.invalid:4566") + (("resolve",), "dns"),
            }

            def one_request_per_redirect_probe(e):
                # A redirect is never followed: one request per probe, not a loop. Counted
                # first, so each request is of a probe that ended or of one on its way.
                requests = servers["redirect"].requests
                m = e.metrics()
                probes = sum(xptest.sample(m, "dependency_probe_duration_seconds_count", dependency=d)
                             for d in ("ai_redirect", "s3_redirect"))
                assert requests <= probes + 2, (requests, probes)
            self.run_cases(cases, check=one_request_per_redirect_probe)
            # The size caps cut the transfers short: nowhere near the 100 MB (or the endless
            # stream) offered each time; a few MB is the kernel's socket buffers.
            for m in ("bigbody", "endless", "headerflood"):
                xptest.log("%s: %.1f MB sent to the exporter over %d requests" % (m, servers[m].sent / 1e6, servers[m].requests))
                assert servers[m].sent < max(1, servers[m].requests) * (16 << 20), (m, servers[m].sent)
        finally:
            for s in servers.values():
                s.stop()

    def test_hostile_redis_and_postgres(self):
        servers = {m: Hostile(m) for m in ("garbage", "silent", "resp_bulk", "resp_array", "http400")}
        a = lambda m: "127.0.0.1:%d" % servers[m].port
        try:
            pg = lambda m, extra="": ("postgres", {"dsn": "host=127.0.0.1 port=%d user=app dbname=app%s" % (servers[m].port, extra),
                                                   "password": "pg-hostile"})
            cases = {
                "redis_garbage": ("redis", {"address": a("garbage")}, ("protocol", "reply", "error"), "protocol"),
                "redis_silent": ("redis", {"address": a("silent")}, ("timed out", "timeout"), "timeout"),
                "redis_bulk": cap(("redis", {"address": a("resp_bulk")}, ("larger", "too"), "protocol")),
                "redis_array": cap(("redis", {"address": a("resp_array")}, ("larger", "too", "memory"), "protocol")),
                "redis_http": ("redis", {"address": a("http400")}, ("protocol", "reply", "closed", "error"), "protocol"),
                "redis_nxdomain": ("redis", {"address": "no-such-host.invalid:6379"}, ("resolve", "name", "not known"), "dns"),
                # Garbage in answer to libpq's SSLRequest fails the TLS negotiation: tls comes
                # before protocol in the order of precedence.
                "pg_garbage": pg("garbage") + (("invalid", "unexpected", "expected", "protocol", "lost", "closed"), "tls"),
                "pg_silent": pg("silent") + (("timed out", "timeout"), "timeout"),
                "pg_tls_plain": pg("http400", " sslmode=require") + (("ssl", "tls", "invalid", "unexpected", "closed", "lost"), "tls"),
                "pg_nxdomain": ("postgres", {"dsn": "host=no-such-host.invalid user=app dbname=app"}, ("translate", "resolve", "not known"), "dns"),
            }
            self.run_cases(cases)
        finally:
            for s in servers.values():
                s.stop()

    def test_hostile_postgres_replies(self):
        """Fault 4 of issue 10: a PostgreSQL that trusts the login and answers the probe's
        query with endless rows grew the exporter to 946 MiB within the 2 s timeout. The
        result is capped like Redis replies and HTTP bodies: the probe fails as an oversized
        reply (protocol) within its deadline, the peak memory stays small, scrapes answer."""
        servers = {m: Hostile(m) for m in ("pg_rows", "pg_bigrow", "pg_copy")}
        try:
            pg = lambda m: ("postgres", {"dsn": "host=127.0.0.1 port=%d user=app dbname=app" % servers[m].port,
                                         "password": "pg-hostile"})
            cases = {
                "pg_rows": cap(pg("pg_rows") + (("larger", "oversized"), "protocol")),
                "pg_bigrow": cap(pg("pg_bigrow") + (("larger", "oversized"), "protocol")),
                "pg_copy": pg("pg_copy") + (("copy",), "protocol"),
            }
            self.run_cases(cases, peak_rss_mb=64)
            for m, srv in servers.items():
                xptest.log("%s: %.1f MB sent to the exporter over %d queries" % (m, srv.sent / 1e6, srv.requests))
                assert srv.requests >= 3, (m, srv.requests)  # every round reached the query
        finally:
            for s in servers.values():
                s.stop()


if __name__ == "__main__":
    HostileBackendsTest().run()
