"""OFREP (SPEC section 7) through the official OpenFeature clients from npm: the server SDK
(@openfeature/server-sdk) with @openfeature/ofrep-provider, and the web SDK with
@openfeature/ofrep-web-provider (bulk evaluation, polled with If-None-Match), driven by
tests/ofrep/ofrep_client.js.

The exporter runs the shipped staging config's 16 features on four real backends
(PostgreSQL, Redis, s3rver behind the LocalStack stand-in, mock-llm), with short intervals.
Redis is stopped and started again: getBooleanValue and getBooleanDetails of every feature
must follow /health (value, reason, variant, metadata: level and what blocks it), the web
provider must see the change on its next poll and otherwise get 304s. A second exporter with
basic auth checks credentials through the SDK's `headers` option (API keys are the front
door's, issue 11; OFREP's Bearer and X-API-Key schemes arrive with them).

Raw HTTP checks the protocol's edges the SDKs do not reach: error shapes, 400 on a bad body,
405, 413, the ETag and 304 of the bulk call, the configuration endpoint."""
import base64
import json
import os
import re
import shutil
import subprocess
import time

import xptest
import xpweb
from srv_openai import OpenAIServer
from srv_postgres import Postgres
from srv_redis import Redis
from srv_s3 import LocalStackStandIn, S3Server

NODE = shutil.which("node") or "/usr/bin/node"
CLIENT = os.path.join(xptest.SOURCE_DIR, "tests", "ofrep", "ofrep_client.js")

# What opening Redis does to the shipped features (degraded level; the what-if of
# tests/unit/test_whatif.c): feature -> blocked_by.
REDIS_DOWN_OFF = {
    "realtime_updates": "redis", "redis_cache": "redis", "session_storage": "redis",
    "rate_limiting": "redis", "realtime_inventory": "redis",
    "s3_uploads": "level", "image_processing": "level", "backup_operations": "level",
}
STATIC = {"read_only_access", "minimal_access"}


def shipped_config(interval="1s"):
    """The shipped config with every dependency probed each second: the same features and
    weights, a Redis breaker that opens after 2 failures and tries again after 2 s."""
    with open(os.path.join(xptest.SOURCE_DIR, "etc", "resilience_exporter.ini")) as f:
        text = f.read()
    text = re.sub(r"(?m)^interval = .*$", "interval = " + interval, text)
    text = re.sub(r"(?m)^timeout = .*$", "timeout = 800ms", text)
    text = re.sub(r"(?m)^latency_budget = .*$", "latency_budget = 500ms", text)
    redis = text.index("[dependency.redis]")
    end = text.index("[dependency.s3]")
    section = text[redis:end]
    section = re.sub(r"(?m)^failure_threshold = .*$", "failure_threshold = 2", section)
    section = re.sub(r"(?m)^recovery_timeout = .*$", "recovery_timeout = 2s", section)
    section = re.sub(r"(?m)^half_open_requests = .*$", "half_open_requests = 1", section)
    return text[:redis] + section + text[end:]


