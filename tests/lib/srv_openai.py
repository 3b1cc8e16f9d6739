"""An OpenAI-compatible server for tests: @dwmkerr/mock-llm with rules that answer GET
/v1/models with 401 unless the request carries `Authorization: Bearer KEY`. set_status() makes
it answer another status through mock-llm's POST /config; reset() goes back to the rules file.

mock-llm cannot send custom response headers, so RateLimitProxy (this file run as a script)
sits in front of it and adds x-ratelimit-remaining-* headers the way OpenAI sends them."""
import argparse
import http.client
import http.server
import json
import os
import signal
import sys

import xptest

HERE = os.path.abspath(__file__)
MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")


def _rules(key, models, status=None):
    listing = json.dumps({"object": "list",
                          "data": [{"id": m, "object": "model", "owned_by": "openai"} for m in models]})
    error = json.dumps({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                  "code": "invalid_api_key"}})
    rules = [
        # Last matching rule wins: the 401 is the fallback, the keyed rule overrides it.
        {"path": "^/v1/models$", "method": "GET", "match": "@", "response": {"status": 401, "content": error}},
        {"path": "^/v1/models$", "method": "GET", "match": "headers.authorization == 'Bearer %s'" % key,
         "response": {"status": 200, "content": listing}},
    ]
    if status is not None:
        body = json.dumps({"error": {"message": "forced status %d" % status, "type": "test"}})
        rules.append({"path": "^/v1/models$", "method": "GET", "match": "@",
                      "response": {"status": status, "content": body}})
    return {"streaming": {"chunkSize": 50, "chunkIntervalMs": 50}, "rules": rules}


class OpenAIServer:
    def __init__(self, tmp, key, models=MODELS, name="mock-llm"):
        self.tmp = tmp
        self.key = key
        self.models = list(models)
        # JSON is YAML: mock-llm reads it as its rules file.
        self.rules_path = tmp.file(name + "-rules.yaml", json.dumps(_rules(key, self.models), indent=1))
        argv = [os.path.join(xptest.NODE_BIN, "mock-llm"), "--config", self.rules_path]
        self.port, self.proc = xptest.listen_on_free_port(lambda port: xptest.Proc(
            argv, tmp.file(name + ".log"), env=dict(os.environ, HOST="127.0.0.1", PORT=str(port))))
        # node answers its first requests slowly: let that be ours, not a probe's.
        xptest.wait_until(lambda: xptest.http(self.base_url + "/models", timeout=30)[0], 30,
                          what="mock-llm to answer")

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def set_status(self, status):
        """Every GET /v1/models answers `status` from now on, whatever the key."""
        data = json.dumps(_rules(self.key, self.models, status)).encode()
        code, _, body = xptest.http("http://127.0.0.1:%d/config" % self.port, method="POST", data=data,
                                    headers={"Content-Type": "application/json"})
        assert code == 200, (code, body[:200])

    def reset(self):
        code, _, body = xptest.http("http://127.0.0.1:%d/config" % self.port, method="DELETE")
        assert code == 200, (code, body[:200])

    def stop(self):
        self.proc.stop()


class RateLimitProxy:
    """Forwards to upstream_port and adds the given response headers."""

    def __init__(self, tmp, upstream_port, headers, name="ratelimit-proxy"):
        def spawn(port):
            argv = [sys.executable, HERE, "--port", str(port), "--upstream", "127.0.0.1:%d" % upstream_port]
            for k, v in headers.items():
                argv += ["--header", "%s: %s" % (k, v)]
            return xptest.Proc(argv, tmp.file(name + ".log"))
        self.port, self.proc = xptest.listen_on_free_port(spawn)

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def stop(self):
        self.proc.stop()


def _proxy_main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--header", action="append", default=[])
    args = ap.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    extra = [h.split(":", 1) for h in args.header]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):
            sys.stderr.write("proxy: " + (fmt % a) + "\n")

        def do_GET(self):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "accept-encoding")}
                conn.request("GET", self.path, headers=fwd)
                r = conn.getresponse()
                data = r.read()
            finally:
                conn.close()
            self.send_response(r.status)
            self.send_header("Content-Type", r.getheader("Content-Type") or "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k.strip(), v.strip())
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    _proxy_main()
