"""--config.check on the real binary (SPEC section 3): a valid config prints the one-line
summary and exits 0; a broken one prints FILE:LINE: message on stderr and exits 2, never
echoes a secret, and never starts probing."""
import os
import socket
import subprocess
import sys

import xptest

SENTINEL = "s3cr3t-SENTINEL-42"
SHIPPED = os.path.join(xptest.SOURCE_DIR, "etc", "resilience_exporter.ini")
DEP = "[dependency.db]\ncollector = postgres\ndsn = host=db\n"  # lines 1-3

STAGING_ENV = {
    "STAGING_DB_PASSWORD": SENTINEL + "-db",
    "OPENAI_API_KEY": "sk-" + SENTINEL,
    "AWS_ACCESS_KEY_ID": "AKIATEST",
    "AWS_SECRET_ACCESS_KEY": SENTINEL + "-aws",
    "REDIS_PASSWORD": SENTINEL + "-redis",
}

# (what, file text, line or None for "FILE: message", words the message must hold)
BROKEN = [
    ("unknown key of another collector", DEP + "bucket = b\n", 4, 'unknown key "bucket" for collector postgres'),
    ("unknown section", DEP + "[metrics]\n", 4, "unknown section [metrics]"),
    ("duplicate section", DEP + "weight = 1\n[dependency.db]\n", 5, "duplicate section [dependency.db]"),
    ("duplicate key", DEP + "weight = 1\nweight = 2\n", 5, 'duplicate key "weight"'),
    ("indented continuation", DEP + "password = a\n  b\n", 5, "indented line"),
    ("timeout not below interval", DEP + "interval = 2s\n", 4, "timeout (2s) must be shorter than interval (2s)"),
    ("bad duration", DEP + "recovery_timeout = soon\n", 4, "recovery_timeout must be a positive duration"),
    ("negative weight", DEP + "weight = -1\n", 4, "weight must be a number from 0 to 1000000"),
    ("300-character line", DEP + "query = SELECT '" + "x" * 283 + "'\n", 4, "line too long: 300 characters"),
    ("requires naming nothing", DEP + "[feature.f]\nmin_level = degraded\nrequires = db, cache\n", 6,
     'requires names "cache"'),
    ("min_level missing", DEP + "[feature.f]\nrequires = db\n", 4, "[feature.f] needs min_level"),
    ("thresholds out of order", "[degradation]\nlimited = 80\n" + DEP, 2, "thresholds must be ordered"),
    ("bad bcrypt hash", "[web]\nbasic_auth_user = u\nbasic_auth_password_hash = plain\n" + DEP, 3,
     "basic_auth_password_hash must be a bcrypt hash"),
    ("no dependencies", "[exporter]\nlog_level = info\n", None, "no [dependency.NAME] section"),
    # SPEC section 4's bounds: an error, never an overflow (2.6e15h spun a thread at 100% CPU).
    ("duration of 2.6e15 hours", DEP + "interval = 2.6e15h\n", 4,
     "interval must be a positive duration such as 500ms, 10s, 1m or 1h, at most 30 days"),
    ("count past a million", DEP + "failure_threshold = 1000001\n", 4,
     "failure_threshold must be a whole number from 1 to 1000000"),
    ("telemetry_path hiding /health", "[exporter]\ntelemetry_path = /health\n" + DEP, 2,
     "telemetry_path must be a path starting with / that no other endpoint uses"),
    ("telemetry_path hiding /-/reload", "[exporter]\ntelemetry_path = /-/reload\n" + DEP, 2,
     'not "/-/reload"'),
    ("a secret and its _file", DEP + "password = x\npassword_file = /etc/hostname\n", 5,
     "both password and password_file are given; use one"),
]

# Values that carry a password, each broken in some way (secret-bearing DSN, URI, address).
SECRET_BEARING = [
    "[dependency.p]\ncollector = postgres\ndsn = postgresql://app:50%off-" + SENTINEL + "@db.internal/app\n",
    "[dependency.p]\ncollector = postgres\ndsn = host=db password=" + SENTINEL + " port=5432\n",
    "[dependency.p]\ncollector = postgres\ndsn = host=db password='" + SENTINEL + "\n",
    "[dependency.r]\ncollector = redis\naddress = redis://:" + SENTINEL + "@cache:6379/0\n",
    "[dependency.a]\ncollector = openai\nbase_url = https://u:" + SENTINEL + "@[::1/v1\n",
    "[dependency.s]\ncollector = s3\nendpoint = http://u:" + SENTINEL + "@h:99999\nbucket = b\n",
]


def run_check(config_path, env=None, extra=()):
    e = dict(os.environ)
    for k in STAGING_ENV:
        e.pop(k, None)
    if env:
        e.update(env)
    r = subprocess.run([xptest.BINARY, "--config.check", "--config.file=" + config_path] + list(extra),
                       capture_output=True, env=e, timeout=20)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def line_of(path, text):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError("%r not in %s" % (text, path))


