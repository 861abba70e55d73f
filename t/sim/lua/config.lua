-- The simulator's settings: fixed ones come from nginx.conf (init_by_lua,
-- before the workers fork), tunable ones are kept in the shared state so
-- the control API can change them at run time (see control.lua).
local _M = {}

local fixed = {
    api_key = "",            -- X-API-KEY every Unipile call must carry
    resend_key = "",         -- Bearer key of POST /emails
    webhook_url_base = "",   -- when set, reset registers the 3 webhooks
    webhook_secret = "",     -- value of their Unipile-Auth header
}

-- tunables and their defaults; numbers are milliseconds unless named
_M.defaults = {
    accept_after_ms = -1,        -- < 0: invitations wait for a command
    reply_after_ms = -1,         -- < 0: leads reply only on command
    reply_text = "Thanks, happy to chat",
    webhook_retry_ms = 1000,     -- first retry delay, doubled each time
    webhook_retries = 5,         -- retries after the first attempt
    webhook_timeout_ms = 30000,  -- an answer slower than this is a failure
    resend_cooldown_ms = 21 * 24 * 3600 * 1000,  -- after a withdrawal
    idempotency_ms = 24 * 3600 * 1000,
    email_processing_ms = 0,     -- how long POST /emails holds its key
    resend_rate_per_s = 0,       -- Resend's team rate limit; 0 = none
    auto_people = false,         -- unknown profiles exist (made on lookup)
    clock_offset_ms = 0,         -- the simulator's clock runs this far ahead
}

function _M.init(settings)
    for k, v in pairs(settings) do
        if fixed[k] == nil then
            error("unknown simulator setting " .. k)
        end
        fixed[k] = v
    end
end

function _M.get(name)
    return fixed[name]
end

return _M
