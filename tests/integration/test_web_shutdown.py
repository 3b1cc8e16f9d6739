"""SIGTERM ends the exporter with exit code 0 within 2 s (SPEC section 3) whatever clients
are doing: idle kept-alive connections, every connection slot taken (issue 10 fault 3: a
worker that was not listening slept in epoll_wait and MHD_stop_daemon waited on it forever),
a slowloris, a scrape storm, a client sending a body slowly. The deadline is the point of
these tests: each measures from the signal to the process's exit and asserts the 2 s of the
SPEC; the measured times are logged (well under 1 s unless a request is still being
answered, which gets at most 0.5 s)."""
import os
import signal
import socket
import subprocess
import threading
import time

import xptest
import xpweb
from xptest import wait_until

DEADLINE = 2.0  # SPEC section 3


def dep(script):
    return "[dependency.a]\ncollector = fake\nscript = %s\ninterval = 1s\ntimeout = 500ms\n" % script


def pool_size():
    """libmicrohttpd's worker threads in the exporter: one per CPU, 1 to 4."""
    return max(1, min(4, os.cpu_count() or 1))


class WebShutdownTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("webstop")
        self.script = self.tmp.file("ok", "ok\n")
        self.times = {}
        self.started = []

    def teardown_all(self):
        for e in self.started:  # those a failed test left running
            e.proc.stop()
        for what, t in sorted(self.times.items()):
            xptest.log("SIGTERM to exit: %.3f s  %s" % (t, what))
        self.tmp.cleanup()

    def start(self, web="", **kw):
        kw.setdefault("binary", xptest.FAKE_BINARY)
        e = xptest.Exporter(self.tmp, ("[web]\n" + web + "\n" if web else "") + dep(self.script), **kw)
        self.started.append(e)
        return e

    def sigterm(self, e, what):
        """SIGTERM; asserts exit 0 within the deadline; records the time."""
        t0 = time.monotonic()
        e.proc.signal(signal.SIGTERM)
        try:
            rc = e.proc.p.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        self.times[what] = took
        out = e.logs()
        e.stop()
        assert rc == 0, "%s: exit %r after %.3f s\n%s" % (what, rc, took, out[-2000:])
        assert took < DEADLINE, "%s: SIGTERM took %.3f s" % (what, took)
        assert "stopped" in out, out[-1000:]
        return took

    def keepalive(self, e, n, path=b"/-/healthy"):
        """n connections, each answered once and then left idle (kept alive)."""
        socks = []
        for _ in range(n):
            s = xpweb.connect(e.port)
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            got = xpweb.read_response(s)
            assert got and got[0] == 200 and got[1].get("connection", "").lower() != "close", got
            socks.append(s)
        return socks

    def assert_closed(self, socks):
        """After the exit every connection the exporter held is closed (EOF or reset)."""
        for s in socks:
            s.settimeout(2)
            try:
                assert s.recv(100) == b""
            except (ConnectionResetError, BrokenPipeError):
                pass
            s.close()

    def test_idle_keepalive_connections(self):
        e = self.start()
        socks = self.keepalive(e, 20)
        self.sigterm(e, "20 idle keep-alive connections")
        self.assert_closed(socks)

    def test_every_connection_slot_taken(self):
        # max_connections equal to the pool: each worker gets one slot, takes one idle
        # keep-alive connection and stops listening. Before the fix no worker could be
        # woken: SIGTERM waited for the connection timeout.
        n = pool_size()
        e = self.start("max_connections = %d\n" % n)
        socks = self.keepalive(e, n)
        # The crowd is complete: the next client is not served.
        extra = socket.create_connection(("127.0.0.1", e.port), timeout=1)
        extra.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.settimeout(0.5)
        try:
            assert extra.recv(100) == b"", "served beyond max_connections"
        except socket.timeout:
            pass
        self.sigterm(e, "max_connections = %d (the pool), every slot idle" % n)
        self.assert_closed(socks + [extra])

    def test_max_connections_below_the_pool(self):
        # The literal case of the fault: a value below the pool size. The config check makes
        # it an error (SPEC section 4); where it is still accepted, SIGTERM must not hang.
        e = None
        try:
            e = self.start("max_connections = 1\n")
        except AssertionError as err:
            assert "max_connections" in str(err), err  # refused at start: fine, said why
            xptest.log("max_connections = 1 is refused by the config: %s" % str(err)[-200:])
            return
        for idle in (0, 1):
            if e is None:
                e = self.start("max_connections = 1\n")
            socks = self.keepalive(e, idle)
            self.sigterm(e, "max_connections = 1, %d idle connection(s)" % idle)
            self.assert_closed(socks)
            e = None

    def test_slowloris_and_half_sent_requests(self):
        e = self.start()
        socks = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
            socks.append(s)
        socks += self.keepalive(e, 5)
        time.sleep(0.2)
        self.sigterm(e, "50 half-sent requests and 5 idle connections")
        self.assert_closed(socks)

    def test_scrape_storm(self):
        e = self.start()
        stop = threading.Event()
        results = {"ok": 0, "bad": []}

        def scrape():
            while not stop.is_set():
                try:
                    s = xpweb.connect(e.port, timeout=5)
                except OSError:
                    continue  # refused once the listener closed
                try:
                    while not stop.is_set():
                        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                        got = xpweb.read_response(s)
                        if got is None:
                            break  # closed by the shutdown: never a partial body
                        status, _, body, _ = got
                        if status != 200 or not body.endswith(b"\n") or b"# TYPE" not in body:
                            results["bad"].append((status, body[-100:]))
                        results["ok"] += 1
                except OSError:
                    pass
                finally:
                    s.close()

        threads = [threading.Thread(target=scrape, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        wait_until(lambda: results["ok"] > 200, 10, what="scrapes under way")
        try:
            self.sigterm(e, "6 clients scraping /metrics on kept-alive connections")
        finally:
            stop.set()
            for t in threads:
                t.join(5)
        assert not results["bad"], results["bad"][:3]
        xptest.log("%d scrapes answered whole before and during the shutdown" % results["ok"])

    def test_request_body_still_arriving(self):
        # An authorised client sends a body slowly: its request is in flight when SIGTERM
        # comes. The exporter gives it at most 0.5 s, then closes it.
        e = self.start(extra_args=["--web.enable-lifecycle"])
        wait_until(lambda: e.get("/-/ready")[0] == 200, 10, what="ready")
        s = xpweb.connect(e.port)
        s.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
        time.sleep(0.2)
        took = self.sigterm(e, "a request body arriving slowly")
        assert took >= 0.3, "the in-flight request was not given its moment: %.3f s" % took
        self.assert_closed([s])


if __name__ == "__main__":
    WebShutdownTest().run()
