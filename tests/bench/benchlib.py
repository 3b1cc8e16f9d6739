"""Servers and /proc readings for the benchmark (tests/bench/bench.py): processes started in
their own session and stopped by PID, the PostgreSQL/Redis/S3/OpenAI backends, CPU and
memory of a process tree, a tolerant HTTP GET and a small exposition parser.
Only the standard library is used."""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
SCRAPE_TIMEOUT = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_PASSWORD = "bench-pg-pw"
REDIS_PASSWORD = "bench-redis-pw"
BUCKET = "bench"

WORK = None  # the run's work directory, set by bench.py before anything starts
PIDFILE = None  # pids we started, one a line, read by run.sh's trap as a last resort
procs = []  # Proc objects, stopped in reverse order
pg_data = None


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes and ports

def listening(port):
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            pass
    return False


_taken = set()


def free_port():
    rng = random.Random(os.getpid() ^ time.time_ns())
    for _ in range(1000):
        port = rng.randint(20000, 32000)
        if port in _taken or listening(port):
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _taken.add(port)
        return port
    raise RuntimeError("no free port")


def wait_listen(port, proc=None, timeout=30, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        if proc is not None and proc.p.poll() is not None:
            raise RuntimeError("%s exited (%s) before listening on %d; log: %s" %
                               (what or proc.name, proc.p.returncode, port, proc.log_path))
        time.sleep(0.05)
    raise RuntimeError("%s: nothing listens on %d after %ds" % (what, port, timeout))


def note_pid(pid):
    with open(PIDFILE, "a") as f:
        f.write("%d\n" % pid)


class Proc:
    """A process in its own session; stopped by PID (SIGCONT first, in case it is frozen)."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.log_path = os.path.join(WORK, name + ".log")
        self.logf = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, env=e,
                                  cwd=cwd or WORK, start_new_session=True)
        self.pid = self.p.pid
        note_pid(self.pid)
        procs.append(self)

    def stop(self):
        if self.p.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        self.logf.close()


def run(argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


# ---------------------------------------------------------------- /proc readings

def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
            except OSError:
                continue
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    """pid and all its descendants."""
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def thread_ms(pids):
    """{tid: ms on CPU} from /proc/PID/task/TID/sched (ns precision; ticks are 10 ms)."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/sched" % (pid, tid)) as f:
                    for line in f:
                        if line.startswith("se.sum_exec_runtime"):
                            out[int(tid)] = float(line.split(":")[1])
                            break
            except OSError:
                pass
    return out


def idle_seconds(before_ms, after_ms, before_ticks, after_ticks):
    """CPU seconds between two readings: per-thread precise time, or the tick count where
    that is larger (threads that ended in between are only in the ticks)."""
    precise = sum(v - before_ms.get(t, 0.0) for t, v in after_ms.items()) / 1000
    return max(precise, after_ticks - before_ticks)


def memory(pids):
    """(RSS bytes, Private_Dirty bytes) summed over pids."""
    rss = priv = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k == "Rss":
                        rss += int(v.split()[0]) * 1024
                    elif k == "Private_Dirty":
                        priv += int(v.split()[0]) * 1024
        except OSError:
            pass
    return rss, priv


# ---------------------------------------------------------------- backends

def start_postgres():
    global pg_data
    d = os.path.join(WORK, "pg")
    os.makedirs(d)
    shutil.chown(d, "postgres", "postgres")
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write(PG_PASSWORD + "\n")
    shutil.chown(pw, "postgres", "postgres")
    pg_data = os.path.join(d, "data")
    port = free_port()
    run(["runuser", "-u", "postgres", "--", PG_BIN + "/initdb", "-D", pg_data, "-U", "postgres",
         "--pwfile=" + pw, "--auth-host=scram-sha-256", "--auth-local=trust", "-N"], cwd=d)
    run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", pg_data, "-w", "-l",
         os.path.join(d, "pg.log"), "-o",
         "-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200" % (port, d),
         "start"], cwd=d)
    with open(os.path.join(pg_data, "postmaster.pid")) as f:
        note_pid(int(f.readline()))
    sql = ("CREATE ROLE app LOGIN PASSWORD '%s' IN ROLE pg_monitor; CREATE DATABASE app OWNER app;"
           % PG_PASSWORD)
    for stmt in sql.split("; "):
        run(["runuser", "-u", "postgres", "--", PG_BIN + "/psql", "-h", d, "-p", str(port), "-U",
             "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", stmt], cwd=d)
    wait_listen(port, what="postgres")
    return port


def postmaster_pid():
    with open(os.path.join(pg_data, "postmaster.pid")) as f:
        return int(f.readline())


def stop_postgres():
    if not pg_data or not os.path.exists(os.path.join(pg_data, "postmaster.pid")):
        return
    try:
        for pid in tree(postmaster_pid()):
            os.kill(pid, signal.SIGCONT)
    except (OSError, ValueError):
        pass
    subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", pg_data, "-m",
                    "immediate", "-w", "-t", "10", "stop"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd="/")


def start_backends():
    b = {"pg_port": start_postgres()}
    log("postgres on", b["pg_port"])

    b["redis_port"] = free_port()
    b["redis"] = Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(b["redis_port"]),
                                "--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no",
                                "--dir", WORK, "--daemonize", "no"])
    b["s3_port"] = free_port()
    s3dir = os.path.join(WORK, "s3")
    os.makedirs(s3dir)
    b["s3"] = Proc("s3rver", ["node", os.path.join(HERE, "s3_server.js"), str(b["s3_port"]), s3dir,
                              BUCKET])
    b["llm_port"] = free_port()
    b["llm"] = Proc("mock-llm", [os.path.join(SRC, "node_modules", ".bin", "mock-llm")],
                    env={"HOST": "127.0.0.1", "PORT": str(b["llm_port"])})
    wait_listen(b["redis_port"], b["redis"], what="redis")
    wait_listen(b["s3_port"], b["s3"], what="s3rver")
    wait_listen(b["llm_port"], b["llm"], what="mock-llm")
    log("redis on %d, s3rver on %d, mock-llm on %d" % (b["redis_port"], b["s3_port"], b["llm_port"]))
    return b


def backend_pids(b):
    return tree(postmaster_pid()) + [b["redis"].pid] + tree(b["s3"].pid) + tree(b["llm"].pid)


# ---------------------------------------------------------------- HTTP

def get(url, timeout=SCRAPE_TIMEOUT):
    """(status, body bytes, seconds); status is 'timeout' or 'error: ...' when no answer."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
            return r.status, body, time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.monotonic() - t0
    except (socket.timeout, TimeoutError):
        return "timeout", b"", time.monotonic() - t0
    except Exception as e:  # connection refused/reset: report, do not crash the run
        if "timed out" in str(e):
            return "timeout", b"", time.monotonic() - t0
        return "error: %s" % e, b"", time.monotonic() - t0


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {labels}, value, timestamp_ms or None)] of a text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            continue
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(LABEL_RE.findall(m.group(2) or "")), v,
                    float(m.group(4)) if m.group(4) else None))
    return out


def value(samples, name, **labels):
    for n, l, v, _ in samples:
        if n == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    return None


def fmt_v(v):
    if v is None:
        return "absent"
    return "%g" % v
