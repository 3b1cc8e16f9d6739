"""Probes run on a shared pool of workers, not a thread each: many frozen backends must still
never hold up anybody else's probes (SPEC section 8), and the workers must follow the probes
in flight, not the dependencies.

400 dependencies whose probes hang until their deadline (the fake collector's "hang", 1 s
out of a 4 s interval, so about 100 hang at any moment) beside 20 healthy ones probed every
200 ms: over 4 s each healthy dependency keeps (nearly) every one of its ticks, and once the
workers started for the first round have idled out (10 s), the exporter's threads stay near
the number of hung probes plus a few, far below one per dependency."""
import os
import time

import xptest
from xptest import sample


N_FROZEN = 400


def dep(name, script, interval, timeout):
    return ("[dependency.%s]\ncollector = fake\nscript = %s\ninterval = %s\ntimeout = %s\n"
            "failure_threshold = 1000000\n\n" % (name, script, interval, timeout))


def threads(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


class EngineIsolationTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("isolation")

    def teardown_all(self):
        self.tmp.cleanup()

    def test_frozen_backends_hold_up_nobody(self):
        hang = self.tmp.file("hang", "hang\n")
        ok = self.tmp.file("ok", "ok\n")
        text = "[exporter]\nlog_level = error\n\n"
        text += "".join(dep("frozen%d" % i, hang, "4s", "1s") for i in range(N_FROZEN))
        text += "".join(dep("fine%d" % i, ok, "200ms", "100ms") for i in range(20))
        e = xptest.Exporter(self.tmp, text, binary=xptest.FAKE_BINARY)
        try:
            fine = ["fine%d" % i for i in range(20)]
            e.wait_health(lambda h: all(h["dependencies"][d]["last_probe"] for d in fine), 20, "first probes")
            time.sleep(12)  # past the start-up round and its workers' idle time
            m0 = e.metrics()
            t0 = time.monotonic()
            most = 0
            while time.monotonic() - t0 < 4:
                most = max(most, threads(e.proc.pid))
                time.sleep(0.1)
            m1 = e.metrics()
            took = time.monotonic() - t0
            got = {d: sample(m1, "circuit_breaker_calls_total", dependency=d, result="success") -
                   sample(m0, "circuit_breaker_calls_total", dependency=d, result="success") for d in fine}
            hung = sum(sample(m1, "circuit_breaker_calls_total", dependency="frozen%d" % i, result="failure")
                       for i in range(N_FROZEN))
            ticks = took / 0.2
            xptest.log("over %.1fs: healthy probes per dependency %d..%d of %.0f ticks; %d hung probes "
                       "in all; at most %d threads" % (took, min(got.values()), max(got.values()), ticks, hung, most))
            # Every healthy dependency kept its schedule (a tick or two lost to a loaded
            # machine at most), while the frozen ones really were hanging.
            assert min(got.values()) >= ticks - 3, got
            assert hung >= 2 * N_FROZEN, hung
            # Threads: about one per hung probe (100 at a time) plus a few, not one per
            # dependency (420) and not the cap.
            assert most < 250, most
        finally:
            assert e.stop() == 0


if __name__ == "__main__":
    EngineIsolationTest().run()
