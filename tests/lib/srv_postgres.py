"""A real PostgreSQL 15 cluster for tests: start, stop, restart, freeze (SIGSTOP every process of
the cluster, the way a hung host looks to a client) and thaw.

    pg = srv_postgres.Postgres(tmp.path, role="app", password="pg-SENTINEL-s3cret")
    pg.start()
    pg.dsn()      # "host=127.0.0.1 port=P dbname=postgres user=app" (no password)
    pg.sql("SHOW max_connections")
    pg.freeze(); pg.thaw(); pg.stop(); pg.cleanup()

initdb refuses root, so the cluster runs as the postgres user in a directory it owns.
"""
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import xptest

BIN = "/usr/lib/postgresql/15/bin"


def _run_as_postgres(argv, **kw):
    # cwd "/": the caller's directory may be closed to the postgres user.
    kw.setdefault("cwd", "/")
    return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, capture_output=True, **kw)


class Postgres:
    def __init__(self, base_dir, role="app", password="app-pw", port=None, extra_conf=None):
        self.role = role
        self.password = password
        self.port = port or xptest.free_port()
        self.extra_conf = extra_conf or {}
        # The postgres user must be able to reach the directory. A build tree under /work is;
        # a clone under /root (mode 700) is not, so ask as that user (not as root) and fall
        # back to /tmp.
        reachable = _run_as_postgres(["test", "-x", base_dir]).returncode == 0
        parent = base_dir if reachable else tempfile.gettempdir()
        self.dir = tempfile.mkdtemp(prefix="pg-", dir=parent)
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self._initdb()

    def _initdb(self):
        pwfile = os.path.join(self.dir, "superuser.pw")
        with open(pwfile, "w") as f:
            f.write("postgres-superuser-pw\n")
        os.chmod(pwfile, 0o644)
        r = _run_as_postgres([BIN + "/initdb", "-D", self.data, "-U", "postgres", "--pwfile=" + pwfile,
                              "--auth-host=scram-sha-256", "--auth-local=trust", "-N"])
        os.unlink(pwfile)
        if r.returncode != 0:
            raise RuntimeError("initdb failed: %s" % (r.stdout + r.stderr).decode())
        self._created_role = False

    def start(self):
        for attempt in range(5):
            opts = "-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c full_page_writes=off" % (
                self.port, self.dir)
            for k, v in self.extra_conf.items():
                opts += " -c %s=%s" % (k, v)
            logged = len(self.log())
            r = _run_as_postgres([BIN + "/pg_ctl", "-D", self.data, "-w", "-t", "30", "-l", self.log_path,
                                  "-o", opts, "start"])
            if r.returncode == 0:
                break
            said = self.log()[logged:]
            # A process outside the tests took the port before the first start bound it (see
            # xptest.listen_on_free_port): pick another. Later starts keep the port.
            if self._created_role or attempt == 4 or "Address already in use" not in said:
                raise RuntimeError("pg_ctl start failed: %s\n%s" % ((r.stdout + r.stderr).decode(), said))
            xptest.log("port %d was taken before PostgreSQL bound it; trying another" % self.port)
            self.port = xptest.free_port()
        xptest.wait_listen(self.port)
        if not self._created_role:
            self.sql("CREATE ROLE \"%s\" LOGIN PASSWORD '%s'" % (self.role, self.password.replace("'", "''")))
            self._created_role = True

    def stop(self):
        if self.running():
            self.thaw()
            r = _run_as_postgres([BIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"])
            if r.returncode != 0:
                raise RuntimeError("pg_ctl stop failed: %s" % (r.stdout + r.stderr).decode())

    def restart(self):
        self.stop()
        self.start()

    def running(self):
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def pids(self):
        """The postmaster and every process it started."""
        root = self.postmaster_pid()
        out = [root]
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == root:
                out.append(int(name))
        return out

    def freeze(self):
        """SIGSTOP the whole cluster: TCP connections are still accepted by the kernel, but
        nothing answers, neither a start-up exchange nor a query on a kept connection. The
        postmaster first, so it cannot fork a backend we then miss."""
        self._frozen = self.pids()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in getattr(self, "_frozen", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen = []

    def dsn(self, user=None, dbname="postgres"):
        return "host=127.0.0.1 port=%d dbname=%s user=%s" % (self.port, dbname, user or self.role)

    def sql(self, query):
        """Runs query as the superuser over the unix socket; returns stdout, stripped."""
        r = _run_as_postgres([BIN + "/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                              "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", query], timeout=30)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr.decode())
        return r.stdout.decode().strip()

    def log(self):
        return xptest.read_text(self.log_path)

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
