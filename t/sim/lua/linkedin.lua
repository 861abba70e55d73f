-- The simulated LinkedIn behind Unipile: accounts, people, invitations,
-- relations, chats and messages, and the webhooks their changes cause.
-- Route handlers (unipile.lua) and the control API (control.lua) both act
-- through these functions, so a command and an API call have the same
-- effects.  Failures are returned as { status, type, title, detail }.
local json = require "json"
local state = require "state"
local ids = require "ids"
local webhooks = require "webhooks"

local _M = {}

local function err(status, kind, title, detail)
    return { status = status, type = kind, title = title, detail = detail }
end

local function utf8_len(s)
    local _, n = s:gsub("[^\128-\191]", "")
    return n
end

local function later(ms, fn, ...)
    local ok, e = state.after(ms, fn, ...)
    if not ok then
        ngx.log(ngx.ERR, "sim: cannot schedule a timer: ", e)
    end
end

---------------------------------------------------------------- accounts

local ok_statuses = { OK = true, RECONNECTED = true, CREATION_SUCCESS = true,
                      SYNC_SUCCESS = true }

function _M.account_ok(a)
    return ok_statuses[a.status] == true
end

function _M.create_account(o)
    return state.put("account", {
        id = o.id or ids.unipile(),
        name = o.name or "Sim Sender",
        status = o.status or "OK",
        user_id = o.user_id or o.provider_id or ids.member(),
        public_identifier = o.public_identifier or "sim-sender",
        attendee_id = ids.unipile(),
        weekly_invite_cap = o.weekly_invite_cap or 200,
        premium = o.premium == true,
        created_at = ids.iso(),
    })
end

-- changes the status and tells the account_status webhooks
function _M.set_account_status(account_id, status)
    local a = state.get("account", account_id)
    if not a then
        return nil, err(404, "errors/resource_not_found", "Account not found")
    end
    a.status = status
    state.put("account", a)
    webhooks.emit("account_status", status:lower(), a.id, {
        AccountStatus = { account_id = a.id, message = status,
                          account_type = "LINKEDIN" },
    })
    if _M.account_ok(a) then
        webhooks.release_withheld(a.id)
    end
    return a
end

---------------------------------------------------------------- people

function _M.create_person(o)
    local p = {
        provider_id = o.provider_id or ids.member(),
        public_identifier = o.public_identifier or json.null,
        first_name = o.first_name or "Lead",
        last_name = o.last_name or "Person",
        company = o.company or json.null,
        title = o.title or json.null,
        member_urn = tostring(o.member_urn or math.random(100000, 999999999)),
        accept_after_ms = o.accept_after_ms,
        reply_after_ms = o.reply_after_ms,
        reply_text = o.reply_text,
    }
    state.put("person", p, p.provider_id)
    if type(p.public_identifier) == "string" then
        state.put("slug", { provider_id = p.provider_id },
                  p.public_identifier:lower())
    end
    return p
end

-- a person made up from an identifier: "jane-doe" → Jane Doe
local function invent_person(identifier)
    if identifier:find("^ACoAA") then
        return _M.create_person({ provider_id = identifier })
    end
    local function title_case(words)
        return (words:gsub("%-", " "):gsub("(%w)(%w*)", function (a, b)
            return a:upper() .. b
        end))
    end
    local first, last = identifier:match("^([^-]+)%-?(.*)$")
    return _M.create_person({
        public_identifier = identifier,
        first_name = title_case(first),
        last_name = last ~= "" and title_case(last) or "Person",
    })
end

-- a person from a provider id or a public identifier; with the
-- auto_people setting an unknown one is made up, as if everyone existed
function _M.find_person(identifier)
    local p = state.get("person", identifier)
    if p then
        return p
    end
    local slug = state.get("slug", identifier:lower())
    if slug then
        return state.get("person", slug.provider_id)
    end
    if state.setting("auto_people") and identifier:find("^[%w_-]+$") then
        return invent_person(identifier)
    end
end

function _M.full_name(p)
    return p.first_name .. " " .. p.last_name
end

function _M.relation(account_id, provider_id)
    return state.get("relation", account_id .. "/" .. provider_id)
end

-- the latest invitation from an account to a person, through an index
-- so that sending stays O(1) however many were sent before
function _M.last_invitation(account_id, provider_id)
    local ref = state.get("invof", account_id .. "/" .. provider_id)
    return ref and state.get("invitation", ref.id)
end

---------------------------------------------------------------- invitations

local landings = { 95, 90, 75, 50 }
local DAY_MS = 24 * 3600 * 1000

