"""Shared helpers for the integration and end-to-end tests.

Tests start real servers on loopback ports below 32768 (the kernel hands out 32768-60999 to
outgoing sockets, so a listener there can collide with a client), wait for them through the
listen table, and stop them by PID, never by name.
"""
import fcntl
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


def sanitizer_of(binary):
    """"tsan", "asan" (ASan + UBSan) or None: what the binary was built with."""
    try:
        with open(binary, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"__tsan_init" in data:
        return "tsan"
    if b"__asan_init" in data:
        return "asan"
    return None


# The build under test (the fake-collector binary is built with the same flags).
SANITIZER = sanitizer_of(FAKE_BINARY) or sanitizer_of(BINARY)

# Bounds for the few checks whose point IS time: a probe ends at its deadline, a scrape does
# not wait on a probe. They must hold on a loaded 2-core machine: measured with a busy loop on
# every core and other test suites beside (load average 39), scrapes of an idle exporter took
# 1 ms at the median, 31 ms at the 99th percentile, 88 ms at the 99.9th and 172 ms at worst,
# and probes ended within 20 ms of their timeout. A sanitizer makes everything slower.
# Everything else a test waits for is an event or a count (wait_until), never a time.
DEADLINE_SLACK = 0.6 if SANITIZER else 0.25  # how far past its timeout a probe may end (s)
SCRAPE_BOUND = 0.3 if SANITIZER else 0.2  # nine scrapes in ten that wait on nothing (s)

_used_ports = set()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def _listeners(port):
    """Inodes of the sockets listening on TCP port (the kernel's listen table)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except FileNotFoundError:
            pass
    return inodes


def listening(port, pid=None):
    """True when something (process pid, if given) listens on TCP port."""
    inodes = _listeners(port)
    if pid is None or not inodes:
        return bool(inodes)
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


_port_locks = None  # one file whose byte N a test process locks while it uses port N


def _reserve(port):
    """Takes port for this process among all test processes on the machine (ctest -j runs
    several, other suites may run beside): a lock on byte `port` of one shared file, which the
    kernel drops when the process ends, however it ends."""
    global _port_locks
    if _port_locks is None:
        _port_locks = os.open(os.path.join(tempfile.gettempdir(), "xptest-ports.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(_port_locks, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        return True
    except OSError:
        return False


def free_port():
    """A port in 20000-32000 that nothing listens on and no other test process took: it stays
    this process's (a server stopped for an outage test can start on it again)."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(1000):
        port = rng.randint(20000, 32000)
        if port in _used_ports or listening(port) or not _reserve(port):
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


def listening_socket(backlog=64):
    """(a TCP socket listening on a free loopback port, the port), for servers in the test's
    own process."""
    for attempt in range(5):
        port = free_port()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:  # taken meanwhile by a process outside the tests
            s.close()
            if attempt == 4:
                raise
            continue
        s.listen(backlog)
        return s, port


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
    """Waits until proc (if given: that process, not one that took the port meanwhile)
    listens on port."""
    def up():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited with %s before listening on %d: %s" % (proc.poll(), port, proc.output()[-2000:]))
        return listening(port, proc.pid if proc is not None else None)
    wait_until(up, timeout, what="a listener on port %d" % port)


ADDRESS_IN_USE = ("address already in use", "eaddrinuse")  # strerror, node, Go (lower case)


def listen_on_free_port(spawn, timeout=20, output=None):
    """spawn(port) starts a server on port and returns its Proc; returns (port, proc) once it
    listens. A process outside the tests can still take a free port before the server binds
    it (on a shared machine): when the server exits saying so, another port is tried.
    output(proc): where the server says it (default: its output)."""
    for attempt in range(5):
        port = free_port()
        proc = spawn(port)
        try:
            wait_listen(port, timeout, proc)
            return port, proc
        except AssertionError:
            said = (output or Proc.output)(proc).lower()
            if proc.poll() is None or attempt == 4 or not any(m in said for m in ADDRESS_IN_USE):
                raise
            proc.stop()  # exited: closes its log
            log("port %d was taken before the server bound it; trying another" % port)


class Proc:
    """A process started in its own session, stopped by its PID."""

    def __init__(self, argv, log_path, env=None, cwd=None, ours=None):
        self.argv = argv
        # Our binary's output is read for sanitizer reports when it stops.
        self.ours = argv[0] in (BINARY, FAKE_BINARY) if ours is None else ours
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
        if self.ours:
            check_sanitizers(self.output(), self.log_path)
        return self.p.returncode

    def output(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def write_file(path, content, mode=0o644):
    """Writes content aside and renames it into place: a process reading path (a reload, a
    probe's script) sees the old file or the new one, never one half written."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w" if isinstance(content, str) else "wb") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_text(path):
    """A file's text, or "" when it cannot be read (a log not written yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


class TmpDir:
    def __init__(self, name):
        base = os.environ.get("XP_TEST_TMP", os.path.join(BUILD_DIR, "test-tmp"))
        os.makedirs(base, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=name + "-", dir=base)
        os.chmod(self.path, 0o755)

    def file(self, name, content=None, mode=0o644):
        p = os.path.join(self.path, name)
        if content is not None:
            write_file(p, content, mode)
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


# A dependency's breaker in one parsed scrape (parse_metrics).
def state_of(m, dep):
    for s in ("closed", "open", "half_open"):
        if sample(m, "circuit_breaker_state", dependency=dep, state=s) == 1:
            return s
    raise AssertionError("no breaker state set for %s" % dep)


def calls(m, dep, result):
    return sample(m, "circuit_breaker_calls_total", dependency=dep, result=result)


def transitions(m, dep, frm, to):
    return sample(m, "circuit_breaker_transitions_total", dependency=dep, **{"from": frm, "to": to})


def timed_scrape(ex):
    """(seconds the scrape took, its text)."""
    t0 = time.monotonic()
    text = ex.metrics_text()
    return time.monotonic() - t0, text


def assert_scrapes_did_not_wait(times, probe_timeout):
    """times: how long each of 10 or more scrapes took while probes hung, each for up to
    probe_timeout seconds. Scrapes that waited on those probes would be slow whenever one was
    in flight, up to its whole timeout; on a busy machine a few are slow for their own reasons
    (see SCRAPE_BOUND). So: none took a probe's whole timeout, and nine in ten were quick."""
    assert len(times) >= 10, times
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9)]
    log("%d scrapes while probes hung: median %.1f ms, 90th percentile %.1f ms, slowest %.1f ms" % (
        len(ordered), ordered[len(ordered) // 2] * 1e3, p90 * 1e3, ordered[-1] * 1e3))
    assert ordered[-1] < probe_timeout, "a scrape took %.3fs, a probe's whole timeout" % ordered[-1]
    assert p90 < SCRAPE_BOUND, "one scrape in ten took %.3fs or more" % p90


def assert_no_secret(ex, secrets):
    """None of secrets in anything the exporter shows or writes: /metrics, /health, the landing
    page and its log."""
    shown = {"/metrics": ex.metrics_text(),
             "/health": ex.get("/health")[2].decode("utf-8", "replace"),
             "/": ex.get("/")[2].decode("utf-8", "replace"),
             "the log": ex.logs()}
    for where, text in shown.items():
        for secret in secrets:
            assert secret not in text, "secret %r leaked into %s" % (secret, where)


def rss_kb(pid, field="VmRSS"):
    """Resident memory of pid in KB; field="VmHWM" gives the peak since the process started."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no " + field)


class Exporter:
    """The real binary (or the test build with the fake collector) on a spare port."""

    count = 0

    def __init__(self, tmp, config_text, binary=None, extra_args=(), env=None, name="exporter"):
        Exporter.count += 1
        name = "%s-%d" % (name, Exporter.count)  # each instance its own config and log
        self.tmp = tmp
        self.config_path = tmp.file(name + ".ini", config_text)
        self.binary = binary or BINARY
        e = dict(os.environ)
        if env:
            e.update(env)
        tries = []

        def spawn(port):
            self.args = [self.binary, "--config.file=" + self.config_path,
                         "--web.listen-address=127.0.0.1:%d" % port] + list(extra_args)
            tries.append(port)
            log_name = name + ("-%d" % len(tries) if len(tries) > 1 else "") + ".log"
            return Proc(self.args, tmp.file(log_name), env=e, ours=True)
        self.port, self.proc = listen_on_free_port(spawn)
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

    def probe_count(self, dep):
        """How many probes of dep have ended (rejected ticks while OPEN are not probes)."""
        return sample(self.metrics(), "dependency_probe_duration_seconds_count", dependency=dep) or 0

    def wait_probes(self, dep, n, timeout):
        """Waits until n more probes of dep have ended: "a while later" counted in probes,
        not in seconds, so a busy machine cannot make it too short."""
        target = self.probe_count(dep) + n
        wait_until(lambda: self.probe_count(dep) >= target, timeout, what="%d more probes of %s" % (n, dep))

    def write_config(self, text):
        """Replaces the config file whole (see write_file): a reload reads old or new."""
        write_file(self.config_path, text)

    def reload(self):
        self.proc.signal(signal.SIGHUP)

    def logs(self):
        return self.proc.output()

    def stop(self):
        return self.proc.stop()


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def check_sanitizers(text, where):
    """A sanitizer report (ASan, LSan, UBSan, TSan) in a process's output fails the test, even
    if the process exited normally (a leak report, for one, comes only at exit, and TSan keeps
    running after a race)."""
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

    def track(self, obj):
        """obj (anything with stop()) is stopped when the running test ends, pass or fail."""
        self.__dict__.setdefault("_live", []).append(obj)
        return obj

    def stop_live(self):
        """Stops what the running test tracked, newest first; raises the first error (a
        sanitizer report, say) once all are stopped."""
        live, first = self.__dict__.get("_live", []), None
        while live:
            try:
                live.pop().stop()
            except Exception as e:  # keep stopping the rest
                log("stop failed: %r" % e)
                first = first or e
        if first:
            raise first

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
                try:
                    getattr(self, n)()
                finally:
                    self.stop_live()
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
