-- The wrk script of benches/load.sh: every connection goes round-robin
-- through the sessions `load.sh` created with POST /login (one cookie a
-- line in $LOAD_COOKIES), four GET /read then one POST /write, again and
-- again. wrk keeps no cookie per connection, so the sessions come from
-- that file; each thread starts at its own offset in it.
--
-- done() prints one line for load.sh:
--   RESULT requests=N duration_us=N p50=µs p99=µs p999=µs non2xx=N socket=N

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   reads, writes = {}, {}
   for cookie in io.lines(os.getenv("LOAD_COOKIES")) do
      reads[#reads + 1] = wrk.format("GET", "/read", { Cookie = cookie })
      writes[#writes + 1] = wrk.format("POST", "/write", { Cookie = cookie }, "")
   end
   sessions = #reads
   -- threads spread over the sessions
   n = id * math.floor(sessions / 4 + 1)
   bad = 0
end

function request()
   local i = n % sessions + 1
   local r
   if n % 5 == 4 then
      r = writes[i]
   else
      r = reads[i]
   end
   n = n + 1
   return r
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local non2xx = 0
   for _, thread in ipairs(threads) do
      non2xx = non2xx + thread:get("bad")
   end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50=%d p99=%d p999=%d non2xx=%d socket=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
      non2xx, e.connect + e.read + e.write + e.timeout))
end