-- invitations of the last 7 days (UTC days, today included), from
-- per-day counters
local function week_count(account_id, now)
    local today = math.floor(now / DAY_MS)
    local n = 0
    for day = today - 6, today do
        n = n + state.count("invday:" .. account_id .. ":" .. day)
    end
    return n
end

-- the checks of POST /users/invite, in the order the service makes them
local function refuse_invite(a, p, note)
    if note and utf8_len(note) > 300 then
        return err(400, "errors/too_many_characters", "Too many characters",
                   "The provided content exceeds the character limit.")
    end
    if not p then
        return err(404, "errors/resource_not_found", "User not found")
    end
    if _M.relation(a.id, p.provider_id) then
        return err(422, "errors/already_connected", "Already connected",
                   "You are already connected to this user.")
    end
    local last = _M.last_invitation(a.id, p.provider_id)
    if last and last.status == "PENDING" then
        return err(422, "errors/already_invited_recently",
                   "Already sent invitation recently",
                   "An invitation to this recipient is already pending.")
    end
    local now = ids.now_ms()
    local cooling = last and last.status == "WITHDRAWN"
        and now - last.withdrawn_ms < state.setting("resend_cooldown_ms")
    if cooling or week_count(a.id, now) >= a.weekly_invite_cap then
        return err(422, "errors/cannot_resend_yet", "Cannot resend yet",
                   "You have reached a temporary provider limit."
                   .. " Please try again later.")
    end
end

-- invite(account, person or nil, note or nil) → invitation, usage or nil,
-- error
function _M.invite(a, p, note)
    local refused = refuse_invite(a, p, note)
    if refused then
        return nil, refused
    end
    local now = ids.now_ms()
    local before = week_count(a.id, now) * 100 / a.weekly_invite_cap
    local inv = state.put("invitation", {
        id = ids.invitation(), account_id = a.id, provider_id = p.provider_id,
        message = note or json.null, created_ms = now, status = "PENDING",
    })
    state.put("invof", { id = inv.id }, a.id .. "/" .. p.provider_id)
    state.incr("invday:" .. a.id .. ":" .. math.floor(now / DAY_MS))
    local after = week_count(a.id, now) * 100 / a.weekly_invite_cap
    local usage
    for _, landing in ipairs(landings) do
        if before < landing and after >= landing then
            usage = landing
            break
        end
    end
    local delay = p.accept_after_ms or state.setting("accept_after_ms")
    if delay >= 0 then
        later(delay, _M.accept, inv.id)
    end
    return inv, usage
end

function _M.withdraw(account_id, invitation_id)
    local inv = state.get("invitation", invitation_id)
    if not inv or inv.status ~= "PENDING"
       or (account_id and inv.account_id ~= account_id)
    then
        return nil, err(404, "errors/resource_not_found",
                        "Invitation not found")
    end
    inv.status = "WITHDRAWN"
    inv.withdrawn_ms = ids.now_ms()
    return state.put("invitation", inv)
end

---------------------------------------------------------------- chats

local function chat_key(account_id, provider_id)
    return account_id .. "/" .. provider_id
end

function _M.chat_with(account_id, provider_id)
    local ref = state.get("chatof", chat_key(account_id, provider_id))
    return ref and state.get("chat", ref.chat_id)
end

local function ensure_chat(a, p, now)
    local chat = _M.chat_with(a.id, p.provider_id)
    if chat then
        return chat
    end
    chat = state.put("chat", {
        id = ids.unipile(), account_id = a.id, provider_id = ids.provider(),
        attendee_provider_id = p.provider_id, attendee_id = ids.unipile(),
        created_ms = now, timestamp_ms = now,
    })
    state.put("chatof", { chat_id = chat.id }, chat_key(a.id, p.provider_id))
    return chat
end

local function attendee(chat, p)
    return {
        attendee_id = chat.attendee_id,
        attendee_provider_id = p.provider_id,
        attendee_name = _M.full_name(p),
        attendee_profile_url = "https://www.linkedin.com/in/"
            .. p.provider_id,
        attendee_specifics = {
            provider = "LINKEDIN", member_urn = "urn:li:member:"
            .. p.member_urn, occupation = p.title, is_company = false,
            network_distance = "DISTANCE_1",
        },
        attendee_public_identifier = json.null,
    }
end

local function own_attendee(a)
    return {
        attendee_id = a.attendee_id,
        attendee_provider_id = a.user_id,
        attendee_name = a.name,
        attendee_profile_url = "https://www.linkedin.com/in/" .. a.user_id,
        attendee_specifics = {
            provider = "LINKEDIN", member_urn = "urn:li:member:1",
            occupation = json.null, is_company = false,
            network_distance = "SELF",
        },
        attendee_public_identifier = a.public_identifier,
    }
