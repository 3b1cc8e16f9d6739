"""A LocalStack stand-in: GET /_localstack/health answers LocalStack's health document with
services.s3 read from --state-file on every request (empty file: s3 not listed), and every
other request is forwarded byte for byte to a real S3 server (--upstream HOST:PORT), Host
header included, so SigV4 signatures made for this endpoint still verify there.

Run as: python3 localstack_standin.py --port P --upstream 127.0.0.1:Q --state-file F
Stops on SIGTERM."""
import argparse
import http.client
import http.server
import json
import signal
import sys

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
              "upgrade"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--state-file", required=True)
    args = ap.parse_args()
    up_host, up_port = args.upstream.rsplit(":", 1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):
            sys.stderr.write("standin: " + (fmt % a) + "\n")

        def _health(self):
            with open(args.state_file) as f:
                s3 = f.read().strip()
            services = {"sqs": "disabled", "dynamodb": "available"}
            if s3:
                services["s3"] = s3
            body = json.dumps({"services": services, "edition": "community", "version": "3.0.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(up_host, int(up_port), timeout=30)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.endheaders(body)
                r = conn.getresponse()
                data = r.read()
            except OSError as e:
                self.send_error(502, "upstream: %s" % e)
                return
            finally:
                conn.close()
            self.send_response(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            # A HEAD answer carries the length the GET would have, with no body.
            self.send_header("Content-Length", r.getheader("Content-Length") or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _dispatch(self):
            if self.path.split("?")[0] == "/_localstack/health" and self.command in ("GET", "HEAD"):
                self._health()
            else:
                self._forward()

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _dispatch

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
