-- The control API under /_sim/ (no auth; for tests and the demo): script
-- the world, inject faults, and read back what was sent to whom.  JSON in,
-- JSON out; see t/sim/README.md for each route.
local json = require "json"
local state = require "state"
local config = require "config"
local respond = require "respond"
local faults = require "faults"
local webhooks = require "webhooks"
local linkedin = require "linkedin"
local unipile = require "unipile"

local _M = {}

local send = respond.send

local function fail(status, message)
    return send(status, { error = message })
end

local function body()
    local data = respond.body()
    if data == "" then
        return {}
    end
    local b, e = respond.json_body()
    if not b then
        return fail(400, "the body must be a JSON object: " .. e)
    end
    return b
end

local function account(id)
    local a = state.get("account", id)
    if not a then
        return fail(404, "no account " .. tostring(id))
    end
    return a
end

-- the three webhooks `./build.sh up` needs, when a base URL is configured
local function register_module_webhooks()
    local base = config.get("webhook_url_base")
    if base == "" then
        return
    end
    local auth = json.array({ { key = "Unipile-Auth",
                                value = config.get("webhook_secret") } })
    for _, w in ipairs({ { "users", "/users" }, { "messaging", "/messaging" },
                         { "account_status", "/account-status" } }) do
        webhooks.register({ source = w[1], request_url = base .. w[2],
                            name = "liauto-" .. w[1], headers = auth })
    end
end

function _M.reset()
    state.reset()
    register_module_webhooks()
end

-- called by init_worker: the first worker start gets a fresh world
function _M.boot()
    if not state.epoch() then
        _M.reset()
    end
end

-- runs fn now, or after after_ms (answering 202) when it is given
local function now_or_later(b, fn, ...)
    if type(b.after_ms) == "number" then
        local ok, e = state.after(b.after_ms, fn, ...)
        if not ok then
            return fail(500, "cannot schedule: " .. e)
        end
        return send(202, { scheduled_in_ms = b.after_ms })
    end
    local rec, e = fn(...)
    if not rec then
        return fail(e.status, e.title)
    end
    return send(200, rec)
end

local function matches(rec, args, fields)
    for _, f in ipairs(fields) do
        if args[f] and tostring(rec[f]) ~= args[f] then
            return false
        end
    end
    return true
end

local function listing(kind, args, fields)
    return json.array(state.list(kind, function (rec)
        return matches(rec, args, fields)
    end))
end