end

-- the messaging webhook body, shaped like the real capture (ref. §4.5)
local function message_received(a, p, chat, m)
    return {
        event = "message_received",
        account_id = a.id,
        account_type = "LINKEDIN",
        account_info = { type = "LINKEDIN", feature = "classic",
                         user_id = a.user_id },
        chat_id = chat.id,
        attendees = json.array({ attendee(chat, p) }),
        sender = m.is_sender and own_attendee(a) or attendee(chat, p),
        subject = json.null,
        message = m.text,
        message_id = m.id,
        timestamp = ids.iso(m.timestamp_ms),
        attachments = json.array(),
        is_sender = m.is_sender,
        provider_chat_id = chat.provider_id,
        provider_message_id = m.provider_id,
        is_event = 0,
        chat_pinned = 0,
        quoted = json.null,
        reply_to = json.null,
        is_forwarded = json.null,
        chat_content_type = json.null,
        message_type = "MESSAGE",
        is_group = false,
        folder = json.array({ "INBOX", "INBOX_LINKEDIN_CLASSIC" }),
        event_type = json.null,
    }
end

-- adds a message to the chat of a and p and delivers message_received;
-- origin says how it came to be: "api", "note" or "reply"
local function add_message(a, p, text, is_sender, origin)
    local now = ids.now_ms()
    local chat = ensure_chat(a, p, now)
    chat.timestamp_ms = now
    state.put("chat", chat)
    local m = state.put("message", {
        id = ids.unipile(), chat_id = chat.id, account_id = a.id,
        provider_id = ids.provider(), chat_provider_id = chat.provider_id,
        person_id = p.provider_id,
        sender_id = is_sender and a.user_id or p.provider_id,
        sender_attendee_id = is_sender and a.attendee_id or chat.attendee_id,
        text = text, is_sender = is_sender, timestamp_ms = now,
        origin = origin,
    })
    webhooks.emit("messaging", "message_received", a.id,
                  message_received(a, p, chat, m),
                  { name_key = "webhook_name",
                    withhold = not _M.account_ok(a) })
    return m, chat
end

-- a lead's answer; scheduled once per person when reply_after_ms is set
function _M.reply(account_id, provider_id, text)
    local a = state.get("account", account_id)
    local p = state.get("person", provider_id)
    if not a or not p then
        return nil, err(404, "errors/resource_not_found",
                        "Account or person not found")
    end
    return add_message(a, p, text or p.reply_text
                       or state.setting("reply_text"), false, "reply")
end

local function maybe_auto_reply(a, p)
    local delay = p.reply_after_ms or state.setting("reply_after_ms")
    if delay < 0 or p.auto_reply_armed then
        return
    end
    p.auto_reply_armed = true
    state.put("person", p, p.provider_id)
    later(delay, _M.reply, a.id, p.provider_id)
end

-- a message sent through the API (first one or into an existing chat)
function _M.send_message(a, p, text, origin)
    local m, chat = add_message(a, p, text, true, origin or "api")
    maybe_auto_reply(a, p)
    return m, chat
end

-- an invitation is accepted: relation, webhook, and the note as a chat
function _M.accept(invitation_id)
    local inv = state.get("invitation", invitation_id)
    if not inv or inv.status ~= "PENDING" then
        return nil, err(404, "errors/resource_not_found",
                        "No pending invitation " .. tostring(invitation_id))
    end
    local a = state.get("account", inv.account_id)
    local p = state.get("person", inv.provider_id)
    inv.status = "ACCEPTED"
    inv.accepted_ms = ids.now_ms()
    state.put("invitation", inv)
    state.put("relation", {
        account_id = a.id, provider_id = p.provider_id,
        created_ms = inv.accepted_ms,
    }, chat_key(a.id, p.provider_id))
    local slug = p.public_identifier
    webhooks.emit("users", "new_relation", a.id, {
        event = "new_relation",
        account_id = a.id,
        account_type = "LINKEDIN",
        user_full_name = _M.full_name(p),
        user_provider_id = p.provider_id,
        user_public_identifier = slug,
        user_profile_url = "https://www.linkedin.com/in/"
            .. (type(slug) == "string" and slug or p.provider_id) .. "/",
        user_picture_url = "https://media.licdn.com/dms/image/sim/"
            .. p.provider_id,
    }, { name_key = "webhook_name" })
    if type(inv.message) == "string" then
        add_message(a, p, inv.message, true, "note")
    end
    return inv
end

return _M
