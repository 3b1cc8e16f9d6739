"""Reloads at any moment, start-up included, are safe (SPEC section 3; issue 10, fault 1).

Before the fix, main.c started the HTTP server (and so POST /-/reload) before the runtime,
whose start walked its dependencies outside the lock while a reload's swap freed them: with
2,000 redis dependencies and a loop of POST /-/reload begun before launch, about half the
runs died of SIGSEGV, and ThreadSanitizer flagged the race with 2 dependencies.

Here, several runs: a loop of POST /-/reload starts before the exporter does (refused until
it listens), SIGHUPs join as soon as the exporter has blocked them, and the config file
flips between two versions (one dependency in twenty with another timeout, so each reload
both keeps and replaces dependencies) while the first probes run. The process must never
die, every reload must answer 200, and once the storm ends the state must be the last
config's: exactly its dependencies, each probed and CLOSED, and SIGTERM exits 0 within 2 s.

Under a ThreadSanitizer build of the binary (detected from the binary) the same runs with 2
dependencies: any TSan report fails the test (xptest.check_sanitizers)."""
import http.client
import os
import signal
import subprocess
import threading
import time

import srv_redis
import xptest

N_PLAIN, N_TSAN = 2000, 2
RUNS_PLAIN, RUNS_TSAN = 5, 3


def is_tsan(binary):
    with open(binary, "rb") as f:
        return b"__tsan_init" in f.read()


