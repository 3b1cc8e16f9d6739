"""A reload that runs out of memory changes nothing and says so (issue 10, fault 7).

The test build's fake binary can make the runtime's reload step fail as out of memory
(tests/fake/hooks.c: while the file named by XP_FAKE_FAIL_RELOAD exists). The reload asks for
basic auth, another telemetry path, debug logging and another dependency; while the failure
is armed, POST /-/reload and SIGHUP must both answer or log the failure, set
resilience_exporter_config_last_reload_successful to 0, and leave auth, the telemetry path,
the log level and the dependencies exactly as they were. Disarmed, the same reload applies
all of it."""
import os
import signal
import subprocess
import time

import xptest
from xptest import sample

USER = "prom"
PASSWORD = "reload-SENTINEL-pw"


def bcrypt_hash(password):
    r = subprocess.run(["htpasswd", "-nbBC", "10", USER, password], capture_output=True, text=True, check=True)
    return r.stdout.strip().split(":", 1)[1]


def dep(name, script):
    return "[dependency.%s]\ncollector = fake\nscript = %s\ninterval = 200ms\ntimeout = 100ms\n\n" % (name, script)


def lifecycle_flag():
    """--web.enable-lifecycle where the binary has it (POST /-/reload needs it then)."""
    r = subprocess.run([xptest.FAKE_BINARY, "--help"], capture_output=True, text=True)
    return ["--web.enable-lifecycle"] if "enable-lifecycle" in r.stdout + r.stderr else []


class ReloadFailureTest(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("reload-failure")

    def teardown_all(self):
        self.tmp.cleanup()

    def test_out_of_memory_changes_nothing(self):
        ok = self.tmp.file("ok", "ok\n")
        trigger = self.tmp.path + "/fail-reload"
        before = "[exporter]\nlog_level = info\n\n" + dep("first", ok)
        after = ("[exporter]\nlog_level = debug\ntelemetry_path = /other\n\n"
                 "[web]\nbasic_auth_user = %s\nbasic_auth_password_hash = %s\n\n" % (USER, bcrypt_hash(PASSWORD)) +
                 dep("second", ok))
        e = xptest.Exporter(self.tmp, before, binary=xptest.FAKE_BINARY, extra_args=lifecycle_flag(),
                            env={"XP_FAKE_FAIL_RELOAD": trigger})
        try:
            e.wait_health(lambda h: h["dependencies"]["first"]["last_probe"], 10, "the first probe")
            m = e.metrics()
            assert sample(m, "resilience_exporter_config_last_reload_successful") == 1

            self.tmp.file(os.path.basename(trigger), "armed\n")
            self.tmp.file(os.path.basename(e.config_path), after)
            for how in ("POST", "SIGHUP"):
                if how == "POST":
                    status, _, body = e.get("/-/reload", method="POST")
                    assert status != 200, (status, body)
                    assert body.decode() == "reload failed: out of memory\n", body
                else:
                    e.reload()
                    xptest.wait_until(lambda: e.logs().count("reload failed, keeping the running config") >= 2,
                                      10, what="the SIGHUP reload to fail")
                # Nothing switched: no auth asked, the old path serves, the new one does not,
                # the old dependency runs and the new one does not exist.
                m = e.metrics()
                assert sample(m, "resilience_exporter_config_last_reload_successful") == 0, how
                assert e.get("/other")[0] == 404, how
                h = e.health()
                assert set(h["dependencies"]) == {"first"}, (how, h["dependencies"].keys())
                n0 = h["dependencies"]["first"]["last_probe"]["timestamp"]
                xptest.wait_until(lambda: e.health()["dependencies"]["first"]["last_probe"]["timestamp"] > n0,
                                  10, what="the kept dependency to go on probing")
            logs = e.logs()
            assert "config reloaded" not in logs, logs[-2000:]
            assert "level=debug" not in logs, "the log level switched"
            assert logs.count("reload failed, keeping the running config") == 2, logs[-2000:]
            assert "error=\"out of memory\"" in logs

            # Disarmed, the same reload applies everything at once.
            os.unlink(trigger)
            status, _, body = e.get("/-/reload", method="POST")
            assert status == 200 and body.decode() == "config reloaded\n", (status, body)
            assert e.get("/other")[0] == 401
            assert e.get("/metrics", headers={"Authorization": "Basic cHJvbTp4"})[0] == 401
            import base64
            good = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
            status, _, body = e.get("/other", headers={"Authorization": good})
            assert status == 200, status
            m = xptest.parse_metrics(body.decode())
            assert sample(m, "resilience_exporter_config_last_reload_successful") == 1
            assert sample(m, "dependency_info", dependency="second", collector="fake",
                          target="file://" + ok) == 1
            assert e.get("/metrics", headers={"Authorization": good})[0] == 404
            assert e.stop() == 0
        finally:
            e.stop()


if __name__ == "__main__":
    ReloadFailureTest().run()
