"""The reviewed golden exposition (tests/fixtures/render_golden.prom, which test_render.c
compares the renderer with byte for byte) judged by two parsers that are not ours:
promtool's linter and Python's prometheus_client."""
import os
import subprocess

import xptest

GOLDEN = os.path.join(xptest.SOURCE_DIR, "tests", "fixtures", "render_golden.prom")


class ExpositionTest(xptest.Test):
    def text(self):
        with open(GOLDEN) as f:
            return f.read()

    def test_promtool_is_silent(self):
        rc, out = xptest.promtool_check(self.text())
        assert rc == 0 and out.strip() == "", (rc, out)

    def test_second_parser_reads_every_value_back(self):
        m = xptest.parse_metrics(self.text())  # raises on a duplicate series
        s = xptest.sample
        assert s(m, "dependency_info", dependency="cache", collector="redis", target='unix:/tmp/a "b"\\c\nd') == 1
        assert s(m, "circuit_breaker_recovery_seconds", dependency="database") == 8
        assert s(m, "dependency_probe_duration_seconds_bucket", dependency="database", le="0.01") == 10
        assert s(m, "dependency_probe_duration_seconds_bucket", dependency="database", le="+Inf") == 14
        assert s(m, "dependency_probe_duration_seconds_sum", dependency="database") == 32.08
        assert s(m, "system_health_score") == 33.333333333333336

    def test_histogram_buckets_are_cumulative(self):
        m = xptest.parse_metrics(self.text())
        for dep in ("database", "cache"):
            buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in m.items()
                              if k[0] == "dependency_probe_duration_seconds_bucket" and dict(k[1])["dependency"] == dep))
            values = [v for _, v in buckets]
            assert values == sorted(values), (dep, buckets)
            assert buckets[-1][0] == float("inf")

    def test_promtool_catches_a_broken_copy(self):
        # The checker itself must be able to say no: a sample line with a bad value.
        rc, _ = xptest.promtool_check(self.text().replace("degradation_level 4", "degradation_level four"))
        assert rc != 0


if __name__ == "__main__":
    ExpositionTest().run()
