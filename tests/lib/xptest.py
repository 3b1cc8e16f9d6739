"""Shared helpers for the integration and end-to-end tests.

Tests start real servers on loopback ports below 32768 (the kernel hands out 32768-60999 to
outgoing sockets, so a listener there can collide with a client), wait for them through the
listen table, and stop them by PID, never by name.
"""
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SOURCE_DIR = os.environ.get("XP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("XP_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
BINARY = os.environ.get("XP_BINARY", os.path.join(BUILD_DIR, "resilience_exporter"))
FAKE_BINARY = os.environ.get("XP_FAKE_BINARY", os.path.join(BUILD_DIR, "tests", "resilience_exporter_fake"))
NODE_BIN = os.path.join(SOURCE_DIR, "node_modules", ".bin")

_used_ports = set()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def listening(port):
    """True when something listens on TCP port (read from the kernel's listen table)."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            pass
    return False


def free_port():
    """A port in 20000-32000 that nothing listens on and no other test of this run took."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(1000):
        port = rng.randint(20000, 32000)
        if port in _used_ports or listening(port):
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the thing polled may not be up yet
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def wait_listen(port, timeout=20, proc=None):
    def up():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited with %s before listening on %d: %s" % (proc.poll(), port, proc.output()[-2000:]))
        return listening(port)
    wait_until(up, timeout, what="a listener on port %d" % port)


class Proc:
    """A process started in its own session, stopped by its PID."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                  start_new_session=True)
        self.pid = self.p.pid

    def poll(self):
        return self.p.poll()

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout=5):
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait()
        if not self.logf.closed:
            self.logf.close()
        return self.p.returncode

    def output(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class TmpDir:
    def __init__(self, name):
        base = os.environ.get("XP_TEST_TMP", os.path.join(BUILD_DIR, "test-tmp"))
        os.makedirs(base, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=name + "-", dir=base)
        os.chmod(self.path, 0o755)

    def file(self, name, content=None, mode=0o644):
        p = os.path.join(self.path, name)
        if content is not None:
            # Written aside and renamed: a process reading it never sees it half written.
            tmp = p + ".tmp-%d" % os.getpid()
            with open(tmp, "w" if isinstance(content, str) else "wb") as f:
                f.write(content)
            os.chmod(tmp, mode)
            os.replace(tmp, p)
        return p

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def http(url, method="GET", headers=None, data=None, timeout=10):
    """(status, headers, body bytes); never raises on HTTP error statuses."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def parse_metrics(text):
    """Samples as {(name, frozenset(labels.items())): value}, parsed by prometheus_client
    (an independent parser, not ours)."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            if key in out:
                raise AssertionError("duplicate series %s %s" % (s.name, s.labels))
            out[key] = s.value
    return out


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class Exporter:
    """The real binary (or the test build with the fake collector) on a spare port."""

    count = 0

    def __init__(self, tmp, config_text, binary=None, extra_args=(), env=None, name="exporter"):
        Exporter.count += 1
        name = "%s-%d" % (name, Exporter.count)  # each instance its own config and log
        self.tmp = tmp
        self.port = free_port()
        self.config_path = tmp.file(name + ".ini", config_text)
        self.binary = binary or BINARY
        self.args = [self.binary, "--config.file=" + self.config_path,
                     "--web.listen-address=127.0.0.1:%d" % self.port] + list(extra_args)
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = Proc(self.args, tmp.file(name + ".log"), env=e)
        wait_listen(self.port, proc=self.proc)
        self.base = "http://127.0.0.1:%d" % self.port

    def get(self, path, **kw):
        return http(self.base + path, **kw)

    def metrics_text(self):
        status, headers, body = self.get("/metrics")
        assert status == 200, (status, body[:200])
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode("utf-8")

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def health(self):
        status, _, body = self.get("/health")
        assert status == 200, status
        return json.loads(body)

    def wait_health(self, pred, timeout, what):
        """Polls /health until pred(health) holds; returns that health document."""
        seen = {}

        def check():
            seen["h"] = self.health()
            return pred(seen["h"])
        wait_until(check, timeout, interval=0.05, what=what)
        return seen["h"]

    def reload(self):
        self.proc.signal(signal.SIGHUP)

    def logs(self):
        return self.proc.output()

    def stop(self):
        rc = self.proc.stop()
        check_sanitizers(self.proc.output(), self.proc.log_path)
        return rc


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def check_sanitizers(text, where):
    """An ASan/UBSan report in a process's output fails the test, even if the process exited
    normally (a leak report, for one, comes only at exit)."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            i = text.index(mark)
            raise AssertionError("sanitizer report in %s:\n%s" % (where, text[max(0, i - 200):i + 3000]))


def promtool_check(text):
    """Runs promtool check metrics; returns (exit code, output)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
    return r.returncode, (r.stdout + r.stderr).decode()


class Test:
    """Minimal runner: each test_* method of a subclass, one summary line for CTest."""

    def run(self):
        names = [n for n in dir(self) if n.startswith("test_")]
        only = os.environ.get("XP_ONLY")
        if only:
            names = [n for n in names if only in n]
        passed = failed = 0
        for n in sorted(names):
            log("--- " + n)
            t0 = time.monotonic()
            try:
                getattr(self, n)()
                passed += 1
                log("ok   %s (%.1fs)" % (n, time.monotonic() - t0))
            except Exception:
                failed += 1
                import traceback
                traceback.print_exc()
                log("FAIL %s (%.1fs)" % (n, time.monotonic() - t0))
        if hasattr(self, "teardown_all"):
            self.teardown_all()
        print("%d passed, %d failed" % (passed, failed), flush=True)
        sys.exit(1 if failed or not passed else 0)
