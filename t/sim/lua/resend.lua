-- Resend's POST /emails (reference §5): Bearer key, required fields,
-- at most 50 recipients, an optional per-second rate limit with the
-- ratelimit-* headers, and Idempotency-Key semantics over 24 h (same
-- key and payload → the same id, nothing re-sent; another payload → 409
-- invalid_idempotent_request; first request still running → 409
-- concurrent_idempotent_requests).
local json = require "json"
local state = require "state"
local ids = require "ids"
local config = require "config"
local respond = require "respond"
local faults = require "faults"

local _M = {}

local fail = respond.resend_error

local function recipients(v)
    if type(v) == "string" then
        return json.array({ v })
    end
    if type(v) == "table" and json.is_array(v) then
        return v
    end
end

local function check_auth()
    local auth = ngx.var.http_authorization
    if not auth or not auth:match("^Bearer ") then
        return fail(401, "missing_api_key",
                    "Missing API key in the authorization header."
                    .. " Include the following header in the request:"
                    .. " Authorization: Bearer YOUR_API_KEY")
    end
    if auth:sub(8) ~= config.get("resend_key") then
        return fail(403, "invalid_api_key", "API key is invalid")
    end
end

local function validate(body)
    for _, field in ipairs({ "from", "to", "subject" }) do
        if body[field] == nil or body[field] == json.null then
            return fail(422, "missing_required_field",
                        "Missing `" .. field .. "` field.")
        end
    end
    local to = recipients(body.to)
    if not to or #to == 0 then
        return fail(422, "validation_error", "Invalid `to` field.")
    end
    if #to > 50 then
        return fail(422, "validation_error",
                    "Too many recipients. `to` accepts at most 50.")
    end
    return to
end

-- the remembered answer for key, or nil; answers the 409s itself
local function replay(key, fingerprint)
    local prior = state.get("idempotency", ngx.md5(key))
    if not prior
       or ids.now_ms() - prior.at_ms > state.setting("idempotency_ms")
    then
        return nil
    end
    if prior.fingerprint ~= fingerprint then
        return fail(409, "invalid_idempotent_request",
                    "Same idempotency key used with a different request"
                    .. " payload. Change your idempotency key or payload.")
    end
    if not prior.email_id then
        return fail(409, "concurrent_idempotent_requests",
                    "Same idempotency key used while original request is"
                    .. " still in progress. Try the request again later.")
    end
    return prior.email_id
end

-- the team's token bucket (resend_rate_per_s, 0 = unlimited): answers
-- 429 when empty; returns the ratelimit-* headers of the answer
local function rate_limit()
    local rate = state.setting("resend_rate_per_s")
    if rate <= 0 then
        return nil
    end
    local now = ids.now_ms()
    local b = state.value("resend_bucket") or { tokens = rate, at_ms = now }
    b.tokens = math.min(rate, b.tokens + (now - b.at_ms) * rate / 1000)
    b.at_ms = now
    local empty = b.tokens < 1
    if not empty then
        b.tokens = b.tokens - 1
    end
    state.set_value("resend_bucket", b)
    local headers = {
        ["ratelimit-limit"] = tostring(rate),
        ["ratelimit-remaining"] = tostring(math.floor(b.tokens)),
        ["ratelimit-reset"] = "1",
    }
    if empty then
        headers["retry-after"] = "1"
        return fail(429, "rate_limit_exceeded",
                    "Too many requests. You can only make " .. rate
                    .. " requests per second. See rate limit response"
                    .. " headers for more information.", headers)
    end
    return headers
end

local function send_email()
    check_auth()
    state.incr("calls:resend.emails")
    faults.apply("resend.emails", "resend")
    local limits = rate_limit()
    local raw = respond.body()
    local body = json.decode(raw)
    if type(body) ~= "table" or json.is_array(body) then
        return fail(422, "validation_error", "The body must be a JSON object.")
    end
    local to = validate(body)
    local key = ngx.var.http_idempotency_key
    local fingerprint = ngx.md5(json.encode(body))
    if key then
        if #key < 1 or #key > 256 then
            return fail(400, "invalid_idempotency_key",
                        "The key must be between 1-256 chars.")
        end
        local id = replay(key, fingerprint)
        if id then
            return respond.send(200, { id = id }, limits)
        end
        state.put("idempotency", { fingerprint = fingerprint,
                                   at_ms = ids.now_ms() }, ngx.md5(key))
    end
    -- the time the service takes once the key is taken: a second request
    -- with the same key meanwhile finds the first one in progress
    local busy = state.setting("email_processing_ms")
    if busy > 0 then
        ngx.sleep(busy / 1000)
    end
    local email = state.put("email", {
        id = ids.uuid(), from = body.from, to = to, subject = body.subject,
        html = body.html, text = body.text, reply_to = body.reply_to,
        tags = body.tags, idempotency_key = key, created_at = ids.iso(),
    })
    if key then
        state.put("idempotency", { fingerprint = fingerprint,
                                   at_ms = ids.now_ms(), email_id = email.id },
                  ngx.md5(key))
    end
    return respond.send(200, { id = email.id }, limits)
end

function _M.handle()
    if ngx.var.uri ~= "/emails" then
        return fail(404, "not_found", "The requested endpoint does not exist.")
    end
    if ngx.req.get_method() ~= "POST" then
        return fail(405, "method_not_allowed", "Method is not allowed.")
    end
    return send_email()
end

return _M
