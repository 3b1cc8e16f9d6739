"""A real S3 server (@20minutes/s3rver under node) for tests, and the LocalStack stand-in
that can sit in front of it."""
import os
import shutil
import signal
import sys

import xptest

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = shutil.which("node") or "/usr/bin/node"


class S3Server:
    """s3rver on a spare loopback port with the given buckets and credentials. stop() and
    start() again keep the port and the stored data, for outage tests; start() returns once
    the server answers."""

    def __init__(self, tmp, buckets=("probe-bucket",), key="S3RVER", secret="S3RVER", name="s3rver"):
        self.tmp = tmp
        self.buckets = list(buckets)
        self.key = key
        self.secret = secret
        self.name = name
        self.port = None
        self.dir = os.path.join(tmp.path, name + "-data")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.start()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        def spawn(port):
            argv = [NODE, os.path.join(HERE, "s3rver.js"), "--port", str(port), "--dir", self.dir]
            for b in self.buckets:
                argv += ["--bucket", b]
            if (self.key, self.secret) != ("S3RVER", "S3RVER"):
                argv += ["--key", self.key, "--secret", self.secret]
            return xptest.Proc(argv, self.tmp.file(self.name + ".log"))
        if self.port is None:  # the first start picks the port; later ones keep it
            self.port, self.proc = xptest.listen_on_free_port(spawn)
        else:
            self.proc = spawn(self.port)
            xptest.wait_listen(self.port, proc=self.proc)
        # node answers its first requests slowly (seen: 235 ms): let that be ours, not a probe's.
        xptest.wait_until(lambda: xptest.http(self.endpoint + "/", timeout=30)[0], 30, what="s3rver to answer")

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None
        xptest.wait_until(lambda: not xptest.listening(self.port), 10, what="s3rver to stop listening")

    def freeze(self):
        self.proc.signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.signal(signal.SIGCONT)


class LocalStackStandIn:
    """Serves GET /_localstack/health with an s3 status the test switches (set_s3) and forwards
    every other request unchanged, Host header included so SigV4 still verifies, to upstream
    (an S3Server)."""

    def __init__(self, tmp, upstream_port, s3_status="running", name="localstack"):
        self.state_file = tmp.file(name + ".state", s3_status)
        self.port, self.proc = xptest.listen_on_free_port(lambda port: xptest.Proc(
            [sys.executable, os.path.join(HERE, "localstack_standin.py"), "--port", str(port),
             "--upstream", "127.0.0.1:%d" % upstream_port, "--state-file", self.state_file], tmp.file(name + ".log")))

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def set_s3(self, status):
        """status: a string for services.s3, or None to leave s3 out of the document."""
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("" if status is None else status)
        os.replace(tmp, self.state_file)

    def stop(self):
        self.proc.stop()
