-- Webhook registrations and their deliveries.  A delivery is a POST of the
-- JSON payload to request_url carrying exactly the registered headers
-- (so no Content-Type unless one was registered, as Unipile does for
-- webhooks created through the API), retried with a doubling delay while
-- the answer is not 200, up to `webhook_retries` times.  Every attempt is
-- recorded on the delivery.  On demand (state value "delivery"): each
-- event delivered 1 + duplicates times, the next `lose` deliveries lost,
-- or deliveries held until released in a chosen order.  Messages of a
-- disconnected account are withheld until it is OK again, as Unipile
-- sends no message webhooks meanwhile and the backlog after a reconnect.
local json = require "json"
local state = require "state"
local ids = require "ids"

local _M = {}

-- events a registration gets when it names none (ref. §4.1)
local default_events = {
    messaging = { message_received = true },
    users = { new_relation = true },
    account_status = {
        creation_success = true, creation_fail = true, deleted = true,
        reconnected = true, sync_success = true, error = true,
        credentials = true, permissions = true,
    },
}

_M.sources = { messaging = true, users = true, account_status = true,
               email = true, email_tracking = true }

function _M.register(w)
    local rec = {
        id = ids.unipile(),
        request_url = w.request_url,
        source = w.source,
        name = w.name or "",
        format = w.format or "json",
        enabled = w.enabled ~= false,
        headers = w.headers or json.array(),
        events = w.events or json.array(),
        account_ids = w.account_ids or json.array(),
        created_at = ids.iso(),
    }
    return state.put("webhook", rec)
end

local function wants(w, event, account_id)
    if not w.enabled then
        return false
    end
    if #w.account_ids > 0 then
        local found = false
        for _, id in ipairs(w.account_ids) do
            found = found or id == account_id
        end
        if not found then
            return false
        end
    end
    if #w.events == 0 then
        return default_events[w.source][event] == true
    end
    for _, e in ipairs(w.events) do
        if e == event then
            return true
        end
    end
    return false
end

local function parse_url(url)
    local host, port, path = url:match("^http://([^:/]+):?(%d*)(/?.*)$")
    if not host then
        return nil
    end
    if host == "localhost" then
        host = "127.0.0.1"
    end
    return host, tonumber(port) or 80, path ~= "" and path or "/"
end

-- one POST; returns the status code, or nil and the reason
local function post(d)
    local host, port, path = parse_url(d.url)
    if not host then
        return nil, "unsupported url " .. d.url
    end
    local sock = ngx.socket.tcp()
    sock:settimeout(state.setting("webhook_timeout_ms"))
    local ok, err = sock:connect(host, port)
    if not ok then
        return nil, "connect: " .. err
    end
    local lines = { "POST " .. path .. " HTTP/1.1",
                    "Host: " .. host .. ":" .. port,
                    "Content-Length: " .. #d.body,
                    "Connection: close" }
    for _, h in ipairs(d.headers) do
        lines[#lines + 1] = h.key .. ": " .. h.value
    end
    ok, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. d.body)
    if not ok then
        sock:close()
        return nil, "send: " .. err
    end
    local line
    line, err = sock:receive("*l")
    sock:close()
    if not line then
        return nil, "receive: " .. err
    end
    local code = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
    if not code then
        return nil, "malformed status line: " .. line
    end
    return code
end

local schedule

-- one attempt of delivery id; schedules the next one when it failed
local function attempt(id, epoch)
    if state.epoch() ~= epoch then
        return
    end
    local d = state.get("delivery", id)
    local started = ids.now_ms()
    local status, err = post(d)
    if state.epoch() ~= epoch then
        return
    end
    d = state.get("delivery", id)
    d.attempts[#d.attempts + 1] = {
        at = ids.iso(started), status = status or json.null,
        error = err or json.null, ms = ids.now_ms() - started,
    }
    if status == 200 then
        d.status = "delivered"
    elseif #d.attempts > state.setting("webhook_retries") then
        d.status = "failed"
        ngx.log(ngx.WARN, "sim: webhook ", d.event, " to ", d.url,
                " given up after ", #d.attempts, " attempts: ",
                status or err)
    else
        d.status = "retrying"
        schedule(id, state.setting("webhook_retry_ms")
                     * 2 ^ (#d.attempts - 1))
    end
    state.put("delivery", d)
end

schedule = function (id, delay_ms)
    local ok, err = state.after(delay_ms, attempt, id, state.epoch())
    if not ok then
        ngx.log(ngx.ERR, "sim: cannot schedule webhook delivery ", id,
                ": ", err)
    end
end

-- sends `payload` (a table) to every registration of source that wants
-- event for account_id.  opts.name_key: where the registration's name
-- goes in the payload; opts.withhold: record the deliveries but send them
-- only on release_withheld (a disconnected account's messages)
function _M.emit(source, event, account_id, payload, opts)
    opts = opts or {}
    local mode = state.value("delivery") or {}
    for _, w in ipairs(state.list("webhook")) do
        if w.source == source and wants(w, event, account_id) then
            if opts.name_key then
                payload[opts.name_key] = w.name
            end
            local body = json.encode(payload)
            for copy = 1, 1 + (mode.duplicates or 0) do
                local d = state.put("delivery", {
                    id = ids.unipile(), webhook_id = w.id, url = w.request_url,
                    source = source, event = event, account_id = account_id,
                    headers = w.headers, body = body, copy = copy,
                    attempts = json.array(), created_at = ids.iso(),
                })
                if (mode.lose or 0) > 0 then
                    mode.lose = mode.lose - 1
                    d.status = "lost"
                elseif opts.withhold then
                    d.status = "withheld"
                elseif mode.hold then
                    d.status = "held"
                else
                    d.status = "pending"
                    schedule(d.id, 0)
                end
                state.put("delivery", d)
            end
        end
    end
    state.set_value("delivery", mode)
end

-- sends the deliveries keep() selects, one after the other in `order`
-- (fifo, reverse or shuffle); returns how many
local function release(keep, order)
    local chosen = state.list("delivery", keep)
    if order == "reverse" then
        table.sort(chosen, function (a, b) return a.seq > b.seq end)
    elseif order == "shuffle" then
        for i = #chosen, 2, -1 do
            local j = math.random(i)
            chosen[i], chosen[j] = chosen[j], chosen[i]
        end
    end
    for _, d in ipairs(chosen) do
        d.status = "pending"
        state.put("delivery", d)
    end
    local epoch = state.epoch()
    state.after(0, function ()
        for _, d in ipairs(chosen) do
            attempt(d.id, epoch)
        end
    end)
    return #chosen
end

-- ends holding and sends what was held
function _M.release_held(order)
    local mode = state.value("delivery") or {}
    mode.hold = false
    state.set_value("delivery", mode)
    return release(function (d) return d.status == "held" end, order)
end

-- an account is back: what it received meanwhile arrives in a burst
function _M.release_withheld(account_id)
    return release(function (d)
        return d.status == "withheld" and d.account_id == account_id
    end, "fifo")
end

return _M
