-- wrk.lua — request shape and report for bench/http.sh.
--
-- BENCH_BODY set: POST it as application/json (the JSON round trip), else GET.
-- done() prints one line: req/s, p50, p99 (ms), and errors if any.
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write +
               summary.errors.status + summary.errors.timeout
  io.write(string.format("req/s=%.0f p50=%.3fms p99=%.3fms", summary.requests / secs,
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  if errs > 0 then
    io.write(string.format(" errors=%d(connect %d, read %d, write %d, status %d, timeout %d)", errs,
             summary.errors.connect, summary.errors.read, summary.errors.write,
             summary.errors.status, summary.errors.timeout))
  end
  io.write("\n")
end
