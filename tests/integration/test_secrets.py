"""No secret anywhere: every secret the exporter can hold gets a distinctive value, the real
binary runs at --log.level=debug through success and every failure path (wrong passwords and
keys, refused connections, 401s, breakers opening, reloads good and bad, config errors), and
none of the values appears in /metrics, /health, the landing page, a reload answer, the
--config.check output or the logs. URLs with user:password@ lose their userinfo in the target
label and in error texts; a dsn carrying a password is refused without quoting it."""
import base64
import json
import signal
import subprocess

import srv_openai
import srv_postgres
import srv_redis
import srv_s3
import xptest
from xptest import wait_until

S = {
    "pg": "pgpw-SENTINEL-1a7f",
    "pg_wrong": "pgwrong-SENTINEL-2b8e",
    "pg_uri": "pguri-SENTINEL-3c9d",
    "redis": "rdpw-SENTINEL-4dae",
    "redis_wrong": "rdwrong-SENTINEL-5ebf",
    "s3_key": "S3KEYSENTINEL6FC0",
    "s3_secret": "s3secret-SENTINEL-7ad1",
    "s3_secret_wrong": "s3wrong-SENTINEL-8be2",
    "s3_url_user": "s3urluser-SENTINEL-9cf3",
    "s3_url_pass": "s3urlpass-SENTINEL-ad04",
    "ai_key": "sk-aikey-SENTINEL-be15",
    "ai_key_wrong": "sk-aiwrong-SENTINEL-cf26",
    "ai_url_pass": "aiurlpass-SENTINEL-d037",
    "web": "webpw-SENTINEL-e148",
    "typo": "typo-SENTINEL-f259",
}


def closed_port():
    return xptest.free_port()  # nothing listens there: connection refused


class SecretsTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("secrets")

    def teardown_all(self):
        self.tmp.cleanup()

    def assert_clean(self, where, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        leaked = [k for k, v in S.items() if v in text or v.lower() in text.lower()]
        assert not leaked, "%s leaks %s: ...%s..." % (where, leaked, text[max(0, text.find(S[leaked[0]]) - 200):][:400])

    def test_no_secret_on_any_path(self):
        tmp = self.tmp
        pg = srv_postgres.Postgres(tmp.path, role="app", password=S["pg"])
        rd = srv_redis.Redis(tmp.path, password=S["redis"])
        servers = []
        try:
            pg.start()
            rd.start()
            s3 = srv_s3.S3Server(tmp, key=S["s3_key"], secret=S["s3_secret"])
            servers.append(s3)
            ai = srv_openai.OpenAIServer(tmp, key=S["ai_key"])
            servers.append(ai)
            h = subprocess.run(["htpasswd", "-nbBC", "10", "prometheus", S["web"]], capture_output=True, text=True,
                               check=True).stdout.strip().split(":", 1)[1]
            pw_file = tmp.file("redis.pw", S["redis"] + "\n", mode=0o600)
            s3_port, ai_port = s3.port, ai.port
            refused = closed_port()

            def section(name, collector, **kw):
                kw.setdefault("interval", "500ms")
                kw.setdefault("timeout", "400ms")
                kw.setdefault("failure_threshold", "2")
                kw.setdefault("recovery_timeout", "600ms")
                return "[dependency.%s]\ncollector = %s\n%s\n" % (name, collector, "".join("%s = %s\n" % kv for kv in kw.items()))

            cfg = (
                "[web]\nbasic_auth_user = prometheus\nbasic_auth_password_hash = %s\n\n" % h +
                section("pg_ok", "postgres", dsn=pg.dsn(), password=S["pg"]) +
                section("pg_wrong", "postgres", dsn=pg.dsn(), password=S["pg_wrong"]) +
                section("pg_refused", "postgres", dsn="host=127.0.0.1 port=%d user=app dbname=x" % refused, password=S["pg"]) +
                section("redis_ok", "redis", address=rd.address(), password_file=pw_file) +
                section("redis_wrong", "redis", address=rd.address(), password=S["redis_wrong"]) +
                section("redis_acl", "redis", address=rd.address(), username="nobody", password=S["redis"]) +
                section("redis_refused", "redis", address="127.0.0.1:%d" % refused, password=S["redis"]) +
                section("s3_ok", "s3", endpoint=s3.endpoint, bucket="probe-bucket", access_key_id=S["s3_key"],
                        secret_access_key=S["s3_secret"]) +
                section("s3_wrong", "s3", endpoint=s3.endpoint, bucket="probe-bucket", access_key_id=S["s3_key"],
                        secret_access_key=S["s3_secret_wrong"]) +
                section("s3_userinfo", "s3", endpoint="http://%s:%s@127.0.0.1:%d" % (S["s3_url_user"], S["s3_url_pass"], s3_port),
                        bucket="probe-bucket", access_key_id=S["s3_key"], secret_access_key=S["s3_secret_wrong"]) +
                section("s3_refused", "s3", endpoint="http://%s:%s@127.0.0.1:%d" % (S["s3_url_user"], S["s3_url_pass"], refused),
                        bucket="probe-bucket", access_key_id=S["s3_key"], secret_access_key=S["s3_secret"]) +
                section("ai_ok", "openai", base_url=ai.base_url, api_key=S["ai_key"], model="gpt-4o") +
                section("ai_wrong", "openai", base_url=ai.base_url, api_key=S["ai_key_wrong"]) +
                section("ai_userinfo", "openai", base_url="http://user:%s@127.0.0.1:%d/v1?key=%s" % (S["ai_url_pass"], ai_port, S["ai_key"]),
                        api_key=S["ai_key_wrong"]) +
                section("ai_refused", "openai", base_url="http://u:%s@127.0.0.1:%d/v1" % (S["ai_url_pass"], refused), api_key=S["ai_key"])
            )
            e = xptest.Exporter(tmp, cfg, extra_args=["--log.level=debug", "--web.enable-lifecycle"])
            try:
                auth = {"Authorization": "Basic " + base64.b64encode(("prometheus:" + S["web"]).encode()).decode()}
                bad_auth = {"Authorization": "Basic " + base64.b64encode(("prometheus:" + S["pg"]).encode()).decode()}
                wait_until(lambda: e.get("/-/ready", headers=auth)[0] == 200, 20, what="ready")
                expect_ok = {"pg_ok", "redis_ok", "s3_ok", "ai_ok"}
                scrape = lambda: xptest.parse_metrics(e.get("/metrics", headers=auth)[2].decode())

                def every_path_taken():
                    """Failures piled up, breakers opened, went half-open and reopened; the
                    good ones probe fine. Returns /health's body then."""
                    m, health = scrape(), e.get("/health", headers=auth)[2]
                    deps = json.loads(health)["dependencies"]
                    for name, d in deps.items():
                        if name in expect_ok and not d["last_probe"]["success"]:
                            return None
                        if name not in expect_ok and not xptest.transitions(m, name, "half_open", "open"):
                            return None
                    return health
                health = wait_until(every_path_taken, 30, what="every breaker to open and reopen")
                deps = json.loads(health)["dependencies"]
                for name, d in deps.items():
                    assert (d["last_probe"]["success"] is True) == (name in expect_ok), (name, d)
                    if name not in expect_ok:
                        assert d["last_error"]["message"], (name, d)
                texts = {
                    "/metrics": e.get("/metrics", headers=auth)[2],
                    "/health": health,
                    "/": e.get("/", headers=auth)[2],
                    "/metrics 401": e.get("/metrics", headers=bad_auth)[2],
                }
                m = xptest.parse_metrics(texts["/metrics"].decode())
                targets = {dict(k[1])["dependency"]: dict(k[1])["target"] for k in m if k[0] == "dependency_info"}
                assert targets["s3_userinfo"] == "http://127.0.0.1:%d" % s3_port or \
                    targets["s3_userinfo"].startswith("http://127.0.0.1:%d" % s3_port), targets["s3_userinfo"]
                assert "@" not in targets["s3_userinfo"] and "@" not in targets["ai_userinfo"], targets
                assert "?" not in targets["ai_userinfo"], targets["ai_userinfo"]
                xptest.log("errors: " + "; ".join("%s: %s" % (n, d["last_error"]["message"]) for n, d in sorted(deps.items())
                                                  if d["last_error"]))
                # Reloads: one good (with a changed secret), one bad that carries secrets in its
                # broken lines, one with a dsn holding a password.
                e.write_config(cfg.replace(S["redis_wrong"], S["redis_wrong"] + "x"))
                e.proc.signal(signal.SIGHUP)
                wait_until(lambda: 'msg="config reloaded"' in e.logs(), 10, what="the SIGHUP reload")
                bad_cfgs = [
                    cfg + "[dependency.t]\ncollector = redis\naddress = 127.0.0.1:1\npasswrd = %s\n" % S["typo"],
                    cfg + "[dependency.t]\ncollector = redis\naddress = 127.0.0.1:1\npassword = %s\npassword_file = %s\n" % (S["typo"], pw_file),
                    cfg + "[dependency.t]\ncollector = postgres\ndsn = postgresql://app:%s@127.0.0.1:%d/postgres\n" % (S["pg_uri"], pg.port),
                    cfg + "[dependency.t]\ncollector = postgres\ndsn = host=127.0.0.1 password=%s\n" % S["pg_uri"],
                    cfg + "[dependency.t]\ncollector = openai\napi_key = %s\nbase_url = ftp://x:%s@h/\n" % (S["typo"], S["ai_url_pass"]),
                    cfg + "[dependency.t]\ncollector = s3\nendpoint = http://a:%s@h:1\nbucket = b\naccess_key_id = %s\n" % (S["s3_url_pass"], S["typo"]),
                    cfg + "[web]\nbasic_auth_user = x\nbasic_auth_password_hash = %s\n" % S["typo"],
                ]
                for i, bad in enumerate(bad_cfgs):
                    e.write_config(bad)
                    status, _, body = e.get("/-/reload", method="POST", data=b"", headers=auth)
                    assert status == 500, (i, status, body)
                    self.assert_clean("reload answer %d" % i, body)
                    p = tmp.file("check-%d.ini" % i, bad)
                    r = subprocess.run([xptest.BINARY, "--config.check", "--config.file=" + p], capture_output=True)
                    assert r.returncode == 2, (i, r)
                    self.assert_clean("--config.check %d" % i, r.stdout + r.stderr)
                e.write_config(cfg)
                assert e.get("/-/reload", method="POST", data=b"", headers=auth)[0] == 200
                # Probes under the reloaded config have run, failures included.
                failures = lambda: xptest.calls(scrape(), "redis_wrong", "failure") or 0
                done = failures() + 2
                wait_until(lambda: failures() >= done, 15, what="probes after the last reload")
                texts["/metrics after reloads"] = e.get("/metrics", headers=auth)[2]
                texts["/health after reloads"] = e.get("/health", headers=auth)[2]
                texts["/ after reloads"] = e.get("/", headers=auth)[2]
                for where, t in texts.items():
                    self.assert_clean(where, t)
                logs = e.logs()
                assert "level=debug" in logs and "probe failed" in logs and "breaker opened" in logs
                self.assert_clean("logs", logs)
            finally:
                e.stop()
                self.assert_clean("final logs", e.logs())
        finally:
            for s in servers:
                s.stop()
            rd.stop()
            rd.cleanup()
            pg.stop()
            pg.cleanup()


if __name__ == "__main__":
    SecretsTest().run()
