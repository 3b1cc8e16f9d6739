"""--web.config.file in the Prometheus exporter-toolkit's YAML, against real clients (curl,
Python's ssl) and beside the real node_exporter (Debian's 1.5.0 reads the same format):

- the toolkit's example files (web/testdata/web_config_users.good.yml with its own bcrypt
  hashes, web_config_headers.good.yml, the client certificate ones) served as they say;
- every bad input refused by --config.check with FILE:LINE and no secret, and at reload kept
  out while the running configuration goes on;
- certificates rotated on disk while a client connects in a loop (a Kubernetes secret
  volume's symlink switch, and two files replaced one after the other), a rotation that does
  not load keeping the old pair, and a reload that names new files;
- client certificates under each client_auth_type, the client CA rotated on disk;
- TLS versions (min_version, max_version).
Issue 11 items 1, 2, 3 and 6."""
import os
import signal
import ssl
import subprocess
import threading
import time

import xptest
import xpweb
from xptest import wait_until

# web/testdata/web_config_users.good.yml of the exporter-toolkit (its passwords: alice123, ...)
TOOLKIT_USERS = """tls_server_config:
  cert_file: "server.crt"
  key_file: "server.key"
basic_auth_users:
  alice: $2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby
  bob: $2y$18$4VeFDzXIoPHKnKTU3O3GH.N.vZu06CVqczYZ8WvfzrddFU6tGqjR.
  carol: $2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu
  dave: $2y$10$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq
"""
# web/testdata/web_config_headers.good.yml
TOOLKIT_HEADERS = """http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Content-Type-Options: nosniff
    X-XSS-Protection: 1
    Content-Security-Policy: "default-src 'self' *.test.example.net"
"""
TLS = 'tls_server_config:\n  cert_file: "server.crt"\n  key_file: "server.key"\n'
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def dep(script):
    return "[dependency.a]\ncollector = fake\nscript = %s\ninterval = 1s\ntimeout = 500ms\n" % script


