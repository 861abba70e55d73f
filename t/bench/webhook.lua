-- wrk script of the "webhook ingest" scenario: Unipile's message_received
-- (t/bench/message_received.json, the capture of the reference, §4.5)
-- with a message_id of its own per request, and the shared secret.
-- Environment: LIAUTO_BENCH_WEBHOOK_BODY (that file),
-- LIAUTO_BENCH_WEBHOOK_SECRET.
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

local body, headers, prefix, n

function init(args)
    local f = assert(io.open(os.getenv("LIAUTO_BENCH_WEBHOOK_BODY")))
    body = f:read("*a"):gsub("\n$", "")
    f:close()
    headers = { ["Unipile-Auth"] = os.getenv("LIAUTO_BENCH_WEBHOOK_SECRET") }
    prefix = string.format("bench-%d-%d-", os.time(), tid)
    n = 0
end

function request()
    n = n + 1
    return wrk.format("POST", nil, headers,
                      (body:gsub("@ID@", prefix .. n)))
end
