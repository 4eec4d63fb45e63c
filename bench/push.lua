-- wrk script of bench/run.sh push: POSTs small messages to random ClientIds.
--
--   wrk -t 2 -c 32 -d 30 -s bench/push.lua http://127.0.0.1:7102 -- single push- 2000
--   wrk ... -s bench/push.lua http://127.0.0.1:7102 -- close push- 2000    (Connection: close)
--   wrk ... -s bench/push.lua http://127.0.0.1:7102 -- batch push- 2000 100 (POST /push/batch)
--
-- Arguments: style (single | close | batch), ClientId prefix, number of clients (ids
-- <prefix>0 .. <prefix>N-1), messages per batch (batch only, default 100). Messages are
-- 32..64 bytes of text. The requests are made once per thread in init() (4,096 of them,
-- each to a random client), so a request costs wrk one table lookup, not a string build.
-- done() prints one line, "push-wrk: requests=... non_2xx_3xx=... ...", that run.sh reads.

local requests = {}
local n = 0

local function message()
    local len = math.random(32, 64)
    return string.rep("m", len)
end

function init(args)
    local style, prefix, clients, per = args[1] or "single", args[2] or "push-", tonumber(args[3] or "2000"),
        tonumber(args[4] or "100")
    -- Each thread its own sequence (wrk runs init once per thread, in its own Lua state).
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
    for i = 1, 4096 do
        if style == "batch" then
            local items = {}
            for k = 1, per do
                local m = message()
                items[k] = prefix .. math.random(0, clients - 1) .. " t " .. #m .. "\n" .. m .. "\n"
            end
            requests[i] = wrk.format("POST", "/push/batch", { ["Content-Type"] = "text/plain" }, table.concat(items))
        else
            local headers = { ["Content-Type"] = "text/plain; charset=utf-8" }
            if style == "close" then headers["Connection"] = "close" end
            requests[i] = wrk.format("POST", "/" .. prefix .. math.random(0, clients - 1), headers, message())
        end
    end
end

function request()
    n = n % 4096 + 1
    return requests[n]
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "push-wrk: requests=%d non_2xx_3xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
        "duration_us=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
        summary.requests, e.status, e.connect, e.read, e.write, e.timeout, summary.duration,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