def curl(url, *args):
    """(http status or 0, curl exit code)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", url] + list(args),
                       capture_output=True, text=True)
    return int(r.stdout or 0), r.returncode


def refused(fn, *args, **kw):
    """True when the TLS handshake (or the first read after it, in TLS 1.3) is refused."""
    try:
        fn(*args, **kw)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return False


class WebToolkitTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("webtoolkit")
        self.script = self.tmp.file("ok", "ok\n")
        self.ca = xpweb.Pki(self.tmp, "ca")
        self.other_ca = xpweb.Pki(self.tmp, "other-ca")
        # The toolkit's files name server.crt and server.key next to the web config file.
        cert, key = self.ca.issue("server-a")
        self.tmp.file("server.crt", open(cert).read())
        self.tmp.file("server.key", open(key).read())
        self.client = self.ca.issue("client", server=False)
        self.stranger = self.other_ca.issue("stranger", server=False)

    def teardown_all(self):
        self.tmp.cleanup()

    def start(self, web_text, name="web.yml", args=()):
        web = self.tmp.file(name, web_text)
        e = xptest.Exporter(self.tmp, dep(self.script), binary=xptest.FAKE_BINARY,
                            extra_args=["--web.config.file=" + web, "--log.level=debug"] + list(args))
        e.web = web
        return e

    def check(self, web_text, name="check.yml"):
        web = self.tmp.file(name, web_text)
        cfg = self.tmp.file("check.ini", dep(self.script))
        r = subprocess.run([xptest.FAKE_BINARY, "--config.file=" + cfg, "--web.config.file=" + web, "--config.check"],
                           capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr, web

    def test_toolkit_users_file_served(self):
        e = self.start(TOOLKIT_USERS)
        try:
            base, ca = "https://127.0.0.1:%d" % e.port, ["--cacert", self.ca.cert]
            assert curl(base + "/-/healthy", *ca) == (200, 0)
            assert curl(base + "/metrics", *ca) == (401, 0)
            # The toolkit's own $2y$ hashes (cost 12 and 10) with its passwords.
            for user in ("alice", "carol", "dave"):
                assert curl(base + "/metrics", *ca, "-u", "%s:%s123" % (user, user)) == (200, 0), user
            assert curl(base + "/metrics", *ca, "-u", "dave:bad") == (401, 0)
            assert curl(base + "/metrics", *ca, "-u", "alice:dave123") == (401, 0)
            assert curl(base + "/metrics", *ca, "-u", "nonexistent:nonexistent") == (401, 0)
            # Python's ssl sees the certificate of server.crt, verified against the CA.
            st, peer = xpweb.tls_request(e.port, "/metrics", ca=self.ca.cert, headers=xpweb.basic("carol", "carol123"))
            assert st == 200 and peer == xpweb.file_fingerprint(self.tmp.file("server.crt")), st
            assert "123" not in e.logs() and "$2y$" not in e.logs()
        finally:
            e.stop()

    def test_toolkit_headers_file(self):
        e = self.start(TOOLKIT_HEADERS)
        try:
            for path in ("/metrics", "/", "/-/healthy", "/nope"):
                st, h = xpweb.curl_head("http://127.0.0.1:%d%s" % (e.port, path))
                assert h.get("x-frame-options") == "deny", (path, h)
                assert h.get("strict-transport-security") == "max-age=31536000; includeSubDomains", (path, h)
                assert h.get("x-xss-protection") == "1", (path, h)
                assert h.get("content-security-policy") == "default-src 'self' *.test.example.net", (path, h)
                assert h.get("x-content-type-options") == "nosniff" and h.get("referrer-policy") == "no-referrer"
            # A reload with a blank CSP drops the policy altogether (the toolkit's "unset if
            # blank"); HSTS without TLS comes only from the file.
            self.tmp.file("web.yml", "http_server_config:\n  headers:\n    Content-Security-Policy: \"\"\n")
            e.reload()
            wait_until(lambda: "content-security-policy" not in xpweb.curl_head("http://127.0.0.1:%d/" % e.port)[1], 5,
                       what="the CSP gone after reload")
            h = xpweb.curl_head("http://127.0.0.1:%d/" % e.port)[1]
            assert "strict-transport-security" not in h and h.get("x-frame-options") == "DENY", h
        finally:
            e.stop()

    def test_hsts_with_tls_and_overridden(self):
        e = self.start(TLS + "http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=60\n")
        try:
            st, h = xpweb.curl_head("https://127.0.0.1:%d/-/healthy" % e.port, "--cacert", self.ca.cert)
            assert st == 200 and h.get("strict-transport-security") == "max-age=60", h
        finally:
            e.stop()
        e = self.start(TLS)
        try:
            st, h = xpweb.curl_head("https://127.0.0.1:%d/-/healthy" % e.port, "--cacert", self.ca.cert)
            assert h.get("strict-transport-security") == "max-age=31536000", h
        finally:
            e.stop()

    BAD = [
        # (what, text, line, words)
        ("malformed YAML", TLS + "basic_auth_users: [alice\n", 5, "not valid YAML"),
        ("unsupported toolkit key", TLS + "  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n", 4,
         "tls_server_config.cipher_suites is an exporter-toolkit key this exporter does not support"),
        ("toolkit rate_limit", "rate_limit:\n  interval: 1s\n  burst: 20\n", 1, "rate_limit = N/PERIOD in [web]"),
        ("http2", "http_server_config:\n  http2: false\n", 2, "http_server_config.http2"),
        ("unknown key", "tls_server_config:\n  cert_filse: server.crt\n", 2, 'unknown key "cert_filse"'),
        ("unreadable certificate", 'tls_server_config:\n  cert_file: "nope.crt"\n  key_file: "server.key"\n', 2,
         "cert_file: cannot read"),
        ("mismatched certificate", 'tls_server_config:\n  cert_file: "server.crt"\n  key_file: "client-key.pem"\n', 3,
         "does not go with the certificate"),
        ("CA not PEM", TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ok\n", 5,
         "client_ca_file: %s/ok holds no PEM certificate"),
        ("unknown client_auth_type", TLS + "  client_auth_type: RequireAndVerify\n", 4,
         'client_auth_type must be NoClientCert, RequestClientCert, RequireAnyClientCert, '
         'VerifyClientCertIfGiven or RequireAndVerifyClientCert, not "RequireAndVerify"'),
        ("bcrypt that is not bcrypt", "basic_auth_users:\n  alice: alice123-SENTINEL\n", 2,
         'basic_auth_users: the password hash of "alice" must be a bcrypt hash'),
        ("header not allowed", "http_server_config:\n  headers:\n    Set-Cookie: a=b\n", 3,
         'header "Set-Cookie" cannot be configured'),
    ]

    def test_bad_files_refused_by_config_check(self):
        key_line = open(self.tmp.file("server.key")).read().splitlines()[1]
        for what, text, line, words in self.BAD:
            code, out, err, web = self.check(text)
            assert code == 2 and out == "", (what, code, out, err)
            assert err.startswith("%s:%d: " % (web, line)), (what, err)
            assert (words % self.tmp.path if "%s" in words else words) in err, (what, err)
            assert "SENTINEL" not in err and key_line not in err and "BEGIN" not in err, (what, err)
        code, out, err, _ = self.check(TOOLKIT_USERS)
        assert code == 0 and "ok" in out, (code, out, err)

    def test_bad_files_at_reload_keep_the_running_config(self):
        e = self.start(TOOLKIT_USERS + "http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n",
                       args=["--web.enable-lifecycle"])
        try:
            base, ca = "https://127.0.0.1:%d" % e.port, ["--cacert", self.ca.cert]
            good = ["-u", "dave:dave123"]
            served = xpweb.file_fingerprint(self.tmp.file("server.crt"))
            for i, (what, text, line, words) in enumerate(self.BAD):
                self.tmp.file("web.yml", text)
                if i % 2:  # POST /-/reload: the answer says why, never a secret
                    r = subprocess.run(["curl", "-sS", "-X", "POST", "-u", "dave:dave123", *ca, base + "/-/reload"],
                                       capture_output=True, text=True)
                    assert r.stdout.startswith("reload failed: %s:%d: " % (e.web, line)), (what, r.stdout)
                    assert "SENTINEL" not in r.stdout and "BEGIN" not in r.stdout
                else:
                    before = e.logs().count("reload failed")
                    e.reload()
                    wait_until(lambda: e.logs().count("reload failed") > before, 5, what="reload failed: " + what)
                # Still the old certificate, the old users, the old headers.
                assert curl(base + "/metrics", *ca, *good) == (200, 0), what
                assert curl(base + "/metrics", *ca) == (401, 0), what
                st, peer = xpweb.tls_request(e.port, "/-/healthy", ca=self.ca.cert)
                assert st == 200 and peer == served, what
                assert xpweb.curl_head(base + "/-/healthy", *ca)[1].get("x-frame-options") == "sameorigin", what
            r = subprocess.run(["curl", "-sS", *ca, *good, base + "/metrics"], capture_output=True, text=True)
            assert "resilience_exporter_config_last_reload_successful 0" in r.stdout
            assert "SENTINEL" not in e.logs() and "BEGIN" not in e.logs()
        finally:
            e.stop()

    def scrape_loop(self, port, stop, seen, failures):
        """New TLS connections one after the other until stop: (time, certificate) of each."""
        while not stop.is_set():
            try:
                st, peer = xpweb.tls_request(port, "/-/healthy", ca=self.ca.cert)
                if st != 200:
                    failures.append(st)
                seen.append((time.monotonic(), peer))
            except Exception as ex:  # noqa: BLE001 (every failure counts)
                failures.append(repr(ex))

    def rotate_under_load(self, e, rotate, new_fp, what):
        stop, seen, failures = threading.Event(), [], []
        t = threading.Thread(target=self.scrape_loop, args=(e.port, stop, seen, failures))
        t.start()
        try:
            wait_until(lambda: len(seen) > 20, 10, what="connections before the rotation")
            at = time.monotonic()
            rotate()
            wait_until(lambda: seen and seen[-1][1] == new_fp, 10, what="the new certificate (%s)" % what)
            took = seen[-1][0] - at
            n = len(seen)
            wait_until(lambda: len(seen) > n + 20, 10, what="connections after the rotation")
        finally:
            stop.set()
            t.join()
        after = [fp for ts, fp in seen if ts > at + took]
        xptest.log("%s: new certificate after %.2f s; %d connections, %d failed" % (what, took, len(seen), len(failures)))
        assert not failures, failures[:5]
        assert after and all(fp == new_fp for fp in after), "the old certificate served after the new one"
        return took

    def test_rotation_by_symlink_switch(self):
        """cert-manager in Kubernetes: the secret volume's ..data symlink moves to a new
        directory holding both files at once."""
        for v in ("v1", "v2"):
            os.makedirs(os.path.join(self.tmp.path, "secret", v), exist_ok=True)
            cert, key = self.ca.issue("rot-" + v)
            os.replace(cert, os.path.join(self.tmp.path, "secret", v, "tls.crt"))
            os.replace(key, os.path.join(self.tmp.path, "secret", v, "tls.key"))
        data = os.path.join(self.tmp.path, "secret", "..data")
        os.symlink("v1", data)
        for f in ("tls.crt", "tls.key"):
            os.symlink(os.path.join("..data", f), os.path.join(self.tmp.path, "secret", f))
        e = self.start("tls_server_config:\n  cert_file: secret/tls.crt\n  key_file: secret/tls.key\n")
        try:
            new_fp = xpweb.file_fingerprint(os.path.join(self.tmp.path, "secret", "v2", "tls.crt"))

            def switch():
                tmp_link = data + ".tmp"
                os.symlink("v2", tmp_link)
                os.replace(tmp_link, data)
            took = self.rotate_under_load(e, switch, new_fp, "symlink switch")
            assert took < 5, took
            assert "TLS files changed: new connections use them" in e.logs()
            assert "cannot be loaded" not in e.logs()
        finally:
            e.stop()

    def test_rotation_by_replacing_files_and_a_bad_one(self):
        cert, key = self.ca.issue("plain-1")
        live_cert, live_key = self.tmp.file("live.crt", open(cert).read()), self.tmp.file("live.key", open(key).read())
        e = self.start("tls_server_config:\n  cert_file: live.crt\n  key_file: live.key\n")
        try:
            # A certificate whose key never comes: the old pair stays, the reason is logged.
            lone, _ = self.ca.issue("lone")
            self.tmp.file("live.crt", open(lone).read())
            wait_until(lambda: "cannot be loaded" in e.logs(), 5, what="the refused rotation logged")
            assert "does not go with the certificate" in e.logs()
            st, peer = xpweb.tls_request(e.port, ca=self.ca.cert)
            assert st == 200 and peer == xpweb.file_fingerprint(cert), "the old pair is not served any more"
            self.tmp.file("live.crt", open(cert).read())  # back as it was
            # Now a real rotation, the certificate then the key, as a copy tool writes them.
            new_cert, new_key = self.ca.issue("plain-2")

            def replace():
                self.tmp.file("live.crt", open(new_cert).read())
                time.sleep(0.05)
                self.tmp.file("live.key", open(new_key).read())
            took = self.rotate_under_load(e, replace, xpweb.file_fingerprint(new_cert), "two files replaced")
            assert took < 5, took
            assert "BEGIN" not in e.logs()
        finally:
            e.stop()

    def test_rotation_of_the_main_configs_tls_files(self):
        """[web] tls_cert_file and tls_key_file (no web config file) rotate the same way."""
        cert, key = self.ca.issue("ini-1")
        live_cert, live_key = self.tmp.file("ini.crt", open(cert).read()), self.tmp.file("ini.key", open(key).read())
        e = xptest.Exporter(self.tmp, "[web]\ntls_cert_file = %s\ntls_key_file = %s\n" % (live_cert, live_key)
                            + dep(self.script), binary=xptest.FAKE_BINARY)
        try:
            new_cert, new_key = self.ca.issue("ini-2")

            def replace():
                self.tmp.file("ini.key", open(new_key).read())
                self.tmp.file("ini.crt", open(new_cert).read())
            self.rotate_under_load(e, replace, xpweb.file_fingerprint(new_cert), "[web] files replaced")
            assert "tls_key_file: the key" in e.logs() or "cannot be loaded" not in e.logs()
        finally:
            e.stop()

    def test_rotation_by_reload_to_new_files(self):
        e = self.start(TLS, args=["--web.enable-lifecycle"])
        try:
            new_cert, new_key = self.ca.issue("reloaded")
            self.tmp.file("web.yml", "tls_server_config:\n  cert_file: %s\n  key_file: %s\n" % (new_cert, new_key))
            self.rotate_under_load(e, e.reload, xpweb.file_fingerprint(new_cert), "reload naming new files")
        finally:
            e.stop()

    def client_results(self, port):
        """What each client gets: "ok" or "refused", with Python's ssl and curl alike."""
        out = {}
        for who, pair in (("none", (None, None)), ("good", self.client), ("stranger", self.stranger)):
            py = "refused" if refused(xpweb.tls_request, port, ca=self.ca.cert, cert=pair[0], key=pair[1]) else "ok"
            py12 = "refused" if refused(xpweb.tls_request, port, ca=self.ca.cert, cert=pair[0], key=pair[1],
                                        tls_max=ssl.TLSVersion.TLSv1_2) else "ok"
            args = ["--cacert", self.ca.cert] + (["--cert", pair[0], "--key", pair[1]] if pair[0] else [])
            code, rc = curl("https://127.0.0.1:%d/-/healthy" % port, *args)
            cu = "ok" if code == 200 else "refused"
            assert py == py12 == cu, (who, py, py12, cu, rc)
            out[who] = py
        return out

    def test_client_certificates(self):
        web = TLS + "  client_auth_type: %s\n  client_ca_file: ca.pem\n"
        e = self.start(web % "RequireAndVerifyClientCert", args=["--web.enable-lifecycle"])
        try:
            want = {
                "RequireAndVerifyClientCert": {"none": "refused", "good": "ok", "stranger": "refused"},
                "VerifyClientCertIfGiven": {"none": "ok", "good": "ok", "stranger": "refused"},
                "RequireAnyClientCert": {"none": "refused", "good": "ok", "stranger": "ok"},
                "RequestClientCert": {"none": "ok", "good": "ok", "stranger": "ok"},
            }
            for i, (mode, expect) in enumerate(want.items()):
                if i:  # each policy by reload: a running server takes it for new connections
                    self.tmp.file("web.yml", web % mode)
                    e.reload()
                    wait_until(lambda: self.client_results(e.port) == expect, 10, what=mode)
                got = self.client_results(e.port)
                xptest.log("%s: %s" % (mode, got))
                assert got == expect, (mode, got)
            self.tmp.file("web.yml", TLS)  # NoClientCert: nothing asked, every client served
            e.reload()
            wait_until(lambda: self.client_results(e.port) == {"none": "ok", "good": "ok", "stranger": "ok"}, 10,
                       what="NoClientCert")
            assert "client certificate refused" in e.logs()
        finally:
            e.stop()

    def test_client_ca_rotated_on_disk(self):
        ca_file = self.tmp.file("clients-ca.pem", open(self.ca.cert).read())
        e = self.start(TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.pem\n")
        try:
            assert self.client_results(e.port) == {"none": "refused", "good": "ok", "stranger": "refused"}
            self.tmp.file("clients-ca.pem", open(self.other_ca.cert).read())
            wait_until(lambda: self.client_results(e.port) == {"none": "refused", "good": "refused", "stranger": "ok"},
                       10, what="the other CA trusted")
            assert ca_file in e.logs()
        finally:
            e.stop()

    def test_toolkit_self_signed_client(self):
        """tls_config_noAuth.requireandverifyclientcert.good.yml: the client's self-signed
        certificate is its own CA."""
        cert, key = self.tmp.file("client_selfsigned.pem"), self.tmp.file("client_selfsigned.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        e = self.start(TLS + '  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "client_selfsigned.pem"\n')
        try:
            assert xpweb.tls_request(e.port, ca=self.ca.cert, cert=cert, key=key)[0] == 200
            assert refused(xpweb.tls_request, e.port, ca=self.ca.cert)
            assert refused(xpweb.tls_request, e.port, ca=self.ca.cert, cert=self.client[0], key=self.client[1])
        finally:
            e.stop()

    def test_tls_versions(self):
        e = self.start(TLS + "  min_version: TLS13\n")
        try:
            base = "https://127.0.0.1:%d/-/healthy" % e.port
            assert curl(base, "--cacert", self.ca.cert, "--tlsv1.3") == (200, 0)
            assert curl(base, "--cacert", self.ca.cert, "--tls-max", "1.2")[0] == 0
            self.tmp.file("web.yml", TLS + "  max_version: TLS12\n")
            e.reload()
            wait_until(lambda: curl(base, "--cacert", self.ca.cert, "--tlsv1.3")[0] == 0, 5, what="TLS 1.3 refused")
            assert curl(base, "--cacert", self.ca.cert, "--tls-max", "1.2") == (200, 0)
            assert curl(base, "--cacert", self.ca.cert, "--tls-max", "1.1")[0] == 0  # default floor TLS12
        finally:
            e.stop()

    def node_exporter_verdict(self, web):
        """node_exporter with this web config: "ok" when it serves, "refused" when it exits."""
        port = xptest.free_port()
        p = xptest.Proc([NODE_EXPORTER, "--web.config.file=" + web, "--web.listen-address=127.0.0.1:%d" % port,
                         "--collector.disable-defaults"], self.tmp.file("node-exporter.log"))
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if p.poll() is not None:
                    return "refused"
                if xptest.listening(port):
                    # It reads the file on each request: a bad file shows as 500 there. It
                    # also listens before it reads the file and exits on some bad files after:
                    # only an HTTP answer counts as serving, no answer is asked again.
                    code, _ = curl("https://127.0.0.1:%d/metrics" % port, "-k")
                    code2, _ = curl("http://127.0.0.1:%d/metrics" % port)
                    if 500 in (code, code2):
                        return "refused"
                    if code or code2:
                        return "ok"
                time.sleep(0.05)
            return "timeout"
        finally:
            p.stop()

    def test_same_verdict_as_node_exporter(self):
        """The files that use only the keys supported here get the same verdict from the real
        node_exporter (Debian's 1.5.0) and from this exporter."""
        if not os.access(NODE_EXPORTER, os.X_OK):
            xptest.log("skipped: no %s" % NODE_EXPORTER)
            return
        files = {
            "web_config_users.good.yml": TOOLKIT_USERS,
            "web_config_users_noTLS.good.yml": TOOLKIT_USERS.split("basic_auth_users:")[0].replace(TLS, "")
            + "basic_auth_users:" + TOOLKIT_USERS.split("basic_auth_users:")[1],
            "web_config_headers.good.yml": TOOLKIT_HEADERS,
            "web_config_empty.yml": "",
            "web_config_noAuth.good.yml": TLS + '  client_auth_type: "VerifyClientCertIfGiven"\n',
            "requireandverifyclientcert": TLS + '  client_auth_type: "RequireAndVerifyClientCert"\n'
                                                '  client_ca_file: "ca.pem"\n',
            "web_config_junk_key.yml": 'tls_server_config:\n  cert_filse: "server.crt"\n',
            "web_config_noAuth.bad.yml": TLS + '  client_ca_file: "ca.pem"\n',
            "web_config_auth_user_list_invalid.bad.yml": TLS + "basic_auth_users:\n  john: doe\n",
            "web_config_headers_extra_header.bad.yml": "http_server_config:\n  headers:\n    Content-Type: foo\n",
            "web_config_headers_frame_options.bad.yml": "http_server_config:\n  headers:\n    X-Frame-Options: foo\n",
            "web_config_noAuth_wrongTLSVersion.bad.yml": TLS + "  min_version: TLS111\n",
            "web_config_noAuth_certPath_invalid.bad.yml": 'tls_server_config:\n  cert_file: "somefile"\n'
                                                          '  key_file: "server.key"\n',
            "bad client_auth_type": TLS + "  client_auth_type: Sometimes\n",
            "malformed": "tls_server_config: [\n",
        }
        differ = []
        for name, text in files.items():
            code, out, err, web = self.check(text, name="ne-%d.yml" % len(differ))
            ours = "ok" if code == 0 else "refused"
            theirs = self.node_exporter_verdict(web)
            xptest.log("%-45s node_exporter %-8s here %s" % (name, theirs, ours))
            if ours != theirs:
                differ.append((name, theirs, ours, err))
        assert not differ, differ
        # And a good file serves the same: the same users pass and fail on both.
        web = self.tmp.file("ne-users.yml", TOOLKIT_USERS)
        port = xptest.free_port()
        p = xptest.Proc([NODE_EXPORTER, "--web.config.file=" + web, "--web.listen-address=127.0.0.1:%d" % port,
                         "--collector.disable-defaults"], self.tmp.file("node-exporter.log"))
        e = self.start(TOOLKIT_USERS, name="ne-users-ours.yml")
        try:
            xptest.wait_listen(port, proc=p)
            for cred, want in (("carol:carol123", 200), ("carol:wrong", 401), (None, 401)):
                for q in (port, e.port):
                    args = ["--cacert", self.ca.cert] + (["-u", cred] if cred else [])
                    assert curl("https://127.0.0.1:%d/metrics" % q, *args) == (want, 0), (q, cred)
        finally:
            p.stop()
            e.stop()


if __name__ == "__main__":
    WebToolkitTest().run()
