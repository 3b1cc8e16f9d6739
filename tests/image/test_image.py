"""The container image, built from the Dockerfile and run (CTest label "image").

- Base: a local debian:bookworm-slim, made by tests/image/debian-base.sh (debootstrap minbase
  plus what the official slim image does) and `podman import`ed into a private podman store
  under the build directory (never the machine's own images); kept there for the next run.
- Build: `podman build --isolation=chroot --network=host --pull=never` of the Dockerfile with
  `--build-arg XP_REVISION=<git revision>` (docker format, so the HEALTHCHECK is kept).
- Run: `podman run` is refused by this sandbox's limits, so the image's filesystem is
  exported and the image's ENTRYPOINT + CMD run in a chroot as the image's USER, on a
  read-only root (as deploy/kubernetes runs it), with the shipped config and dummy secrets.
  Checks: the process runs as that user, serves /metrics, resilience_exporter_build_info
  carries the revision (issue 10 fault 9), and the image's own HEALTHCHECK command passes.
- Size: the base, the image and the layers on top of the base, printed; the layers must stay
  below LAYERS_MAX_MB.

Skipped, with the reason printed, when not root, without podman or debootstrap, when podman
cannot run here, or when the Debian mirror cannot be reached (offline). Exclude it with
`ctest -LE image`. XP_IMAGE_MIRROR overrides the mirror; XP_IMAGE_FRESH=1 discards the
cached base and the build cache first (what a fresh CI machine does).
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

import xptest

SRC = xptest.SOURCE_DIR
STORE = os.path.join(xptest.BUILD_DIR, "image")
BASE = "docker.io/library/debian:bookworm-slim"   # what FROM debian:bookworm-slim resolves to
IMAGE = "localhost/resilience_exporter:test"
MIRROR = os.environ.get("XP_IMAGE_MIRROR", "http://deb.debian.org/debian")
# What the Dockerfile adds above the base: the runtime libraries, curl, the binary (about 20 MB
# in 2026); far more means a cache or a build tool left in the runtime stage.
LAYERS_MAX_MB = 45
# Secrets the shipped config requires, dummies; every endpoint at a closed loopback port.
ENV = {"STAGING_DB_PASSWORD": "image-test-dummy", "OPENAI_API_KEY": "image-test-dummy"}

RUN_IN_ROOT = r"""
set -e
root=$1; userspec=$2; shift 2
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec chroot --userspec="$userspec" "$root" "$@"
"""


def run(argv, timeout=1200, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    return r.returncode, r.stdout + r.stderr


def mb(n):
    return n / 1e6


class Image(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("image")
        self.ready = False
        self.skip = None
        self.failed_setup = None
        self.timings = {}
        self.podman = ["podman", "--root", os.path.join(STORE, "storage"), "--runroot", os.path.join(STORE, "run")]

    def teardown_all(self):
        self.tmp.cleanup()

    def pm(self, *args, timeout=1200):
        return run(self.podman + list(args), timeout=timeout)

    # ------------------------------------------------------------------ setup
    def why_not(self):
        if os.geteuid() != 0:
            return "needs root (debootstrap, mounts, chroot)"
        for tool in ("podman", "debootstrap", "unshare", "chroot"):
            if not shutil.which(tool):
                return "%s is not installed (etc/packages/test.txt)" % tool
        os.makedirs(STORE, exist_ok=True)
        rc, out = self.pm("info", "--format", "{{.Store.GraphDriverName}}", timeout=120)
        if rc != 0:
            return "podman cannot run here: " + out.strip()[-500:]
        try:
            urllib.request.urlopen(MIRROR + "/dists/bookworm/Release", timeout=15).close()
        except Exception as e:
            return "the Debian mirror %s cannot be reached (offline?): %s" % (MIRROR, e)
        return None

    def setup(self):
        if self.ready or self.skip:
            return
        if self.failed_setup:
            raise AssertionError("setup failed earlier: %s" % self.failed_setup)
        self.skip = self.why_not()
        if self.skip:
            return
        try:
            self._setup()
            self.ready = True
        except Exception as e:
            self.failed_setup = repr(e)
            raise

    def timed(self, what, fn):
        t0 = time.monotonic()
        out = fn()
        self.timings[what] = time.monotonic() - t0
        xptest.log("%s: %.1f s" % (what, self.timings[what]))
        return out

    def _setup(self):
        if os.environ.get("XP_IMAGE_FRESH"):
            self.pm("rmi", "--all", "--force")
            for f in ("debian-bookworm-slim.tar",):
                if os.path.exists(os.path.join(STORE, f)):
                    os.unlink(os.path.join(STORE, f))
        if self.pm("image", "exists", BASE)[0] != 0:
            tar = os.path.join(STORE, "debian-bookworm-slim.tar")
            if not os.path.exists(tar):
                rc, out = self.timed("base: debootstrap + slim", lambda: run(
                    ["bash", os.path.join(SRC, "tests", "image", "debian-base.sh"), tar, MIRROR]))
                assert rc == 0, out
            rc, out = self.timed("base: podman import", lambda: self.pm(
                "import", "--change", 'CMD ["bash"]', tar, BASE))
            assert rc == 0, out
        else:
            xptest.log("base: %s from the cache in %s" % (BASE, STORE))
        rc, rev = run(["git", "-C", SRC, "rev-parse", "--short=12", "HEAD"])
        self.revision = rev.strip() if rc == 0 else "0123456789ab"
        rc, out = self.timed("podman build", lambda: self.pm(
            "build", "--isolation=chroot", "--network=host", "--pull=never", "--format", "docker",
            "--build-arg", "XP_REVISION=" + self.revision, "--tag", IMAGE, "--file",
            os.path.join(SRC, "Dockerfile"), SRC))
        assert rc == 0, out[-4000:]
        self.pm("image", "prune", "--force")   # earlier builds' layers, in our own store only
        rc, out = self.pm("image", "inspect", IMAGE)
        assert rc == 0, out
        self.config = json.loads(out)[0]
        self.rootfs = os.path.join(self.tmp.path, "rootfs")
        os.makedirs(self.rootfs)

        def export():
            rc, cid = self.pm("create", IMAGE)
            assert rc == 0, cid
            cid = cid.strip().splitlines()[-1]
            try:
                tar = os.path.join(self.tmp.path, "image.tar")
                rc, out = self.pm("export", "--output", tar, cid)
                assert rc == 0, out
                with tarfile.open(tar) as t:
                    t.extractall(self.rootfs, numeric_owner=True)
                os.unlink(tar)
            finally:
                self.pm("rm", cid)
        self.timed("podman export", export)

    def in_root(self, argv, log_name, env=None):
        """argv run in the image's filesystem as the image's user, on a read-only root."""
        user = self.config["Config"]["User"] or "0:0"
        script = self.tmp.file("run-in-root.sh", RUN_IN_ROOT)
        full = ["unshare", "--mount", "--propagation", "private", "bash", script, self.rootfs, user] + argv
        e = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        for kv in self.config["Config"].get("Env") or []:
            k, v = kv.split("=", 1)
            e[k] = v
        e.update(env or {})
        return xptest.Proc(full, self.tmp.file(log_name), env=e)

    def healthcheck(self):
        """The HEALTHCHECK (podman keeps it at the top of inspect's answer, docker in Config)."""
        return self.config.get("Healthcheck") or self.config["Config"].get("Healthcheck") or {}

    # ------------------------------------------------------------------ tests
    def test_1_image_config(self):
        self.setup()
        if self.skip:
            print("SKIP image: " + self.skip)
            return
        c = self.config["Config"]
        assert c["User"] == "10001:10001", c["User"]
        assert "9866/tcp" in (c.get("ExposedPorts") or {}), c.get("ExposedPorts")
        assert c["Entrypoint"] == ["/usr/local/bin/resilience_exporter"], c["Entrypoint"]
        assert c["Cmd"] == ["--config.file=/etc/resilience_exporter/resilience_exporter.ini"], c["Cmd"]
        hc = self.healthcheck()
        assert hc.get("Test", [None])[0] == "CMD" and "/-/healthy" in hc["Test"][-1], hc
        assert self.config["Labels"]["org.opencontainers.image.revision"] == self.revision, self.config["Labels"]
        # the shipped config, byte for byte, readable and not writable by the user
        path = os.path.join(self.rootfs, "etc/resilience_exporter/resilience_exporter.ini")
        with open(path) as f, open(os.path.join(SRC, "etc", "resilience_exporter.ini")) as g:
            assert f.read() == g.read(), "the image's config is not etc/resilience_exporter.ini"
        st = os.stat(path)
        assert st.st_uid == 0 and st.st_mode & 0o777 == 0o644, oct(st.st_mode)

    def test_2_runs_as_its_user_with_the_revision(self):
        self.setup()
        if self.skip:
            print("SKIP image: " + self.skip)
            return
        c = self.config["Config"]
        port = xptest.free_port()
        closed = xptest.free_port()  # nothing listens there: every probe fails fast, nothing leaves
        env = dict(ENV, STAGING_DB_HOST="127.0.0.1", STAGING_DB_PORT=str(closed), REDIS_HOST="127.0.0.1",
                   REDIS_PORT=str(closed), S3_ENDPOINT="http://127.0.0.1:%d" % closed,
                   OPENAI_BASE_URL="http://127.0.0.1:%d/v1" % closed)
        argv = c["Entrypoint"] + c["Cmd"] + ["--web.listen-address=127.0.0.1:%d" % port]
        proc = self.in_root(argv, "exporter.log", env)
        try:
            xptest.wait_listen(port, timeout=30, proc=proc)
            with open("/proc/%d/status" % proc.pid) as f:
                ids = {l.split(":")[0]: l.split()[1:] for l in f if l.startswith(("Uid:", "Gid:"))}
            uid, gid = c["User"].split(":")
            assert ids["Uid"] == [uid] * 4 and ids["Gid"] == [gid] * 4, ids
            assert os.readlink("/proc/%d/root" % proc.pid) == self.rootfs
            status, headers, body = xptest.http("http://127.0.0.1:%d/metrics" % port)
            assert status == 200, (status, body[:300])
            samples = xptest.parse_metrics(body.decode())
            info = [dict(k[1]) for k in samples if k[0] == "resilience_exporter_build_info"]
            assert info == [{"version": info[0]["version"], "revision": self.revision}], info
            assert xptest.sample(samples, "dependency_info", dependency="database", collector="postgres",
                                 target="127.0.0.1:%d" % closed) == 1, "not the shipped config's dependencies"
            # the image's HEALTHCHECK, as docker would run it, against this port
            hc = [a.replace("127.0.0.1:9866", "127.0.0.1:%d" % port) for a in self.healthcheck()["Test"][1:]]
            assert hc != self.healthcheck()["Test"][1:], "the HEALTHCHECK does not probe port 9866"
            check = self.in_root(hc, "healthcheck.log")
            assert check.p.wait(30) == 0, check.output()
            check.stop()
        finally:
            rc = proc.stop()
        assert rc == 0, "exit %s:\n%s" % (rc, proc.output()[-2000:])
        log = proc.output()
        assert "revision=" + self.revision in log, log[:500]
        for secret in ENV.values():
            assert secret not in log, "a secret in the log"

    def test_3_size(self):
        self.setup()
        if self.skip:
            print("SKIP image: " + self.skip)
            return
        sizes = {}
        for name in (BASE, IMAGE):
            rc, out = self.pm("image", "inspect", "--format", "{{.Size}}", name)
            assert rc == 0, out
            sizes[name] = int(out.strip())
        layers = sizes[IMAGE] - sizes[BASE]
        rc, history = self.pm("history", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE)
        xptest.log("image %s: %.1f MB (%.1f MiB); base %.1f MB; layers on top %.1f MB" % (
            IMAGE, mb(sizes[IMAGE]), sizes[IMAGE] / 2 ** 20, mb(sizes[BASE]), mb(layers)))
        xptest.log("on the real debian:bookworm-slim (about 75 MB): about %.0f MB" % (75 + mb(layers)))
        xptest.log(history)
        for what, secs in self.timings.items():
            xptest.log("time %s: %.1f s" % (what, secs))
        assert 0 < mb(layers) < LAYERS_MAX_MB, "the Dockerfile adds %.1f MB to the base" % mb(layers)


if __name__ == "__main__":
    Image().run()
