-- Test-side helpers for talking to the simulator from a content_by_lua
-- block of the same nginx: JSON calls, multipart forms, polling.
local http = require "liauto.http"
local json = require "json"

local _M = { api_key = "sim-key", resend_key = "re_sim" }

-- call("POST", "/api/v1/users/invite", {…}) → { status, headers, body,
-- json }; a table body is sent as JSON; /api/v1 calls carry the API key
-- unless headers["X-API-KEY"] is false
function _M.call(method, path, body, headers)
    headers = headers or {}
    if path:find("^/api/v1/") and headers["X-API-KEY"] == nil then
        headers["X-API-KEY"] = _M.api_key
    end
    if headers["X-API-KEY"] == false then
        headers["X-API-KEY"] = nil
    end
    if type(body) == "table" then
        body = json.encode(body)
        headers["Content-Type"] = headers["Content-Type"]
            or "application/json"
    end
    local res, err = http.request(method, path,
                                  { headers = headers, body = body })
    if not res then
        return { status = 0, error = err }
    end
    res.json = json.decode(res.body)
    return res
end

-- form({ { "account_id", "…" }, { "attendees_ids", "…" } }) → body,
-- content type
function _M.form(fields)
    local boundary = "----simform" .. math.random(1e9)
    local parts = {}
    for _, f in ipairs(fields) do
        parts[#parts + 1] = "--" .. boundary .. "\r\n"
            .. 'Content-Disposition: form-data; name="' .. f[1] .. '"\r\n'
            .. "\r\n" .. f[2] .. "\r\n"
    end
    return table.concat(parts) .. "--" .. boundary .. "--\r\n",
           "multipart/form-data; boundary=" .. boundary
end

function _M.post_form(path, fields)
    local body, content_type = _M.form(fields)
    return _M.call("POST", path, body, { ["Content-Type"] = content_type })
end

-- polls fn() every 20 ms until it returns a true value or ms pass
function _M.wait(fn, ms)
    local deadline = ngx.now() + (ms or 3000) / 1000
    repeat
        local v = fn()
        if v then
            return v
        end
        ngx.sleep(0.02)
        ngx.update_time()
    until ngx.now() > deadline
    return nil
end

-- the webhook requests the test receiver got, oldest first
function _M.received(path_part)
    local out = {}
    for _, r in ipairs(_M.call("GET", "/_receiver/log").json.received) do
        if not path_part or r.path:find(path_part, 1, true) then
            out[#out + 1] = r
        end
    end
    return out
end

-- a person and an OK account in one go: returns account, person
function _M.world(account, person)
    local a = _M.call("POST", "/_sim/accounts", account or {}).json
    local p = _M.call("POST", "/_sim/people", person or {
        public_identifier = "ada-lovelace", first_name = "Ada",
        last_name = "Lovelace", company = "Analytical", title = "CTO",
    }).json
    return a, p
end

-- registers a webhook for source pointing at the test receiver
function _M.hook(source, path, extra)
    local body = { source = source, name = "t-" .. source,
        request_url = "http://127.0.0.1:" .. ngx.var.server_port .. path,
        headers = json.array({ { key = "Unipile-Auth", value = "s3cret" } }) }
    for k, v in pairs(extra or {}) do
        body[k] = v
    end
    return _M.call("POST", "/api/v1/webhooks", body).json.webhook_id
end

return _M