def lifecycle_flag(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return ["--web.enable-lifecycle"] if "enable-lifecycle" in r.stdout + r.stderr else []


def config(n, port, variant):
    out = ["[exporter]\nlog_level = warn\n\n"]
    for i in range(n):
        timeout = "2s" if variant == 0 or i % 20 else "3s"
        out.append("[dependency.r%d]\ncollector = redis\naddress = 127.0.0.1:%d\ninterval = 60s\n"
                   "timeout = %s\nfailure_threshold = 3\n\n" % (i, port, timeout))
    return "".join(out)


class ReloadRaceTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("reload-race")
        self.tsan = is_tsan(xptest.BINARY)
        self.n = N_TSAN if self.tsan else N_PLAIN
        self.runs = RUNS_TSAN if self.tsan else RUNS_PLAIN
        self.rd = srv_redis.Redis(self.tmp.path)
        self.rd.start()

    def teardown_all(self):
        self.rd.cleanup()
        self.tmp.cleanup()

    def one_run(self, run):
        port = xptest.free_port()
        cfg = self.tmp.file("race-%d.ini" % run, config(self.n, self.rd.port, 0))
        log_path = self.tmp.file("race-%d.log" % run)
        stop = threading.Event()
        answers = {"ok": 0, "refused": 0, "other": []}
        flips = [0]

        def post_loop():
            # From before launch: connection refused until the exporter listens.
            while not stop.is_set():
                # Flip the file between the two versions: each reload keeps most dependencies
                # and replaces one in twenty (more would be a connection storm on the one
                # redis-server, whose listen backlog then drops connects).
                flips[0] ^= 1
                self.tmp.file(os.path.basename(cfg), config(self.n, self.rd.port, flips[0]))
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    c.request("POST", "/-/reload")
                    r = c.getresponse()
                    body = r.read()
                    if r.status == 200:
                        answers["ok"] += 1
                    else:
                        answers["other"].append((r.status, body[:200]))
                except (ConnectionRefusedError, ConnectionResetError):
                    answers["refused"] += 1
                    time.sleep(0.005)
                except OSError as ex:
                    answers["other"].append(repr(ex))
                finally:
                    c.close()

        poster = threading.Thread(target=post_loop)
        poster.start()
        time.sleep(0.2)
        env = dict(os.environ)
        proc = xptest.Proc([xptest.BINARY, "--config.file=" + cfg, "--web.listen-address=127.0.0.1:%d" % port]
                           + lifecycle_flag(xptest.BINARY), log_path, env=env)
        hups = [0]

        def hup_blocked():
            # Any thread will do: the threads main() starts inherit its mask, and main's own
            # SigBlk loses SIGHUP while it sits in sigwait (the kernel unblocks the waited
            # signals for the wait), which a slow poller on a loaded machine may only see.
            try:
                for tid in os.listdir("/proc/%d/task" % proc.pid):
                    with open("/proc/%d/task/%s/status" % (proc.pid, tid)) as f:
                        for line in f:
                            if line.startswith("SigBlk:") and \
                                    int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)):
                                return True
            except OSError:
                pass
            return proc.poll() is not None

        def hup_loop():
            # SIGHUP is blocked from the start of main() on; before that (the dynamic loader)
            # it would end any daemon, its default action: wait until the kernel shows it
            # blocked.
            xptest.wait_until(hup_blocked, 30, interval=0.001, what="SIGHUP to be blocked")
            while not stop.is_set() and proc.poll() is None:
                proc.signal(signal.SIGHUP)
                hups[0] += 1
                time.sleep(0.05)

        hupper = threading.Thread(target=hup_loop)
        hupper.start()
        try:
            xptest.wait_listen(port, timeout=60, proc=proc)
            t_listen = time.monotonic()
            # The storm goes on through the first probes and a while after.
            while time.monotonic() - t_listen < (6 if self.tsan else 4):
                assert proc.poll() is None, "exporter died (%s): %s" % (proc.poll(), proc.output()[-3000:])
                time.sleep(0.05)
            stop.set()
            poster.join(60)
            hupper.join(60)
            assert proc.poll() is None, "exporter died (%s): %s" % (proc.poll(), proc.output()[-3000:])
            xptest.log("run %d: %d reloads answered 200, %d refused before listening, %d SIGHUPs" % (
                run, answers["ok"], answers["refused"], hups[0]))
            assert not answers["other"], answers["other"][:5]
            assert answers["refused"] >= 1, "the loop did not start before the exporter"
            # Reloads did land while the first probes ran (a slow sanitizer build manages
            # only a few: each reload of 2,000 dependencies is then slow).
            assert answers["ok"] >= 1 and hups[0] >= 1, (answers, hups)

            # A last reload to a known version; then the state is that config's, whole.
            self.tmp.file(os.path.basename(cfg), config(self.n, self.rd.port, 0))
            base = "http://127.0.0.1:%d" % port
            status, _, body = xptest.http(base + "/-/reload", method="POST", timeout=60)
            assert status == 200, (status, body)
            xptest.wait_until(lambda: xptest.http(base + "/-/ready")[0] == 200, 60, what="ready")
            status, _, body = xptest.http(base + "/health", timeout=60)
            import json
            deps = json.loads(body)["dependencies"]
            assert set(deps) == {"r%d" % i for i in range(self.n)}, len(deps)
            # Probed and CLOSED, each of them. (Whether every probe of the storm succeeded is
            # the one redis-server's business: thousands of connects at once can overflow its
            # listen backlog.)
            bad = [(k, d["state"], d["last_probe"]) for k, d in deps.items()
                   if d["state"] != "closed" or not d["last_probe"]]
            assert not bad, bad[:5]
            m = xptest.parse_metrics(xptest.http(base + "/metrics", timeout=60)[2].decode())
            assert xptest.sample(m, "resilience_exporter_config_last_reload_successful") == 1

            t0 = time.monotonic()
            proc.signal(signal.SIGTERM)
            rc = proc.p.wait(10)
            took = time.monotonic() - t0
            assert rc == 0, (rc, proc.output()[-3000:])
            assert took < 2, "shutdown took %.2fs" % took
        finally:
            stop.set()
            poster.join(60)
            hupper.join(60)
            proc.stop()
            xptest.check_sanitizers(proc.output(), log_path)

    def test_reloads_from_before_launch(self):
        xptest.log("%d runs with %d dependencies%s" % (self.runs, self.n, " (ThreadSanitizer)" if self.tsan else ""))
        for run in range(self.runs):
            self.one_run(run)


if __name__ == "__main__":
    ReloadRaceTest().run()
