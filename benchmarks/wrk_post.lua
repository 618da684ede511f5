-- wrk script of benchmarks/serving.py: every request POSTs the same single JSON record, and done()
-- prints one JSON line (latencies in ms) that the benchmark parses, so no one scrapes wrk's text.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"age": 35, "gender": "Female", "income": 62000.0, "occupation": "Teacher", "spending_score": 55}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non_2xx = 0
end

-- wrk's own errors.status counts only status > 399; a 1xx or 3xx is no answer either.
function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local non_2xx_total = 0
  for _, thread in ipairs(threads) do
    non_2xx_total = non_2xx_total + thread:get("non_2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "rps": %.2f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f, ' ..
    '"non_2xx": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, non_2xx_total,
    errors.connect, errors.read, errors.write, errors.timeout))
end
