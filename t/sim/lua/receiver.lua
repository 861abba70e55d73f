-- A webhook receiver for tests, served by the same nginx as the
-- simulator: it records every request it gets (path, headers, body) in
-- the simulator's state, and answers 500 to the first N requests of a
-- path containing "/fail-N/" (200 otherwise), to exercise retries.
-- GET /_receiver/log lists what arrived, oldest first.
local json = require "json"
local state = require "state"
local respond = require "respond"

local _M = {}

function _M.handle()
    if ngx.var.uri == "/_receiver/log" then
        return respond.send(200, { received = json.array(
            state.list("received")) })
    end
    local hits = state.incr("received:" .. ngx.var.uri)
    local fail_first = tonumber(ngx.var.uri:match("/fail%-(%d+)/")) or 0
    local status = hits <= fail_first and 500 or 200
    local headers = {}
    for k, v in pairs(ngx.req.get_headers()) do
        headers[k:lower()] = v
    end
    state.put("received", {
        id = tostring(state.incr("received")), path = ngx.var.uri,
        method = ngx.req.get_method(), headers = headers,
        body = respond.body(), answered = status,
    })
    ngx.status = status
    ngx.header["Content-Length"] = 0
    return ngx.exit(status)
end

return _M
