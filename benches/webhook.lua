-- wrk script for benches/webhook.sh: POSTs AdmissionReview bodies to /validate.
--
-- Environment:
--   REVIEW_TEMPLATE  a review body with __IMAGE__ and __UID__ in it
--   REFS             image references, one per line
--   REF_LIMIT        use only the first N references (default: all)
--   MODE             `walk`: each reference once, split between threads, then stop
--                          (every review names an image the server has not seen: cold cache)
--                    `cycle`: go round the references until the run ends (warm cache)
--                    `healthz`: GET /healthz (the TLS + HTTP floor of a review)
--   WRK_THREADS      the `-t` given to wrk

local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("REVIEW_TEMPLATE"), "r"))
  template = f:read("*a")
  f:close()
  refs = {}
  for line in io.lines(os.getenv("REFS")) do
    if #line > 0 then refs[#refs + 1] = line end
  end
  limit = tonumber(os.getenv("REF_LIMIT") or "") or #refs
  if limit > #refs then limit = #refs end
  mode = os.getenv("MODE") or "cycle"
  -- Bodies are made once per reference (the uid comes before the object in the template):
  -- per request only the uid is put in, so wrk, on the same cores as the server, spends
  -- little on making requests.
  local at = template:find("__UID__", 1, true)
  head = template:sub(1, at - 1)
  local rest = template:sub(at + #"__UID__")
  tails = {}
  if mode ~= "healthz" then
    for i = 1, limit do
      tails[i] = rest:gsub("__IMAGE__", function() return refs[i] end)
    end
  end
  step = tonumber(os.getenv("WRK_THREADS") or "1")
  next_index = tid
  sent, ok, denied, allowed, failed = 0, 0, 0, 0, 0
  if mode == "healthz" then
    wrk.method = "GET"
    wrk.path = "/healthz"
  else
    wrk.method = "POST"
    wrk.path = "/validate"
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  if mode == "healthz" then
    return wrk.format(nil, nil, nil, nil)
  end
  local index = next_index
  if index >= limit then
    if mode == "walk" then
      index = limit - 1 -- past the end: repeat the last one until the thread stops
    else
      index = index % limit
    end
  end
  next_index = next_index + step
  sent = sent + 1
  local body = head .. string.format("bench-%d-%d", tid, sent) .. tails[index + 1]
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 and mode == "healthz" then
    ok = ok + 1
  elseif status == 200 then
    ok = ok + 1
    if body:find('"allowed":true', 1, true) then allowed = allowed + 1 else denied = denied + 1 end
  else
    failed = failed + 1
  end
  if mode == "walk" and ok + failed >= math.ceil((limit - tid) / step) then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t_ok, t_allowed, t_denied, t_failed = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    t_ok = t_ok + thread:get("ok")
    t_allowed = t_allowed + thread:get("allowed")
    t_denied = t_denied + thread:get("denied")
    t_failed = t_failed + thread:get("failed")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f ok=%d allowed=%d denied=%d http_errors=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, t_ok, t_allowed, t_denied, t_failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
