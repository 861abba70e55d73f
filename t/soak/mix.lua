-- wrk script of ./build.sh soak-rss: a mixed load of reads, writes and
-- webhook ingest, paced to a target rate, every status counted.
-- Environment: LIAUTO_SOAK_TOKEN (an agent's JWT), LIAUTO_SOAK_LEAD (a lead
-- it sees), LIAUTO_SOAK_CAMPAIGN (a draft campaign new leads go to),
-- LIAUTO_SOAK_WEBHOOK_SECRET, LIAUTO_SOAK_WEBHOOK_BODY (a message_received
-- body with @ID@), LIAUTO_SOAK_DELAY_MS (pause before each request of a
-- connection; 0 = as fast as it goes, to measure capacity).
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

local auth, hook, body, lead, campaign, prefix, delay_ms
local n = 0
-- a global: done() reads it from each thread
statuses = {}

function init(args)
    local f = assert(io.open(os.getenv("LIAUTO_SOAK_WEBHOOK_BODY")))
    body = f:read("*a"):gsub("\n$", "")
    f:close()
    auth = { Authorization = "Bearer " .. os.getenv("LIAUTO_SOAK_TOKEN"),
             ["Content-Type"] = "application/json" }
    hook = { ["Unipile-Auth"] = os.getenv("LIAUTO_SOAK_WEBHOOK_SECRET"),
             ["Content-Type"] = "application/json" }
    lead = os.getenv("LIAUTO_SOAK_LEAD")
    campaign = os.getenv("LIAUTO_SOAK_CAMPAIGN")
    delay_ms = tonumber(os.getenv("LIAUTO_SOAK_DELAY_MS") or "0")
    -- unique across runs (one wrk per minute) and threads
    prefix = string.format("soak-%d-%d-%d-", os.time(), math.random(1e9), tid)
end

-- 10 requests a round: 4 lead reads, 2 pages, 1 health, 1 campaign
-- summary, 1 lead created, 1 webhook delivery
function request()
    local k = n % 10
    n = n + 1
    if k < 4 then
        return wrk.format("GET", "/api/v1/leads/" .. lead, auth)
    elseif k < 6 then
        return wrk.format("GET", "/api/v1/leads?limit=50", auth)
    elseif k == 6 then
        return wrk.format("GET", "/api/v1/health")
    elseif k == 7 then
        return wrk.format("GET", "/api/v1/campaigns/" .. campaign
                          .. "/analytics/summary", auth)
    elseif k == 8 then
        return wrk.format("POST", "/api/v1/leads", auth, string.format(
            '{"campaign_id":"%s","first_name":"Soak","last_name":"%d",'
            .. '"public_identifier":"%s%d"}', campaign, n, prefix, n))
    end
    return wrk.format("POST", "/api/v1/webhooks/unipile/messaging", hook,
                      (body:gsub("@ID@", prefix .. n)))
end

function delay()
    return delay_ms
end

function response(status, headers, b)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        -- a table of a thread comes back as a copy
        for s, c in pairs(t:get("statuses")) do
            total[s] = (total[s] or 0) + c
        end
    end
    for s, c in pairs(total) do
        io.write(string.format("status %d %d\n", s, c))
    end
end
