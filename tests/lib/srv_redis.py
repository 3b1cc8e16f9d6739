"""A real redis-server (7) for tests: start, stop, restart, freeze (SIGSTOP) and thaw, plus a
tiny RESP client for setup commands (redis-cli exits 0 even on NOAUTH/WRONGPASS).

    r = srv_redis.Redis(tmp.path, password="rd-SENTINEL-s3cret", unix_socket=True)
    r.start()
    r.address()        # "127.0.0.1:P"
    r.socket_path      # "/.../redis.sock"
    r.command("ACL", "SETUSER", "probe", "on", ">pw", "~*", "+@all")
    r.freeze(); r.thaw(); r.stop(); r.cleanup()
"""
import os
import shutil
import signal
import socket
import tempfile

import xptest


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class RespError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError("bad reply %r" % line)


class Redis:
    def __init__(self, base_dir, password=None, port=None, unix_socket=False, extra_args=()):
        self.password = password
        self.port = port  # None: the first start() picks one
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=base_dir)
        self.socket_path = None
        self.sock_dir = None
        if unix_socket:
            self.socket_path = os.path.join(self.dir, "redis.sock")
            # sun_path holds 107 bytes: a deep build tree needs a shorter home for the socket.
            if len(self.socket_path) > 100:
                self.sock_dir = tempfile.mkdtemp(prefix="rs-", dir="/tmp")
                self.socket_path = os.path.join(self.sock_dir, "redis.sock")
        self.extra_args = list(extra_args)
        self.proc = None

    def argv(self):
        a = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
             "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password:
            a += ["--requirepass", self.password]
        if self.socket_path:
            a += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        return a + self.extra_args

    def start(self):
        def spawn(port):
            self.port = port
            return xptest.Proc(self.argv(), os.path.join(self.dir, "stdout.log"))
        if self.port is None:
            self.port, self.proc = xptest.listen_on_free_port(spawn, output=lambda p: p.output() + self.log())
        else:
            self.proc = spawn(self.port)
            xptest.wait_listen(self.port, proc=self.proc)
        if self.socket_path:
            xptest.wait_until(lambda: os.path.exists(self.socket_path), 10, what="the redis socket")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.thaw()
            self.proc.stop()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    @property
    def pid(self):
        return self.proc.pid

    def freeze(self):
        """SIGSTOP: the kernel still accepts connections into the backlog, nothing answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def address(self):
        return "127.0.0.1:%d" % self.port

    def command(self, *args, auth=True, timeout=5):
        """One command on a fresh connection (AUTH first when a password is set)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            f = s.makefile("rb")
            if auth and self.password:
                s.sendall(_encode(["AUTH", self.password]))
                _read_reply(f)
            s.sendall(_encode(list(args)))
            return _read_reply(f)
        finally:
            s.close()

    def info(self):
        """INFO as a dict of its key:value lines."""
        out = {}
        for line in self.command("INFO").splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def log(self):
        return xptest.read_text(os.path.join(self.dir, "redis.log"))

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.sock_dir:
                shutil.rmtree(self.sock_dir, ignore_errors=True)
