-- wrk script of the load test (t/load/run-load.pl): sends the requests
-- of a list file in turn, counts the answers by status, and stops each
-- thread after its share of the requests, leaving a file DIR/done.N so
-- that the driver can end wrk (wrk itself only knows durations).
--
--   wrk -t T -c C -d 3600s -s mix.lua URL -- LIST PER_THREAD DIR
-- LIST: one request a line, "PATH" or "PATH HOST".
local threads = {}
local count = 0

function setup(thread)
   count = count + 1
   thread:set("tid", count)
   table.insert(threads, thread)
end

function init(args)
   reqs = {}
   for line in io.lines(args[1]) do
      local path, host = line:match("^(%S+)%s*(%S*)$")
      if path then
         local headers = {}
         if host ~= "" then headers["Host"] = host end
         table.insert(reqs, wrk.format("GET", path, headers))
      end
   end
   limit = tonumber(args[2])
   marker = args[3] .. "/done." .. tid
   idx = tid * 7
   n = 0
   statuses = {}
   stopped = false
end

function request()
   idx = idx % #reqs + 1
   return reqs[idx]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   n = n + 1
   if n >= limit and not stopped then
      stopped = true
      local f = io.open(marker, "w")
      if f then f:write(n) f:close() end
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local all = {}
   for _, t in ipairs(threads) do
      local s = t:get("statuses")
      if s then
         for k, v in pairs(s) do all[k] = (all[k] or 0) + v end
      end
   end
   io.write("STATUSES")
   for k, v in pairs(all) do io.write(" ", k, "=", v) end
   io.write("\n")
   io.write(string.format("SUMMARY requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, summary.errors.connect,
      summary.errors.read, summary.errors.write, summary.errors.status,
      summary.errors.timeout))
   io.write(string.format("LATENCY p50_us=%d p99_us=%d max_us=%d\n",
      latency:percentile(50), latency:percentile(99), latency.max))
end
