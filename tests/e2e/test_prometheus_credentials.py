"""A real Prometheus (Debian's 2.42) scraping the exporter through its front door (issue 11
items 1, 3 and 4): HTTPS with a client certificate (client_auth_type
RequireAndVerifyClientCert), and credentials either as an API key read from a file
(`authorization: {type: Bearer, credentials_file: ...}`) or as basic auth with a
password_file. Jobs with a wrong key, without any credentials and without a client
certificate must show the target down with the reason; the others up, with samples stored.
"""
import json
import os
import urllib.parse

import xptest
import xpweb
from xptest import wait_until

KEY = "e2e-SENTINEL-api-key-4b1d"
USER, PASSWORD = "prometheus", "e2e-SENTINEL-pw-93e0"


class PrometheusCredentials(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("prometheus-credentials")
        self.exp = self.prom = None

    def teardown_all(self):
        for p in (self.prom, self.exp):
            if p is not None:
                p.stop()
        self.tmp.cleanup()

    def start(self):
        t = self.tmp
        ca = xpweb.Pki(t, "ca")
        server = ca.issue("server")
        client = ca.issue("prometheus-client", server=False)
        script = t.file("ok", "ok\n")
        key_hash = t.file("api.hash", xpweb.bcrypt_hash("", KEY) + "\n", mode=0o600)
        web = t.file("web.yml", xpweb.web_yaml(cert=server[0], key=server[1], client_auth="RequireAndVerifyClientCert",
                                               client_ca=ca.cert, users={USER: xpweb.bcrypt_hash(USER, PASSWORD)}))
        self.exp = xptest.Exporter(t, "[web]\napi_key_hash_file = %s\n[dependency.a]\ncollector = fake\nscript = %s\n"
                                      "interval = 1s\ntimeout = 500ms\n" % (key_hash, script),
                                   binary=xptest.FAKE_BINARY, extra_args=["--web.config.file=" + web])
        t.file("key", KEY + "\n", mode=0o600)
        t.file("wrong-key", "not-the-key\n", mode=0o600)
        t.file("password", PASSWORD + "\n", mode=0o600)
        target = {"targets": ["127.0.0.1:%d" % self.exp.port]}
        tls = {"ca_file": ca.cert, "cert_file": client[0], "key_file": client[1], "server_name": "localhost"}

        def job(name, **kw):
            j = {"job_name": name, "scheme": "https", "scrape_interval": "1s", "scrape_timeout": "900ms",
                 "tls_config": dict(tls), "static_configs": [target]}
            j.update(kw)
            return j
        no_cert = {k: v for k, v in tls.items() if k in ("ca_file", "server_name")}
        cfg = {"global": {"scrape_interval": "1s"}, "scrape_configs": [
            job("api_key", authorization={"type": "Bearer", "credentials_file": t.path + "/key"}),
            job("basic_auth", basic_auth={"username": USER, "password_file": t.path + "/password"}),
            job("wrong_key", authorization={"type": "Bearer", "credentials_file": t.path + "/wrong-key"}),
            job("no_credentials"),
            job("no_client_cert", tls_config=no_cert,
                authorization={"type": "Bearer", "credentials_file": t.path + "/key"}),
        ]}
        path = t.file("prometheus.yml", json.dumps(cfg))  # JSON is YAML
        port = xptest.free_port()
        self.prom = xptest.Proc(["prometheus", "--config.file=" + path, "--storage.tsdb.path=" + t.path + "/tsdb",
                                 "--web.listen-address=127.0.0.1:%d" % port], t.file("prometheus.log"))
        xptest.wait_listen(port, timeout=60, proc=self.prom)
        self.prom_url = "http://127.0.0.1:%d" % port

    def api(self, path, **params):
        status, _, body = xptest.http(self.prom_url + path + ("?" + urllib.parse.urlencode(params) if params else ""))
        assert status == 200, (status, body[:300])
        return json.loads(body)["data"]

    def test_scrapes_by_job(self):
        self.start()
        want = {"api_key": "up", "basic_auth": "up", "wrong_key": "down", "no_credentials": "down",
                "no_client_cert": "down"}

        def targets():
            got = {t["labels"]["job"]: t for t in self.api("/api/v1/targets")["activeTargets"]}
            return got if all(got.get(j, {}).get("health") == h for j, h in want.items()) else None
        got = wait_until(targets, 30, interval=0.5, what="every job scraped once")
        for j in want:
            xptest.log("%-15s %-5s %s" % (j, got[j]["health"], got[j]["lastError"]))
        assert "401" in got["wrong_key"]["lastError"] and "401" in got["no_credentials"]["lastError"], got
        assert got["no_client_cert"]["lastError"], got["no_client_cert"]
        # Samples stored for the two jobs that got in.
        for j in ("api_key", "basic_auth"):
            r = self.api("/api/v1/query", query='resilience_exporter_build_info{job="%s"}' % j)["result"]
            assert r and r[0]["value"][1] == "1", (j, r)
        logs = self.exp.logs()
        assert "SENTINEL" not in logs and "not-the-key" not in logs


if __name__ == "__main__":
    PrometheusCredentials().run()
