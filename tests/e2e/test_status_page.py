"""The status page in a real browser: headless Chromium loads / from the exporter while one
dependency is down (Redis stopped, failure_threshold 1) and one is up (PostgreSQL). The
rendered DOM must show one row per dependency, the Redis row OPEN with class state-open, the
database row CLOSED with class state-closed. A screenshot goes to the build directory
(XP_BUILD_DIR/status_page.png) for a human to look at.

The page also shows the recent events (the Redis breaker opening, the level change) and an
inline SVG chart of the system score and level over the last hour: the level strip must
show the level before and during the outage. Redis is then started again, and the page
must show the recovery (XP_BUILD_DIR/status_page_recovered.png).

Under its Content-Security-Policy (SPEC section 7, issue 11 item 6) the page must still work:
Chromium's console (--enable-logging=stderr) reports no CSP violation, the inline style is
applied (the level banner's colour is in the screenshot), and the page refreshes itself (the
exporter counts a second request for / while Chromium stays on it). A control run serves
the same page with a CSP that forbids inline style and must show the violation and no
colour, so the checks above can fail.
"""
import html.parser
import http.server
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
import zlib

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


# The banner's background per level (exporter/web/status_page.c).
LEVEL_RGB = {0: (0x2e, 0x7d, 0x32), 1: (0xf9, 0xa8, 0x25), 2: (0xef, 0x6c, 0x00), 3: (0xc6, 0x28, 0x28),
             4: (0x6a, 0x1b, 0x9a)}


def png_pixels(data):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, [[tuple(r[x * bpp:x * bpp + 3]) for x in range(w)] for r in rows]


def count_colour(png, rgb):
    w, h, rows = png_pixels(png)
    return sum(1 for row in rows for px in row if all(abs(px[i] - rgb[i]) <= 3 for i in range(3)))


