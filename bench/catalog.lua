-- catalog.lua — request shape and report for bench/catalog.sh.
--
-- BENCH_PATHS names a file of request paths, one per line; each connection
-- walks the list round-robin from its own offset (so many products,
-- queries and prefixes are asked, not one URL).  done() prints req/s and
-- the p50/p99 latency like bench/wrk.lua.
local paths = {}
local file = os.getenv("BENCH_PATHS")
for line in io.lines(file) do
  if line ~= "" then paths[#paths + 1] = line end
end
local i = 0

init = function(args)
  i = math.random(#paths)
end

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
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
