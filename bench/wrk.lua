-- The bench's wrk script (bench/load.ts runs `wrk -s bench/wrk.lua <url> -- <args>`).
-- Arguments: host, target, count, pick, exponent.
--   host     the origin's authority, sent as Host (through a proxy too, as `curl -x` does)
--   target   the request-target: `/1k` straight to the origin, `http://127.0.0.1:<port>/1k`
--            (absolute-form) through a proxy
--   count    0 = always `target`; N = `target?k=0` … `target?k=N-1`
--   pick     `turn`: each thread walks its share of the N URLs in order (thread t of T takes
--            k = t, t+T, …), so a pass requests every URL once and concurrent requests never
--            share one; `zipf`: URL of rank r drawn with weight 1 / r^exponent (a crawl's shape)
-- done() prints one line `wrk-json {…}` on stdout: counts and latency percentiles (µs).

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
  for _, t in ipairs(threads) do t:set("thread_count", #threads) end
end

local requests = {}
local count, pick, cdf
local next_turn = 1

function init(args)
  local host, target = args[1], args[2]
  count = tonumber(args[3]) or 0
  pick = args[4] or "turn"
  local exponent = tonumber(args[5]) or 1
  wrk.headers["Host"] = host
  if count == 0 then
    requests[1] = wrk.format("GET", target)
    return
  end
  for k = 0, count - 1 do requests[k + 1] = wrk.format("GET", target .. "?k=" .. k) end
  if pick == "zipf" then
    math.randomseed(1000 + thread_index)
    cdf = {}
    local total = 0
    for rank = 1, count do
      total = total + 1 / rank ^ exponent
      cdf[rank] = total
    end
    for rank = 1, count do cdf[rank] = cdf[rank] / total end
  else
    -- This thread's share: k = thread_index, thread_index + thread_count, …
    local mine = {}
    for k = thread_index, count - 1, thread_count do table.insert(mine, requests[k + 1]) end
    requests = mine
  end
end

local function zipf_rank()
  local u = math.random()
  local lo, hi = 1, count
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function request()
  if count == 0 then return requests[1] end
  if pick == "zipf" then return requests[zipf_rank()] end
  local req = requests[next_turn]
  next_turn = next_turn % #requests + 1
  return req
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'wrk-json {"durationUs":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