class Client:
    """tests/ofrep/ofrep_client.js: one JSON request, one JSON answer."""

    def __init__(self, tmp):
        self.log = open(tmp.file("ofrep-client.log"), "wb")
        self.p = subprocess.Popen([NODE, CLIENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.log, cwd=os.path.dirname(CLIENT))

    def ask(self, **msg):
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line, "the node client died: see ofrep-client.log"
        answer = json.loads(line)
        assert "exception" not in answer, answer["exception"]
        return answer

    def close(self):
        try:
            self.ask(op="close")
            self.p.stdin.close()
            self.p.wait(10)
        except Exception:
            self.p.kill()
            self.p.wait()
        self.log.close()


class OfrepTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("ofrep")
        self.started = []
        self.exp = None
        self.auth_exp = None
        self.clients = []
        self.secrets = {}

    def teardown_all(self):
        for c in self.clients:
            c.close()
        for e in (self.exp, self.auth_exp):
            if e:
                e.stop()
        for s in reversed(self.started):
            try:
                s.stop()
            except Exception as e:
                xptest.log("teardown: %r" % e)
            if hasattr(s, "cleanup"):
                s.cleanup()
        self.tmp.cleanup()

    def stack(self):
        """The four backends and an exporter on the shipped features (once per run)."""
        if self.exp:
            return self.exp
        assert os.path.exists(os.path.join(xptest.SOURCE_DIR, "node_modules", "@openfeature", "ofrep-provider")), \
            "npm packages missing: run npm install (tests/install-deps.sh)"
        db_pw, redis_pw, aws_secret, api_key = "pg-ofrep-pw", "rd-ofrep-pw", "s3-ofrep-secret", "sk-ofrep-key"
        self.pg = Postgres(self.tmp.path, role="app", password=db_pw)
        self.pg.start()
        self.started.append(self.pg)
        self.redis = Redis(self.tmp.path, password=redis_pw)
        self.redis.start()
        self.started.append(self.redis)
        s3 = S3Server(self.tmp, buckets=("resilience-staging",), key="ofrep", secret=aws_secret)
        self.started.append(s3)
        standin = LocalStackStandIn(self.tmp, s3.port, "running")
        self.started.append(standin)
        llm = OpenAIServer(self.tmp, api_key)
        self.started.append(llm)
        self.env = dict(STAGING_DB_HOST="127.0.0.1", STAGING_DB_PORT=str(self.pg.port), STAGING_DB_NAME="postgres",
                        STAGING_DB_USER="app", STAGING_DB_PASSWORD=db_pw,
                        REDIS_HOST="127.0.0.1", REDIS_PORT=str(self.redis.port), REDIS_PASSWORD=redis_pw,
                        S3_ENDPOINT=standin.endpoint, S3_BUCKET="resilience-staging",
                        AWS_ACCESS_KEY_ID="ofrep", AWS_SECRET_ACCESS_KEY=aws_secret,
                        OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY=api_key)
        self.exp = xptest.Exporter(self.tmp, shipped_config(), env=self.env)
        self.wait_all_closed(self.exp)
        return self.exp

    def wait_all_closed(self, exp):
        return exp.wait_health(lambda h: h["ready"] and h["status"] == "optimal" and
                               all(d["state"] == "closed" for d in h["dependencies"].values()),
                               40, "every breaker CLOSED, level optimal")

    def client(self):
        c = Client(self.tmp)
        self.clients.append(c)
        return c

    def check_server_sdk(self, c, health, context):
        """Every feature through getBooleanValue and getBooleanDetails against /health."""
        assert len(health["features"]) == 16
        for name, on in health["features"].items():
            # The default is the opposite of the answer: a value that fell back to it shows.
            a = c.ask(op="server_bool", flag=name, default=not on, context=context)
            d = a["details"]
            assert a["value"] is on and d["value"] is on, (name, on, a)
            assert "errorCode" not in d, (name, d)
            assert d["variant"] == ("on" if on else "off"), (name, d)
            assert d["reason"] == ("STATIC" if name in STATIC else "TARGETING_MATCH"), (name, d)
            m = d["flagMetadata"]
            assert m["degradation_level"] == health["degradation_level"], (name, m)
            assert m["status"] == health["status"], (name, m)
            want = "" if on else REDIS_DOWN_OFF.get(name, "?")
            assert m["blocked_by"] == want, (name, m, want)

    def test_server_sdk_follows_redis_down_and_back(self):
        exp = self.stack()
        c = self.client()
        assert c.ask(op="server_init", base=exp.base)["provider"] == "OpenFeature Remote Evaluation Protocol Server"
        h = exp.health()
        assert all(h["features"].values()), h["features"]
        self.check_server_sdk(c, h, {"targetingKey": "user-1", "plan": "premium"})
        # An unknown flag: the SDK's FLAG_NOT_FOUND, and the caller's default.
        a = c.ask(op="server_bool", flag="no_such_feature", default=True)
        assert a["value"] is True and a["details"]["errorCode"] == "FLAG_NOT_FOUND", a
        assert a["details"]["reason"] == "ERROR", a

        self.redis.stop()
        h = exp.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "open", 20, "the redis breaker OPEN")
        assert h["status"] == "degraded", h["status"]
        off = {n for n, on in h["features"].items() if not on}
        assert off == set(REDIS_DOWN_OFF), off
        # The context does not change the answer: two users, two contexts, the same flags.
        self.check_server_sdk(c, h, {"targetingKey": "user-1", "plan": "premium"})
        self.check_server_sdk(c, h, {"targetingKey": "other", "country": "CA", "beta": True})

        self.redis.start()
        h = self.wait_all_closed(exp)
        self.check_server_sdk(c, h, {"targetingKey": "user-1"})

    def test_web_provider_polls_with_etag(self):
        exp = self.stack()
        self.wait_all_closed(exp)
        c = self.client()
        assert c.ask(op="web_init", base=exp.base, pollInterval=500)["provider"] == \
            "OpenFeature Remote Evaluation Protocol Web Provider"
        d = c.ask(op="web_bool", flag="realtime_updates", default=False)["details"]
        assert d["value"] is True and d["variant"] == "on", d

        def count(code):
            return xptest.sample(exp.metrics(), "resilience_exporter_http_requests_total",
                                 handler="/ofrep/v1/evaluate/flags", code=code) or 0
        # Nothing changes: each poll sends the ETag it got and is answered 304.
        before = count("304")
        xptest.wait_until(lambda: count("304") >= before + 3, 15, interval=0.2, what="three 304 polls")
        assert c.ask(op="web_changes")["changes"] == []

        # Counted before the change: the changed poll may come before the test sees OPEN.
        ok_before = count("200")
        self.redis.stop()
        exp.wait_health(lambda h: h["dependencies"]["redis"]["state"] == "open", 20, "the redis breaker OPEN")
        changes = xptest.wait_until(lambda: c.ask(op="web_changes")["changes"], 10, interval=0.2,
                                    what="the web provider's ConfigurationChanged")
        # (/metrics is rendered at most once a second: the count may lag that much.)
        xptest.wait_until(lambda: count("200") > ok_before, 5, interval=0.2, what="the 200 of the changed poll")
        # The flags whose evaluation changed: the eight switched off, and the ones whose
        # metadata says the new level.
        changed = set(changes[0]["flagsChanged"])
        assert set(REDIS_DOWN_OFF) <= changed, changed
        for name, why in REDIS_DOWN_OFF.items():
            d = c.ask(op="web_bool", flag=name, default=True)["details"]
            assert d["value"] is False and d["variant"] == "off", (name, d)
            assert d["flagMetadata"]["blocked_by"] == why, (name, d)
        d = c.ask(op="web_bool", flag="inventory_management", default=False)["details"]
        assert d["value"] is True and d["flagMetadata"]["status"] == "degraded", d

        self.redis.start()
        self.wait_all_closed(exp)
        xptest.wait_until(lambda: c.ask(op="web_bool", flag="realtime_updates", default=False)["details"]["value"],
                          10, interval=0.2, what="the web provider to see redis back")

    def test_auth_through_the_sdk_headers(self):
        self.stack()
        password = "ofrep-basic-pw"
        cfg = shipped_config() + "\n[web]\nbasic_auth_user = app\nbasic_auth_password_hash = %s\n" % \
            xpweb.bcrypt_hash("app", password)
        self.auth_exp = e = xptest.Exporter(self.tmp, cfg, env=self.env, name="auth")
        header = ["Authorization", "Basic " + base64.b64encode(("app:" + password).encode()).decode()]
        xptest.wait_until(lambda: xptest.http(e.base + "/-/ready", headers={header[0]: header[1]})[0] == 200, 30,
                          what="the first probes")
        without = self.client()
        without.ask(op="server_init", base=e.base)
        a = without.ask(op="server_bool", flag="realtime_updates", default=False)
        assert a["value"] is False and a["details"]["reason"] == "ERROR", a
        assert a["details"].get("errorCode") == "GENERAL", a
        wrong = self.client()
        wrong.ask(op="server_init", base=e.base, headers=[["Authorization", "Basic " +
                                                            base64.b64encode(b"app:nope").decode()]])
        assert wrong.ask(op="server_bool", flag="realtime_updates", default=False)["details"]["reason"] == "ERROR"
        good = self.client()
        good.ask(op="server_init", base=e.base, headers=[header])
        a = good.ask(op="server_bool", flag="realtime_updates", default=False)
        assert a["value"] is True and a["details"]["reason"] == "TARGETING_MATCH", a
        # Every OFREP path needs the credentials, as every other path.
        for method, path in (("POST", "/ofrep/v1/evaluate/flags/realtime_updates"), ("POST", "/ofrep/v1/evaluate/flags"),
                             ("GET", "/ofrep/v1/configuration")):
            st, _, _ = xptest.http(e.base + path, method=method, data=b"{}" if method == "POST" else None,
                                   headers={"Content-Type": "application/json"})
            assert st == 401, (path, st)
            st, _, _ = xptest.http(e.base + path, method=method, data=b"{}" if method == "POST" else None,
                                   headers={"Content-Type": "application/json", header[0]: header[1]})
            assert st == 200, (path, st)

    def post(self, path, body, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        st, hd, b = xptest.http(self.exp.base + path, method="POST", data=body, headers=h)
        return st, hd, b

    def test_protocol_edges_by_hand(self):
        exp = self.stack()
        self.wait_all_closed(exp)
        before = exp.metrics_text()
        # An unknown flag: 404 with the OFREP error shape.
        st, hd, b = self.post("/ofrep/v1/evaluate/flags/nope", b'{"context":{}}')
        assert st == 404 and hd["Content-Type"].startswith("application/json"), (st, hd)
        doc = json.loads(b)
        assert doc["key"] == "nope" and doc["errorCode"] == "FLAG_NOT_FOUND" and doc["errorDetails"], doc
        # Malformed bodies: 400, PARSE_ERROR or INVALID_CONTEXT, never a crash or a 500.
        for body, code in ((b"", "PARSE_ERROR"), (b"{", "PARSE_ERROR"), (b"[1,2]", "PARSE_ERROR"),
                           (b'"text"', "PARSE_ERROR"), (b'{"context": 5}', "INVALID_CONTEXT"),
                           (b'{"context": "x"}', "INVALID_CONTEXT"), (b"\xff\xfe{}", "PARSE_ERROR")):
            for path in ("/ofrep/v1/evaluate/flags/redis_cache", "/ofrep/v1/evaluate/flags"):
                st, hd, b = self.post(path, body)
                assert st == 400 and hd["Content-Type"].startswith("application/json"), (path, body, st, b)
                doc = json.loads(b)
                assert doc["errorCode"] == code and doc["errorDetails"], (path, body, doc)
                assert ("key" in doc) == path.endswith("redis_cache"), doc
        # Too big: read whole, refused with 413.
        st, hd, b = self.post("/ofrep/v1/evaluate/flags", b'{"context":{"x":"' + b"a" * 70000 + b'"}}')
        assert st == 413 and json.loads(b)["errorCode"] == "PARSE_ERROR", (st, b)
        # A context that is there or not, null or rich: the same answer.
        answers = set()
        for body in (b"{}", b'{"context": null}', b'{"context": {"targetingKey": "a"}}',
                     b'{"context": {"targetingKey": "b", "nested": {"deep": [1, 2]}}, "extra": 1}'):
            st, hd, b = self.post("/ofrep/v1/evaluate/flags/redis_cache", body)
            assert st == 200 and hd["Content-Type"] == "application/json; charset=utf-8", (st, hd)
            answers.add(b)
        assert len(answers) == 1, answers
        doc = json.loads(answers.pop())
        assert doc == {"key": "redis_cache", "value": True, "reason": "TARGETING_MATCH", "variant": "on",
                       "metadata": {"degradation_level": 0, "status": "optimal", "blocked_by": ""}}, doc
        # Metadata values are primitives only (what the SDKs keep).
        st, hd, b = self.post("/ofrep/v1/evaluate/flags", b'{"context":{"targetingKey":"x"}}')
        assert st == 200, st
        bulk = json.loads(b)
        assert [f["key"] for f in bulk["flags"]] == list(exp.health()["features"]), bulk
        for f in bulk["flags"]:
            assert all(isinstance(v, (bool, int, float, str)) for v in f["metadata"].values()), f
        # The bulk ETag: 304 for it, weak or strong, alone or in a list; 200 for another.
        tag = hd["ETag"]
        assert re.fullmatch(r'W/"[0-9a-f]{16}"', tag), tag
        for inm in (tag, tag[2:], '"other", ' + tag, "*"):
            st, hd2, b2 = self.post("/ofrep/v1/evaluate/flags", b"{}", {"If-None-Match": inm})
            assert st == 304 and b2 == b"" and hd2["ETag"] == tag, (inm, st, hd2)
        st, _, _ = self.post("/ofrep/v1/evaluate/flags", b"{}", {"If-None-Match": 'W/"0000000000000000"'})
        assert st == 200
        # The same tag as /health's: one notion of "what changed".
        assert xptest.http(exp.base + "/health")[1]["ETag"] == tag
        # Methods: GET on an evaluation, POST on the configuration: 405 with Allow, JSON.
        for method, path, allow in (("GET", "/ofrep/v1/evaluate/flags/redis_cache", "POST"),
                                    ("GET", "/ofrep/v1/evaluate/flags", "POST"),
                                    ("POST", "/ofrep/v1/configuration", "GET, HEAD")):
            st, hd, b = xptest.http(exp.base + path, method=method, data=b"{}" if method == "POST" else None)
            assert st == 405 and hd["Allow"] == allow and hd["Content-Type"].startswith("application/json"), (path, st, hd)
            json.loads(b)
        # The configuration: the provider's name, polling no faster than the fastest probe (1 s).
        st, hd, b = xptest.http(exp.base + "/ofrep/v1/configuration")
        conf = json.loads(b)
        assert st == 200 and conf["name"] == "resilience_exporter", conf
        polling = conf["capabilities"]["cacheInvalidation"]["polling"]
        assert polling == {"enabled": True, "minPollingIntervalMs": 1000}, polling
        assert conf["capabilities"]["flagEvaluation"]["supportedTypes"] == ["boolean"], conf
        # None of it changed any state: same transitions, same calls on every breaker.
        after = exp.metrics_text()
        pick = lambda t: sorted(l for l in t.splitlines() if l.startswith("circuit_breaker_transitions_total"))
        assert pick(before) == pick(after)
        # 500 never came.
        m = xptest.parse_metrics(after)
        for (name, labels), v in m.items():
            # (OFREP's own routes: a /health asked before the runtime started may answer 500
            # on main, where HTTP starts first.)
            if name == "resilience_exporter_http_requests_total" and dict(labels)["code"] == "500" \
                    and dict(labels)["handler"].startswith("/ofrep"):
                assert v == 0, labels


if __name__ == "__main__":
    OfrepTest().run()
