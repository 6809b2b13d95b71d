-- wrk script of bench/bench_api.sh: POST /v1/workloads with a unique name per request.
-- Environment: ALLOT_TOKEN (bearer token), BENCH_RUN (a prefix that makes names unique
-- across runs), BENCH_ACKED (file to write the names of the acknowledged submissions to),
-- BENCH_DURATION (the workloads' `duration`, default "1h"), BENCH_WS (one workspace for
-- every request: bench/bench_fair.sh; unset: bench/a and bench/b alternate).
-- Each wrk thread numbers its own requests; names are <run>-<thread>-<n>, alternating
-- between the workspaces bench/a and bench/b. Each 201 reply's workload name is kept, so
-- the script can check afterwards that every acknowledged submission is on the server.

local threads = {}
local thread_no = 0

function setup(thread)
  thread:set("tid", thread_no)
  thread_no = thread_no + 1
  table.insert(threads, thread)
end

local token = os.getenv("ALLOT_TOKEN") or ""
local run = os.getenv("BENCH_RUN") or "b"
local duration = os.getenv("BENCH_DURATION") or "1h"
local only_ws = os.getenv("BENCH_WS")
local shapes = { 1, 1, 1, 1, 2, 2, 4, 8 } -- GPUs per replica: mostly small, some whole nodes

local headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Content-Type"] = "application/json",
}

function init(args)
  sent = 0
  acked = {}
  n_acked = 0
  other = 0
end

function request()
  sent = sent + 1
  local ws = only_ws or ((sent % 2 == 0) and "bench/a" or "bench/b")
  local body = string.format(
    '{"name":"%s-%d-%d","workspace":"%s","kind":"training","gpus":%d,"duration":"%s"}',
    run, tid, sent, ws, shapes[(sent % #shapes) + 1], duration)
  return wrk.format("POST", "/v1/workloads", headers, body)
end

function response(status, hdrs, body)
  if status == 201 then
    local name = body:match('"name":"([^"]+)"')
    n_acked = n_acked + 1
    acked[n_acked] = name or "?"
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local out = os.getenv("BENCH_ACKED")
  local f = out and io.open(out, "w")
  local sent_all, acked_all, other_all = 0, 0, 0
  for _, t in ipairs(threads) do
    sent_all = sent_all + t:get("sent")
    other_all = other_all + t:get("other")
    local names = t:get("acked")
    local n = t:get("n_acked")
    acked_all = acked_all + n
    if f then
      for i = 1, n do
        f:write(names[i], "\n")
      end
    end
  end
  if f then f:close() end
  io.write(string.format("bench: requests written %d, 201 replies %d, other replies %d\n",
    sent_all, acked_all, other_all))
  io.write(string.format("bench: latency us p50 %d p90 %d p99 %d p99.9 %d max %d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
