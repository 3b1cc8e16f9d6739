"""The status page in a real browser: headless Chromium loads / from the exporter while one
dependency is down (Redis stopped, failure_threshold 1) and one is up (PostgreSQL). The
rendered DOM must show one row per dependency, the Redis row OPEN with class state-open, the
database row CLOSED with class state-closed. A screenshot goes to the build directory
(XP_BUILD_DIR/status_page.png) for a human to look at.
"""
import html.parser
import os
import shutil
import subprocess

import xptest
import srv_postgres
import srv_redis

CHROMIUM = os.environ.get("XP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


class Rows(html.parser.HTMLParser):
    """Every <tr> whose class has a state-* name: (classes, data-dependency, [cell texts])."""

    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.cell = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            classes = (a.get("class") or "").split()
            self.cur = (classes, a.get("data-dependency"), []) if any(c.startswith("state-") for c in classes) else None
        elif tag in ("td", "th") and self.cur is not None:
            self.cell = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cur is not None and self.cell is not None:
            self.cur[2].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.cur is not None:
            self.rows.append(self.cur)
            self.cur = None


def parse_rows(dom):
    p = Rows()
    p.feed(dom)
    out = {}
    for classes, dep, cells in p.rows:
        name = dep or (cells[0] if cells else "")
        out[name] = (classes, cells)
    return out


class StatusPage(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("status-page")
        self.pg = self.redis = self.exp = None

    def teardown_all(self):
        for thing in (self.exp,):
            if thing is not None:
                thing.stop()
        for srv in (self.redis, self.pg):
            if srv is not None:
                try:
                    srv.cleanup()
                except Exception as e:
                    xptest.log("teardown: %r" % e)
        self.tmp.cleanup()

    def chromium(self, *args):
        profile = os.path.join(self.tmp.path, "chromium-profile-%d" % len(os.listdir(self.tmp.path)))
        os.makedirs(profile)
        argv = [CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + list(args)
        r = subprocess.run(argv, capture_output=True, timeout=120)
        assert r.returncode == 0, "chromium exited %d: %s" % (r.returncode, r.stderr.decode()[-2000:])
        return r.stdout.decode("utf-8", "replace")

    def test_status_page_shows_redis_open(self):
        assert os.path.exists(CHROMIUM), "no chromium at %s (apt-get install chromium)" % CHROMIUM
        self.pg = srv_postgres.Postgres(self.tmp.path, role="app", password="pg-page-pw")
        self.pg.start()
        self.redis = srv_redis.Redis(self.tmp.path, password="rd-page-pw")
        self.redis.start()
        cfg = """
[dependency.database]
collector = postgres
dsn = %s
password = pg-page-pw
interval = 1s
timeout = 800ms
failure_threshold = 1
recovery_timeout = 60s
open_level = emergency

[dependency.redis]
collector = redis
address = %s
password = rd-page-pw
interval = 1s
timeout = 800ms
failure_threshold = 1
recovery_timeout = 60s
open_level = degraded

[feature.realtime_updates]
min_level = degraded
requires = redis

[feature.inventory_management]
min_level = minimal
requires = database
""" % (self.pg.dsn(), self.redis.address())
        self.exp = xptest.Exporter(self.tmp, cfg)
        state = lambda h, d: h["dependencies"][d]["state"].lower()
        self.exp.wait_health(lambda h: state(h, "database") == "closed" and state(h, "redis") == "closed"
                             and h["dependencies"]["redis"]["last_probe"], 20, "both dependencies probed and CLOSED")
        self.redis.stop()
        self.exp.wait_health(lambda h: state(h, "redis") == "open", 20, "the redis breaker OPEN")

        url = self.exp.base + "/"
        dom = self.chromium("--dump-dom", url)
        rows = parse_rows(dom)
        assert set(rows) == {"database", "redis"}, "dependency rows: %s\n%s" % (rows, dom[:3000])
        classes, cells = rows["redis"]
        assert "state-open" in classes, rows["redis"]
        assert "OPEN" in cells, rows["redis"]
        classes, cells = rows["database"]
        assert "state-closed" in classes, rows["database"]
        assert "CLOSED" in cells, rows["database"]
        assert "/metrics" in dom and "/health" in dom, "no links to /metrics and /health"
        # the page shows the level /health reports, which is not optimal with a breaker open
        status = self.exp.health()["status"]
        assert status != "optimal" and status in dom, (status, dom[:3000])

        shot = os.path.join(xptest.BUILD_DIR, "status_page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        self.chromium("--screenshot=" + shot, "--window-size=1280,900", url)
        with open(shot, "rb") as f:
            png = f.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, (shot, len(png))
        xptest.log("screenshot: " + shot)


if __name__ == "__main__":
    StatusPage().run()
