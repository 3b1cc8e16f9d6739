"""The demo behind etc/demo.sh: real PostgreSQL, Redis, S3 (behind a LocalStack health
stand-in) and an OpenAI-compatible server on loopback, and the exporter on them, running the
shipped staging config with the staging environment variables pointed at those servers.
Ctrl-C (or SIGTERM) stops everything it started."""
import os
import secrets
import signal
import sys
import time

import xptest
from srv_openai import OpenAIServer, RateLimitProxy
from srv_postgres import Postgres
from srv_redis import Redis
from srv_s3 import LocalStackStandIn, S3Server


def main():
    listen = os.environ.get("DEMO_LISTEN", ":9866")
    port = int(listen.rsplit(":", 1)[1])
    if xptest.listening(port):
        sys.exit("port %d is taken; set DEMO_LISTEN=HOST:PORT to use another" % port)
    os.environ.setdefault("XP_TEST_TMP", os.path.join(xptest.BUILD_DIR, "demo"))
    tmp = xptest.TmpDir("stack")
    started = []
    exporter = None

    def stop_all(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_all)
    try:
        db_pw, redis_pw = secrets.token_hex(12), secrets.token_hex(12)
        aws_secret, api_key = secrets.token_hex(16), "sk-demo-" + secrets.token_hex(12)
        print("starting PostgreSQL 15, Redis, an S3 server and an OpenAI stand-in on loopback ...", flush=True)
        pg = Postgres(tmp.path, role="app", password=db_pw)
        pg.start()
        started.append(pg)
        redis = Redis(tmp.path, password=redis_pw)
        redis.start()
        started.append(redis)
        s3 = S3Server(tmp, buckets=("resilience-staging",), key="demo", secret=aws_secret)
        started.append(s3)
        standin = LocalStackStandIn(tmp, s3.port, "running")
        started.append(standin)
        llm = OpenAIServer(tmp, api_key)
        started.append(llm)
        proxy = RateLimitProxy(tmp, llm.port, {"x-ratelimit-remaining-requests": "4999",
                                               "x-ratelimit-remaining-tokens": "159000"})
        started.append(proxy)

        env = dict(os.environ,
                   STAGING_DB_HOST="127.0.0.1", STAGING_DB_PORT=str(pg.port), STAGING_DB_NAME="postgres",
                   STAGING_DB_USER="app", STAGING_DB_PASSWORD=db_pw,
                   REDIS_HOST="127.0.0.1", REDIS_PORT=str(redis.port), REDIS_PASSWORD=redis_pw,
                   S3_ENDPOINT=standin.endpoint, S3_BUCKET="resilience-staging",
                   AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY=aws_secret,
                   OPENAI_BASE_URL=proxy.base_url, OPENAI_API_KEY=api_key)
        config = os.path.join(xptest.SOURCE_DIR, "etc", "resilience_exporter.ini")
        argv = [xptest.BINARY, "--config.file=" + config, "--web.listen-address=" + listen]
        exporter = xptest.Proc(argv, tmp.file("exporter.log"), env=env)
        xptest.wait_listen(port, proc=exporter)
        base = "http://%s:%d" % ("localhost" if listen.startswith(":") else listen.rsplit(":", 1)[0], port)
        xptest.wait_until(lambda: xptest.http(base + "/-/ready")[0] == 200, 30, what="the first probes")
        health = xptest.http(base + "/health")[2].decode()
        import json
        h = json.loads(health)
        print("\nresilience_exporter is running on the shipped staging config (etc/resilience_exporter.ini):")
        for name, d in h["dependencies"].items():
            print("  %-9s %-9s breaker %-9s score %5.1f" % (name, d["collector"], d["state"].upper(), d["health_score"]))
        print("  level %s, system score %.1f\n" % (h["status"], h["health_score"]))
        print("  status page  %s/" % base)
        print("  metrics      %s/metrics" % base)
        print("  health JSON  %s/health" % base)
        print("\nTry stopping a dependency: kill -STOP %d (Redis; kill -CONT to resume)." % redis.proc.pid)
        print("Exporter log: %s\nCtrl-C stops everything.\n" % exporter.log_path, flush=True)
        while exporter.poll() is None:
            time.sleep(0.5)
        print("the exporter exited:\n" + exporter.output()[-2000:])
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        if exporter:
            exporter.stop()
        for s in reversed(started):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                print("could not stop %s: %s" % (type(s).__name__, e))
        for s in started:
            if hasattr(s, "cleanup"):
                s.cleanup()
        tmp.cleanup()


if __name__ == "__main__":
    main()
