-- Injected faults, per route name (see the route tables of unipile.lua
-- and resend.lua; "*" matches every route), optionally only for requests
-- whose URI or body contains `match` (a provider id, say).  A fault is
-- used up after `times` requests.  Kinds:
--   status  answer `status` with the service's own error body, no effect
--           (429/500/503/504 have their bodies; any other 4xx/5xx needs
--           `type`, e.g. "errors/cannot_invite_attendee", or for Resend
--           `name`; `title`, `detail` or `message` are optional)
--   timeout hold the request `ms`, then close without answering, no effect
--   slow    wait `ms`, then serve normally
--   drop    serve (the effect happens) but close without answering
local state = require "state"
local respond = require "respond"

local _M = {}

_M.kinds = { status = true, timeout = true, slow = true, drop = true }

local unipile_errors = {
    [429] = { "too_many_requests", "Too many requests",
              "The provider cannot accept any more requests at the moment."
              .. " Please try again later." },
    [500] = { "unexpected_error", "Unexpected error",
              "Something went wrong. Please try again later." },
    [503] = { "service_unavailable", "Service unavailable",
              "The service is temporarily unavailable."
              .. " Please try again later." },
    [504] = { "request_timeout", "Request timeout",
              "The provider did not answer in time." },
}

local resend_errors = {
    [429] = { "rate_limit_exceeded",
              "Too many requests. You can only make 2 requests per second."
              .. " See rate limit response headers for more information." },
    [500] = { "application_error",
              "An unexpected error occurred, please try again later." },
    [503] = { "service_unavailable",
              "We are temporarily unavailable, please try again later." },
}

-- validates and stores a fault; returns nil and why when it is unusable
function _M.add(f)
    if not _M.kinds[f.kind] then
        return nil, "kind must be status, timeout, slow or drop"
    end
    if type(f.route) ~= "string" then
        return nil, "route is required"
    end
    if f.kind == "status" and not unipile_errors[f.status]
       and not (type(f.status) == "number" and f.status >= 400
                and f.status <= 599 and (f.type or f.name))
    then
        return nil, "status must be 429, 500, 503 or 504,"
            .. " or a 4xx/5xx with a type (Unipile) or name (Resend)"
    end
    if f.kind ~= "status" and f.kind ~= "drop"
       and type(f.ms) ~= "number"
    then
        return nil, "ms is required for " .. f.kind
    end
    local all = state.value("faults") or {}
    all[#all + 1] = {
        route = f.route, kind = f.kind, status = f.status, ms = f.ms,
        times = type(f.times) == "number" and f.times or 1,
        retry_after = f.retry_after, match = f.match, type = f.type,
        name = f.name, title = f.title, detail = f.detail,
        message = f.message,
    }
    state.set_value("faults", all)
    return all[#all]
end

local function concerns(f, route)
    if f.route ~= route and f.route ~= "*" then
        return false
    end
    return not f.match
        or ngx.var.request_uri:find(f.match, 1, true) ~= nil
        or respond.body():find(f.match, 1, true) ~= nil
end

-- takes one use of the first fault for this request, or nil
local function take(route)
    local all = state.value("faults") or {}
    for i, f in ipairs(all) do
        if concerns(f, route) then
            f.times = f.times - 1
            if f.times <= 0 then
                table.remove(all, i)
            end
            state.set_value("faults", all)
            return f
        end
    end
end

local function fail(f, family)
    local headers = f.retry_after
        and { ["Retry-After"] = tostring(f.retry_after) } or nil
    if family == "resend" then
        local e = resend_errors[f.status] or resend_errors[500]
        return respond.resend_error(f.status, f.name or e[1],
                                    f.message or e[2], headers)
    end
    local e = unipile_errors[f.status] or {}
    return respond.send(f.status, {
        status = f.status,
        type = f.type or (e[1] and "errors/" .. e[1])
            or "errors/unexpected_error",
        title = f.title or e[2] or f.type,
        detail = f.detail or e[3],
    }, headers)
end

-- applies the next fault for route (family "unipile" or "resend"); it
-- returns only when the request is to be served
function _M.apply(route, family)
    local f = take(route)
    if not f then
        return
    end
    ngx.log(ngx.NOTICE, "sim: fault ", f.kind, " on ", route)
    if f.kind == "status" then
        return fail(f, family)
    elseif f.kind == "timeout" then
        ngx.sleep(f.ms / 1000)
        return ngx.exit(444)
    elseif f.kind == "slow" then
        ngx.sleep(f.ms / 1000)
    else
        ngx.ctx.drop = true
    end
end

return _M
