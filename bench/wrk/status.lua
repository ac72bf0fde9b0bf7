-- wrk script: GET /tasks/<id>/ for a random id of the file BENCH_TASK_IDS (one a line), and
-- prints the BENCH_RESULT line bench/load.py reads. wrk counts statuses >= 400 as errors; any
-- other answer that is not a 200 reading task_status SUCCESS is counted too ("not_success").
local ids = {}
local threads = {}
not_success = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TASK_IDS")) do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time())
end

function request()
  return wrk.format("GET", "/tasks/" .. ids[math.random(#ids)] .. "/")
end

function response(status, headers, body)
  if status < 400 and (status ~= 200 or not string.find(body, '"task_status": "SUCCESS"', 1, true)) then
    not_success = not_success + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("not_success")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, "not_success": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, bad))
end
