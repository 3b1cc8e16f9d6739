-- wrk script: prints one machine-readable line after the run, read by bench.py.
-- Latencies are in microseconds; non-2xx answers count as errors.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "XPBENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout + e.status, e.status))
end