class ConfigCheck(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("config-check")

    def teardown_all(self):
        self.tmp.cleanup()

    def test_shipped_config_is_valid(self):
        code, out, err = run_check(SHIPPED, STAGING_ENV)
        assert code == 0, (code, out, err)
        assert out == ("%s: ok, 4 dependencies (database=postgres, openai=openai, redis=redis, s3=s3), "
                       "16 features\n" % SHIPPED), out
        assert SENTINEL not in out + err

    def test_shipped_config_without_its_secret(self):
        env = dict(STAGING_ENV)
        del env["STAGING_DB_PASSWORD"]
        code, out, err = run_check(SHIPPED, env)
        line = line_of(SHIPPED, "${STAGING_DB_PASSWORD}")
        assert code == 2, (code, out, err)
        assert out == "", out
        assert err.startswith("%s:%d: password: environment variable STAGING_DB_PASSWORD is not set"
                              % (SHIPPED, line)), err
        assert SENTINEL not in err

    def test_broken_configs(self):
        failures = []
        for i, (what, text, line, words) in enumerate(BROKEN):
            path = self.tmp.file("broken-%02d.ini" % i, text)
            code, out, err = run_check(path)
            prefix = "%s:%d: " % (path, line) if line else "%s: " % path
            if code != 2 or out or not err.startswith(prefix) or words not in err or err.count("\n") != 1:
                failures.append("%s: exit %s, stdout %r, stderr %r (want %r... %r)"
                                % (what, code, out, err, prefix, words))
        assert not failures, "\n".join(failures)

    def test_missing_file(self):
        path = os.path.join(self.tmp.path, "nope.ini")
        code, out, err = run_check(path)
        assert code == 2, (code, out, err)
        assert err.strip() == "%s: cannot read the config file: No such file or directory" % path, err

    def test_secret_never_echoed(self):
        secret_file = self.tmp.file("pw", SENTINEL + "\n")
        cases = [
            DEP + "password = %s\npassword = %s\n" % (SENTINEL, SENTINEL),
            DEP + "password = %s\npassword_file = %s\n" % (SENTINEL, secret_file),
            DEP + "password = %s${\n" % SENTINEL,
            DEP + "password = %s\n  %s\n" % (SENTINEL, SENTINEL),
            DEP + "password = %s%s\n" % (SENTINEL, "x" * 300),
            "[web]\nbasic_auth_user = u\nbasic_auth_password_hash_file = %s\n" % secret_file + DEP,
        ]
        for i, text in enumerate(cases):
            path = self.tmp.file("secret-%d.ini" % i, text)
            code, out, err = run_check(path, {"XP_T_SECRET": SENTINEL})
            assert code == 2, (i, code, out, err)
            assert err.startswith(path + ":"), (i, err)
            assert "SENTINEL" not in out + err, (i, err)

    def test_secret_files_and_web_config(self):
        self.tmp.file("db-password", "from-a-file\n")
        self.tmp.file("hash", "$2y$10$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.\n")
        # Relative *_file paths are read next to the config file, wherever the binary runs.
        path = self.tmp.file("with-files.ini", DEP + "password_file = db-password\n")
        web = self.tmp.file("web.yml", "basic_auth_users:\n  prom: $2y$10$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.\n")
        code, out, err = run_check(path, extra=["--web.config.file=" + web])
        assert code == 0, (code, out, err)
        assert out == "%s: ok, 1 dependency (db=postgres), 0 features\n" % path, out
        bad_web = self.tmp.file("web-bad.yml", "basic_auth_users:\n  prom: hunter2\n")
        code, out, err = run_check(path, extra=["--web.config.file=" + bad_web])
        assert code == 2, (code, out, err)
        assert err.startswith('%s:2: basic_auth_users: the password hash of "prom" must be' % bad_web), err
        assert "hunter2" not in err

    def test_secret_bearing_values_never_quoted(self):
        for i, text in enumerate(SECRET_BEARING):
            path = self.tmp.file("bearing-%d.ini" % i, text)
            code, out, err = run_check(path)
            assert code == 2 and err.startswith(path + ":1: "), (i, code, out, err)
            assert "SENTINEL" not in out + err, (i, err)
        # The DSN of the issue: its libpq error quoted the password; now it shows the mark.
        code, out, err = run_check(self.tmp.path + "/bearing-0.ini")
        assert 'invalid percent-encoded token: "<redacted>"' in err, err

    def test_secret_bearing_values_on_reload(self):
        # The same values through POST /-/reload and SIGHUP: neither the answer nor the log
        # quotes the password.
        port = xptest.free_port()  # nothing listens: the dependency just fails
        good = "[dependency.cache]\ncollector = redis\naddress = 127.0.0.1:%d\n" % port
        e = xptest.Exporter(self.tmp, good, extra_args=["--log.level=debug", "--web.enable-lifecycle"], name="bearing")
        try:
            for i, text in enumerate(SECRET_BEARING):
                with open(e.config_path, "w") as f:
                    f.write(good + text)
                status, _, body = e.get("/-/reload", method="POST", data=b"")
                assert status == 500 and body.startswith(b"reload failed: " + e.config_path.encode()), (i, body)
                assert b"SENTINEL" not in body, (i, body)
            e.reload()  # SIGHUP, with the last one still in place
            xptest.wait_until(lambda: e.logs().count("reload failed") >= len(SECRET_BEARING) + 1, 10,
                              what="the SIGHUP reload's log line")
            assert "SENTINEL" not in e.logs()
            assert "<redacted>" in e.logs()
        finally:
            e.stop()
        assert "SENTINEL" not in e.logs()

    def test_files_that_could_block(self):
        # A FIFO named as a TLS file or a secret file: refused at once with file and line,
        # never a hang (run_check gives up after 20 s).
        fifo = os.path.join(self.tmp.path, "fifo")
        os.mkfifo(fifo)
        cases = [
            ("[web]\ntls_cert_file = %s\ntls_key_file = %s\n" % (fifo, fifo) + DEP, 2, "tls_cert_file"),
            (DEP + "password_file = %s\n" % fifo, 4, "password_file"),
            ("[web]\nbasic_auth_user = u\nbasic_auth_password_hash_file = /dev/zero\n" + DEP, 3,
             "basic_auth_password_hash_file"),
            (DEP + "password_file = %s\n" % self.tmp.path, 4, "password_file"),
        ]
        for i, (text, line, key) in enumerate(cases):
            path = self.tmp.file("block-%d.ini" % i, text)
            code, out, err = run_check(path)
            assert code == 2 and err.startswith("%s:%d: %s: cannot read " % (path, line, key)), (i, err)
            assert "not a regular file (a " in err, (i, err)

    def test_tls_pair_checked(self):
        d = self.tmp.path
        subprocess.run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                       "-days 2 -subj /CN=localhost -keyout key.pem -out cert.pem && openssl genpkey "
                       "-algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out other.pem",
                       shell=True, cwd=d, check=True, capture_output=True)
        self.tmp.file("junk.pem", "garbage\n")
        with open(os.path.join(d, "key.pem")) as f:
            key_material = f.read().splitlines()[1][:24]
        cases = [
            ("junk.pem", "key.pem", 2, "tls_cert_file: %s/junk.pem holds no PEM certificate" % d),
            ("key.pem", "cert.pem", 2, "are tls_cert_file and tls_key_file swapped?"),
            ("cert.pem", "junk.pem", 3, "tls_key_file: %s/junk.pem holds no unencrypted PEM private key" % d),
            ("cert.pem", "other.pem", 3, "does not go with the certificate in %s/cert.pem" % d),
        ]
        for i, (cert, key, line, words) in enumerate(cases):
            path = self.tmp.file("tls-%d.ini" % i, "[web]\ntls_cert_file = %s\ntls_key_file = %s\n" % (cert, key) + DEP)
            code, out, err = run_check(path)
            assert code == 2 and err.startswith("%s:%d: " % (path, line)) and words in err, (i, err)
            assert key_material not in err and "BEGIN" not in err, (i, err)
        path = self.tmp.file("tls-ok.ini", "[web]\ntls_cert_file = cert.pem\ntls_key_file = key.pem\n" + DEP)
        code, out, err = run_check(path)
        assert code == 0, (code, out, err)

    def test_max_connections_below_http_workers(self):
        workers = max(1, min(4, os.sysconf("SC_NPROCESSORS_ONLN")))
        path = self.tmp.file("maxconn-ok.ini", "[web]\nmax_connections = %d\n" % workers + DEP)
        code, out, err = run_check(path)
        assert code == 0, (code, out, err)
        if workers == 1:
            return  # one worker: 1, the least max_connections, is enough
        path = self.tmp.file("maxconn.ini", "[web]\nmax_connections = %d\n" % (workers - 1) + DEP)
        code, out, err = run_check(path)
        assert code == 2 and err == ("%s:2: max_connections (%d) must be at least the number of HTTP "
                                     "worker threads (%d here)\n" % (path, workers - 1, workers)), err

    def test_check_never_probes(self):
        # A backend that counts connections: --config.check must not touch it.
        port = xptest.free_port()
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(8)
        srv.setblocking(False)
        try:
            path = self.tmp.file("probe.ini", "[dependency.cache]\ncollector = redis\naddress = 127.0.0.1:%d\n" % port)
            code, out, err = run_check(path)
            assert code == 0, (code, out, err)
            assert out == "%s: ok, 1 dependency (cache=redis), 0 features\n" % path, out
            try:
                conn, _ = srv.accept()
                conn.close()
                raise AssertionError("--config.check connected to the backend")
            except BlockingIOError:
                pass
        finally:
            srv.close()


if __name__ == "__main__":
    if not os.path.exists(xptest.BINARY):
        print("binary %s not built" % xptest.BINARY, file=sys.stderr)
        sys.exit(1)
    ConfigCheck().run()