def csp_violations(stderr):
    """Console messages about the Content Security Policy in Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line and "Content Security Policy" in line]


class Events(html.parser.HTMLParser):
    """The text of each row of the events table."""

    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.inside = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "events":
            self.inside = True
        elif tag == "tr" and self.inside:
            self.cur = []
        elif tag == "td" and self.cur is not None and (dict(attrs).get("class") or "") == "what":
            self.cur.append("")

    def handle_data(self, data):
        if self.cur:
            self.cur[-1] += data

    def handle_endtag(self, tag):
        if tag == "tr" and self.cur is not None:
            self.rows.append(" ".join(t.strip() for t in self.cur))
            self.cur = None
        elif tag == "table":
            self.inside = False


def event_rows(dom):
    p = Events()
    p.feed(dom)
    return p.rows


def chart_buckets(dom):
    """How many 10 s buckets the chart holds (its data-buckets attribute)."""
    import re
    m = re.search(r'<svg id="chart" data-buckets="(\d+)"', dom)
    return int(m.group(1)) if m else 0


def chart_levels(dom):
    """The level of each rectangle of the chart's level strip, left to right (a run of
    buckets at the same level is one rectangle)."""
    import re
    return [int(m) for m in re.findall(r'<rect class="lv(\d)"', dom)]


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

    def profile(self):
        profile = os.path.join(self.tmp.path, "chromium-profile-%d" % len(os.listdir(self.tmp.path)))
        os.makedirs(profile)
        return profile

    def chromium(self, *args, stderr=None):
        """Runs Chromium to the end (--dump-dom, --screenshot); its stdout. With stderr (a
        list), its console log (--enable-logging) is appended there."""
        argv = [CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile()]
        if stderr is not None:
            argv += ["--enable-logging=stderr", "--v=0"]
        r = subprocess.run(argv + list(args), capture_output=True, timeout=120)
        assert r.returncode == 0, "chromium exited %d: %s" % (r.returncode, r.stderr.decode()[-2000:])
        if stderr is not None:
            stderr.append(r.stderr.decode("utf-8", "replace"))
        return r.stdout.decode("utf-8", "replace")

    def page_requests(self):
        """How many times the exporter has answered / (resilience_exporter_http_requests_total)."""
        return xptest.sample(self.exp.metrics(), "resilience_exporter_http_requests_total", handler="/", code="200") or 0

    def stays_on_page(self, url):
        """Chromium left open on url (a DevTools port keeps headless Chromium running) until the
        exporter has answered / once more, i.e. the page refreshed itself. Returns the console log."""
        log = os.path.join(self.tmp.path, "chromium-open.log")
        before = self.page_requests()
        with open(log, "wb") as out:
            p = subprocess.Popen([CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile(),
                                  "--enable-logging=stderr", "--v=0", "--remote-debugging-port=0", url],
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                # The first load, then the refresh the page asks for after 5 s.
                xptest.wait_until(lambda: self.page_requests() >= before + 2, 30, interval=0.5,
                                  what="the status page to refresh itself")
            finally:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        with open(log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def control_run(self, page):
        """The same page served with a CSP that forbids inline style: Chromium must report the
        violation and the banner must lose its colour, or the checks on the real page prove
        nothing."""
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", "default-src 'none'")
                self.end_headers()
                if self.path == "/":
                    self.wfile.write(page)

            def log_message(self, *args):
                pass
        port = xptest.free_port()
        srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            logs = []
            shot = os.path.join(self.tmp.path, "control.png")
            self.chromium("--screenshot=" + shot, "--window-size=1280,900", "http://127.0.0.1:%d/" % port, stderr=logs)
            with open(shot, "rb") as f:
                return csp_violations(logs[0]), f.read()
        finally:
            srv.shutdown()
            srv.server_close()

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
recovery_timeout = 10s
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
        # The chart keeps the worst level of each 10 s bucket: let one bucket pass all optimal,
        # so the strip can show the level before the outage as well as during it.
        xptest.wait_until(lambda: chart_buckets(self.exp.get("/")[2].decode()) >= 2, 25, interval=0.5,
                          what="a whole chart bucket at level optimal")
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

        # The events and the chart (issue 12 item 5), as the browser built them.
        events = event_rows(dom)
        assert any("redis: closed \u2192 open" in e for e in events), events
        assert any(e.startswith("level optimal \u2192 ") for e in events), events
        lv = chart_levels(dom)
        assert "<svg" in dom and 'id="chart"' in dom, "no chart"
        assert 0 in lv and max(lv) >= 1, "the level strip shows %s" % lv
        assert 'class="score"' in dom, "no score line"

        shot = os.path.join(xptest.BUILD_DIR, "status_page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        self.chromium("--screenshot=" + shot, "--window-size=1280,900", url)
        with open(shot, "rb") as f:
            png = f.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, (shot, len(png))
        xptest.log("screenshot: " + shot)

        # The page under its CSP: the header is there, nothing is blocked, the style applies.
        st, headers, page = self.exp.get("/")
        csp = headers.get("Content-Security-Policy", "")
        assert st == 200 and "default-src 'none'" in csp and "style-src 'unsafe-inline'" in csp, headers
        assert "script-src" not in csp and "<script" not in page.decode().lower(), "the page needs no script"
        for k, v in (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")):
            assert headers.get(k) == v, (k, headers)
        logs = []
        self.chromium("--dump-dom", url, stderr=logs)
        shot_logs = []
        self.chromium("--screenshot=" + shot, "--window-size=1280,900", url, stderr=shot_logs)
        assert not csp_violations(logs[0] + shot_logs[0]), csp_violations(logs[0] + shot_logs[0])
        level = self.exp.health()["degradation_level"]
        with open(shot, "rb") as f:
            coloured = count_colour(f.read(), LEVEL_RGB[level])
        xptest.log("banner colour of level %d: %d pixels" % (level, coloured))
        assert coloured > 2000, "the banner lost its colour: inline style not applied (%d px)" % coloured
        # It refreshes itself under the CSP, and the reloads (favicon included) break no rule.
        opened = self.stays_on_page(url)
        assert not csp_violations(opened), csp_violations(opened)
        # The control: a CSP without style-src is reported and takes the colour away.
        violations, control_png = self.control_run(page)
        assert violations and "style" in violations[0], "chromium's console did not report the blocked style"
        assert count_colour(control_png, LEVEL_RGB[level]) < 50, "the control kept its colour"
        xptest.log("control: %d CSP violation(s) reported, e.g. %s" % (len(violations), violations[0][:160]))

        # Redis back: the page shows the recovery and the level strip goes back to optimal.
        self.redis.start()
        self.exp.wait_health(lambda h: state(h, "redis") == "closed" and h["status"] == "optimal", 30,
                             "the redis breaker CLOSED again")
        # The bucket of the recovery still holds the outage (its worst level): wait for the next.
        xptest.wait_until(lambda: chart_levels(self.exp.get("/")[2].decode())[-1] == 0, 25, interval=0.5,
                          what="a chart bucket at level optimal again")
        dom = self.chromium("--dump-dom", url)
        events = event_rows(dom)
        assert any("redis: half_open \u2192 closed" in e for e in events), events
        assert any(e.endswith("\u2192 optimal") and e.startswith("level") for e in events), events
        assert chart_levels(dom)[-1] == 0, chart_levels(dom)
        shot = os.path.join(xptest.BUILD_DIR, "status_page_recovered.png")
        self.chromium("--screenshot=" + shot, "--window-size=1280,1400", url)
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        xptest.log("screenshot after recovery: " + shot)


if __name__ == "__main__":
    StatusPage().run()