-- who received what and how many times: invitations and API-sent
-- messages per account and person, messages per chat, emails per address
local function sent_summary()
    local people, chats = {}, {}
    local function slot(account_id, provider_id)
        local key = account_id .. "/" .. provider_id
        people[key] = people[key] or { account_id = account_id,
            provider_id = provider_id, invitations = 0, messages = 0,
            notes = 0, replies = 0, texts = json.array() }
        return people[key]
    end
    for _, inv in ipairs(state.list("invitation")) do
        local s = slot(inv.account_id, inv.provider_id)
        s.invitations = s.invitations + 1
    end
    for _, m in ipairs(state.list("message")) do
        local s = slot(m.account_id, m.person_id)
        if m.origin == "api" then
            s.messages = s.messages + 1
            s.texts[#s.texts + 1] = m.text
        elseif m.origin == "note" then
            s.notes = s.notes + 1
        else
            s.replies = s.replies + 1
        end
        chats[m.chat_id] = (chats[m.chat_id] or 0) + 1
    end
    local emails = {}
    for _, e in ipairs(state.list("email")) do
        for _, to in ipairs(e.to) do
            emails[to] = (emails[to] or 0) + 1
        end
    end
    return { people = people, messages_per_chat = chats,
             emails_per_address = emails }
end

local function calls()
    local out = {}
    for name in pairs(unipile.route_names) do
        out[name] = state.count("calls:" .. name)
    end
    out["resend.emails"] = state.count("calls:resend.emails")
    return out
end

local routes = {
    { "POST", "^/reset$", function ()
        _M.reset()
        return send(200, { ok = true })
    end },
    { "GET", "^/config$", function ()
        local s = {}
        for k in pairs(config.defaults) do
            s[k] = state.setting(k)
        end
        return send(200, s)
    end },
    { "POST", "^/config$", function ()
        local b = body()
        local s = state.value("settings") or {}
        for k, v in pairs(b) do
            if config.defaults[k] == nil then
                return fail(400, "unknown setting " .. k)
            end
            s[k] = v
        end
        state.set_value("settings", s)
        return send(200, s)
    end },
    { "POST", "^/accounts$", function ()
        return send(201, linkedin.create_account(body()))
    end },
    { "POST", "^/accounts/([^/]+)/status$", function (id)
        local b = body()
        if type(b.status) ~= "string" then
            return fail(400, "status is required")
        end
        account(id)
        return send(200, (linkedin.set_account_status(id, b.status)))
    end },
    { "POST", "^/people$", function ()
        local b = body()
        if json.is_array(b.people) then
            local out = json.array()
            for i, p in ipairs(b.people) do
                out[i] = linkedin.create_person(p)
            end
            return send(201, { people = out })
        end
        return send(201, linkedin.create_person(b))
    end },
    { "POST", "^/invitations/([^/]+)/accept$", function (id)
        return now_or_later(body(), linkedin.accept, id)
    end },
    { "POST", "^/reply$", function ()
        local b = body()
        if type(b.account_id) ~= "string"
           or type(b.provider_id) ~= "string"
        then
            return fail(400, "account_id and provider_id are required")
        end
        return now_or_later(b, linkedin.reply, b.account_id, b.provider_id,
                            respond.str(b.text))
    end },
    { "POST", "^/faults$", function ()
        local f, e = faults.add(body())
        if not f then
            return fail(400, e)
        end
        return send(201, f)
    end },
    { "GET", "^/faults$", function ()
        return send(200, { faults = state.value("faults") or json.array() })
    end },
    { "DELETE", "^/faults$", function ()
        state.set_value("faults", json.array())
        return send(200, { ok = true })
    end },
    { "POST", "^/deliveries/mode$", function ()
        local b = body()
        local mode = {
            duplicates = tonumber(b.duplicates) or 0,
            lose = tonumber(b.lose) or 0,
            hold = b.hold == true,
        }
        state.set_value("delivery", mode)
        return send(200, mode)
    end },
    { "POST", "^/deliveries/release$", function ()
        local order = body().order or "fifo"
        return send(200, { released = webhooks.release_held(order) })
    end },
    { "GET", "^/deliveries$", function (_, args)
        return send(200, { deliveries = listing("delivery", args,
                           { "source", "event", "status", "account_id" }) })
    end },
    { "GET", "^/invitations$", function (_, args)
        return send(200, { invitations = listing("invitation", args,
                           { "account_id", "provider_id", "status" }) })
    end },
    { "GET", "^/messages$", function (_, args)
        return send(200, { messages = listing("message", args,
                           { "account_id", "person_id", "chat_id",
                             "origin" }) })
    end },
    { "GET", "^/emails$", function (_, args)
        return send(200, { emails = listing("email", args,
                           { "idempotency_key" }) })
    end },
    { "GET", "^/sent$", function ()
        return send(200, sent_summary())
    end },
    { "GET", "^/calls$", function ()
        return send(200, calls())
    end },
}

function _M.handle()
    local method = ngx.req.get_method()
    local path = ngx.var.uri:gsub("^/_sim", "")
    for _, r in ipairs(routes) do
        local from, _, capture = path:find(r[2])
        if from and method == r[1] then
            return r[3](capture, ngx.req.get_uri_args())
        end
    end
    return fail(404, "no control route " .. method .. " " .. ngx.var.uri)
end

return _M
