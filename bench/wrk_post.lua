-- wrk script for bench_server.py: POST one JSON body, or single feedback records, or plain GETs.
--   BODY_FILE: POST this file's content on every request (predict latency).
--   IDS_FILE:  POST one feedback record per request for these prediction ids (one per line), each
--              with a distinct feedback_id built from RUN_TAG, so every request creates a record.
--   neither:   GET the URL (a request that does no work: the throughput baseline).
-- done() prints one machine-readable line: requests, non-2xx answers, socket errors, duration, latency.
local run_tag = os.getenv("RUN_TAG") or tostring(os.time())
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tag", run_tag .. "-" .. #threads)
end

local body_file = os.getenv("BODY_FILE")
local ids_file = os.getenv("IDS_FILE")
if body_file or ids_file then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local ids = nil
local counter = 0

function init(args)
  if body_file then
    local f = assert(io.open(body_file, "rb"))
    wrk.body = f:read("*a")
    f:close()
  elseif ids_file then
    ids = {}
    for line in io.lines(ids_file) do ids[#ids + 1] = line end
  end
end

function request()
  if ids == nil then
    return wrk.format(nil, nil, nil, wrk.body)
  end
  counter = counter + 1
  local body = '{"prediction_id":"' .. ids[(counter % #ids) + 1] .. '","feedback_id":"wrk-' .. tag
    .. "-" .. counter .. '","label":1}'
  return wrk.format(nil, nil, nil, body)
end

-- The stock baseline reports its own predict_proba time in each answer ("predict_ms"), collected
-- over the same requests as wrk's latency figures.
predict_ms = {}

function response(status, headers, body)
  local ms = body:match('"predict_ms":%s*([-%d%.eE+]+)')
  if ms then predict_ms[#predict_ms + 1] = tonumber(ms) end
end

function done(summary, latency, requests)
  local e = summary.errors
  local values, sum = {}, 0
  for _, thread in ipairs(threads) do
    for _, ms in ipairs(thread:get("predict_ms")) do
      values[#values + 1] = ms
      sum = sum + ms
    end
  end
  table.sort(values)
  local median = #values > 0 and values[math.floor((#values + 1) / 2)] or 0
  local mean = #values > 0 and sum / #values or 0
  io.write(string.format(
    "WRK requests=%d non2xx=%d socket_errors=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.1f"
      .. " predict_ms_p50=%.4f predict_ms_mean=%.4f predict_ms_count=%d\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, median, mean, #values))
end
