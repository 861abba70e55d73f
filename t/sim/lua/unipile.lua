-- Unipile API v1 routes (reference §0–§4): shapes, status codes and error
-- bodies of the real service.  Each route has a name; faults and call
-- counts are kept per name.
local json = require "json"
local state = require "state"
local ids = require "ids"
local config = require "config"
local respond = require "respond"
local paging = require "paging"
local faults = require "faults"
local multipart = require "multipart"
local webhooks = require "webhooks"
local linkedin = require "linkedin"

local _M = {}

local send, fail = respond.send, respond.unipile_error

-- captured byte for byte (ref. §0)
local MISSING_CREDENTIALS = '{"status":401,"type":"errors/missing_credentials",'
    .. '"title":"Missing credentials"}'

local function fail_with(e)
    return fail(e.status, e.type:gsub("^errors/", ""), e.title, e.detail)
end

local function bad_parameter(detail)
    return fail(400, "invalid_parameters", "Invalid parameters", detail)
end

-- the account named by account_id (query or body); answers the error
local function account_of(account_id)
    if type(account_id) ~= "string" or account_id == "" then
        return bad_parameter("account_id is required")
    end
    local a = state.get("account", account_id)
    if not a then
        return fail(404, "resource_not_found", "Account not found",
                    "Account " .. account_id .. " not found")
    end
    return a
end

local function usable_account(account_id)
    local a = account_of(account_id)
    if not linkedin.account_ok(a) then
        return fail(401, "disconnected_account", "Disconnected account",
                    "The account appears to be disconnected (status "
                    .. a.status .. ")")
    end
    return a
end

local function page_or_fail(records, args, object, opts)
    local body, e = paging.page(records, args, object, opts)
    if not body then
        return bad_parameter(e)
    end
    return send(200, body)
end

local ISO_MS = "^[12]%d%d%d%-[01]%d%-[0-3]%dT%d%d:%d%d:%d%d%.%d%d%dZ$"

-- before/after filters (exclusive) over timestamp_ms; answers 400
local function time_filter(args)
    for _, k in ipairs({ "before", "after" }) do
        if args[k] and not tostring(args[k]):match(ISO_MS) then
            return bad_parameter(k .. " must look like"
                                 .. " 2026-07-06T09:43:27.002Z")
        end
    end
    local before, after = args.before, args.after
    return function (ms)
        local iso = ids.iso(ms)
        return (not before or iso < before) and (not after or iso > after)
    end
end

---------------------------------------------------------------- views

local function account_view(a)
    return {
        object = "Account", type = "LINKEDIN", id = a.id, name = a.name,
        created_at = a.created_at,
        connection_params = { im = {
            id = a.user_id, publicIdentifier = a.public_identifier,
            username = a.name, connection_method = "credentials",
            premiumId = json.null, premiumFeatures = json.array(),
            premiumContractId = json.null, organizations = json.array(),
        } },
        sources = json.array({ {
            id = a.id .. "_MESSAGING",
            status = linkedin.account_ok(a) and "OK" or a.status,
        } }),
        groups = json.array(),
    }
end

local function profile_view(a, p)
    local related = linkedin.relation(a.id, p.provider_id) ~= nil
    local view = {
        object = "UserProfile", provider = "LINKEDIN",
        provider_id = p.provider_id, public_identifier = p.public_identifier,
        member_urn = p.member_urn, first_name = p.first_name,
        last_name = p.last_name,
        headline = type(p.title) == "string" and type(p.company) == "string"
            and p.title .. " at " .. p.company or p.title,
        websites = json.array(), location = json.null,
        is_open_profile = false, is_premium = false, is_influencer = false,
        is_creator = false, is_relationship = related, is_self = false,
        network_distance = related and "FIRST_DEGREE" or "SECOND_DEGREE",
        follower_count = 100, connections_count = 500,
        work_experience = json.array(type(p.company) == "string" and {
            { company = p.company, position = p.title } } or {}),
        public_profile_url = type(p.public_identifier) == "string"
            and "https://www.linkedin.com/in/" .. p.public_identifier .. "/"
            or json.null,
    }
    local inv = linkedin.last_invitation(a.id, p.provider_id)
    if inv and inv.status ~= "ACCEPTED" then
        view.invitation = { type = "SENT", status = inv.status }
    end
    return view
end

local function own_profile_view(a)
    return {
        object = "AccountOwnerProfile", provider = "LINKEDIN",
        provider_id = a.user_id, public_identifier = a.public_identifier,
        first_name = a.name:match("^(%S+)") or a.name,
        last_name = a.name:match("^%S+%s+(.*)$") or "",
        headline = "", premium = false, open_profile = false,
        organizations = json.array(),
    }
end

local function invitation_view(inv)
    local p = state.get("person", inv.provider_id)
    local days = math.floor((ids.now_ms() - inv.created_ms) / 86400000)
    return {
        object = "InvitationSent", id = inv.id,
        date = days == 0 and "Sent today" or "Sent " .. days .. " days ago",
        parsed_datetime = ids.iso(inv.created_ms),
        invitation_text = inv.message,
        invited_user = linkedin.full_name(p),
        invited_user_id = p.provider_id,
        invited_user_public_id = p.public_identifier,
        invited_user_description = p.title,
        specifics = { provider = "LINKEDIN" },
    }
end

local function relation_view(r)
    local p = state.get("person", r.provider_id)
    local slug = type(p.public_identifier) == "string"
        and p.public_identifier or p.provider_id
    return {
        object = "UserRelation",
        connection_urn = "urn:li:fsd_connection:" .. p.provider_id,
        created_at = r.created_ms, first_name = p.first_name,
        last_name = p.last_name, member_id = p.provider_id,
        member_urn = "urn:li:fsd_profile:" .. p.provider_id,
        headline = p.title, public_identifier = p.public_identifier,
        public_profile_url = "https://www.linkedin.com/in/" .. slug .. "/",
    }
end

local function chat_view(c)
    return {
        object = "Chat", id = c.id, account_id = c.account_id,
        account_type = "LINKEDIN", provider_id = c.provider_id,
        attendee_provider_id = c.attendee_provider_id, name = json.null,
        type = 0, timestamp = ids.iso(c.timestamp_ms), unread_count = 0,
        unread = 0, archived = 0, muted_until = json.null, read_only = 0,
        pinned = 0, disabledFeatures = json.array(),
        folder = json.array({ "INBOX", "INBOX_LINKEDIN_CLASSIC" }),
    }
end

local function message_view(m)
    return {
        object = "Message", id = m.id, account_id = m.account_id,
        chat_id = m.chat_id, chat_provider_id = m.chat_provider_id,
        provider_id = m.provider_id, sender_id = m.sender_id,
        sender_attendee_id = m.sender_attendee_id, text = m.text,
        attachments = json.array(), timestamp = ids.iso(m.timestamp_ms),
        is_sender = m.is_sender and 1 or 0, quoted = json.null,
        reactions = json.array(), seen = 0, seen_by = {}, hidden = 0,
        deleted = 0, edited = 0, is_event = 0, delivered = 1,
        behavior = json.null, original = "", subject = json.null,
        message_type = "MESSAGE", attendee_type = "MEMBER",
        attendee_distance = 1,
    }
end

local function webhook_view(w)
    return {
        object = "Webhook", id = w.id, source = w.source, name = w.name,
        request_url = w.request_url, format = w.format, enabled = w.enabled,
        headers = w.headers, events = w.events, data = json.array(),
        account_ids = w.account_ids, type = "AUTO",
    }
end

---------------------------------------------------------------- handlers

local function list_accounts(args)
    local all = state.list("account")
    return page_or_fail(all, args, "AccountList",
                        { def = 100, max = 250, view = account_view })
end

local function get_account(args, id)
    local a = state.get("account", id)
    if not a then
        return fail(404, "resource_not_found", "Account not found")
    end
    return send(200, account_view(a))
end

local function get_user(args, identifier)
    local a = account_of(args.account_id)
    if identifier == "me" then
        return send(200, own_profile_view(a))
    end
    local p = linkedin.find_person(ngx.unescape_uri(identifier))
    if not p then
        return fail(404, "resource_not_found", "User not found")
    end
    return send(200, profile_view(a, p))
end

local function invite(args)
    local body, e = respond.json_body()
    if not body then
        return fail(400, "malformed_request", "Malformed request", e)
    end
    local provider_id = respond.str(body.provider_id)
    if not provider_id then
        return bad_parameter("provider_id is required")
    end
    local a = usable_account(body.account_id)
    -- the provider id only: a public identifier is not accepted here
    local person = state.get("person", provider_id)
        or provider_id:find("^ACoAA") and linkedin.find_person(provider_id)
    local inv, usage = linkedin.invite(a, person or nil,
                                      respond.str(body.message))
    if not inv then
        return fail_with(usage)
    end
    return send(200, { object = "UserInvitationSent", invitation_id = inv.id,
                       usage = usage })
end

local function list_invitations(args)
    local a = account_of(args.account_id)
    local pending = state.list("invitation", function (i)
        return i.account_id == a.id and i.status == "PENDING"
    end)
    return page_or_fail(pending, args, "InvitationList",
                        { def = 10, max = 100, newest_first = true,
                          view = invitation_view })
end

local function cancel_invitation(args, id)
    local _, e = linkedin.withdraw(args.account_id, id)
    if e then
        return fail_with(e)
    end
    return send(200, { object = "InvitationCanceled" })
end

local function list_relations(args)
    local a = account_of(args.account_id)
    local rels = state.list("relation", function (r)
        return r.account_id == a.id
    end)
    return page_or_fail(rels, args, "UserRelationsList",
                        { def = 100, max = 1000, newest_first = true,
                          view = relation_view })
end

local function list_chats(args)
    local keep_time = time_filter(args)
    local chats = state.list("chat", function (c)
        return (not args.account_id or c.account_id == args.account_id)
            and keep_time(c.timestamp_ms)
    end)
    return page_or_fail(chats, args, "ChatList",
                        { def = 100, max = 250, newest_first = true,
                          view = chat_view })
end

local function form()
    local fields, e = multipart.parse(ngx.var.http_content_type,
                                      respond.body())
    if not fields then
        return fail(400, "malformed_request", "Malformed request",
                    "expected multipart/form-data: " .. e)
    end
    return fields
end

local function start_chat()
    local fields = form()
    local a = usable_account(multipart.first(fields, "account_id"))
    local attendees = fields.attendees_ids or {}
    local text = multipart.first(fields, "text")
    if #attendees ~= 1 then
        return bad_parameter("exactly one attendees_ids is simulated")
    end
    if not text or text == "" then
        return bad_parameter("text is required")
    end
    local api = multipart.first(fields, "linkedin[api]") or "classic"
    if api ~= "classic" then
        return bad_parameter("linkedin[api] " .. api .. " is not simulated")
    end
    local p = state.get("person", attendees[1])
    if not p then
        return fail(404, "resource_not_found", "User not found")
    end
    -- an InMail reaches a person without a connection, from a premium
    -- account only
    local inmail = multipart.first(fields, "linkedin[inmail]") == "true"
    if inmail and not a.premium then
        return fail(422, "not_allowed_inmail", "InMail not allowed",
                    "This account cannot send InMails")
    end
    if not inmail and not linkedin.relation(a.id, p.provider_id) then
        return fail(422, "no_connection_with_recipient",
                    "Recipient cannot be reached",
                    "The recipient appears not to be first degree connection")
    end
    local m, chat = linkedin.send_message(a, p, text,
                                          inmail and "inmail" or "api")
    return send(201, { object = "ChatStarted", chat_id = chat.id,
                       message_id = m.id })
end

local function send_in_chat(args, chat_id)
    local chat = state.get("chat", chat_id)
    if not chat then
        return fail(404, "resource_not_found", "Chat not found",
                    "Account, chat or thread not found")
    end
    local fields = form()
    local account_id = multipart.first(fields, "account_id")
    if account_id and account_id ~= chat.account_id then
        return fail(403, "account_mismatch", "Account mismatch",
                    "The chat does not belong to this account")
    end
    local text = multipart.first(fields, "text")
    if not text or text == "" then
        return fail(422, "invalid_message", "Invalid message",
                    "Message couldn't pass validation")
    end
    local a = usable_account(chat.account_id)
    local m = linkedin.send_message(a, state.get("person",
                                    chat.attendee_provider_id), text)
    return send(201, { object = "MessageSent", message_id = m.id })
end

local function get_chat(args, chat_id)
    local chat = state.get("chat", chat_id)
    if not chat then
        return fail(404, "resource_not_found", "Chat not found")
    end
    local view = chat_view(chat)
    local newest = state.list("message", function (m)
        return m.chat_id == chat_id
    end)
    view.lastMessage = newest[#newest] and message_view(newest[#newest])
        or json.null
    return send(200, view)
end

local function get_message(args, id)
    local m = state.get("message", id)
    if not m then
        return fail(404, "resource_not_found", "Message not found")
    end
    return send(200, message_view(m))
end

local function list_messages(args, chat_id)
    if chat_id and not state.get("chat", chat_id) then
        return fail(404, "resource_not_found", "Chat not found")
    end
    local keep_time = time_filter(args)
    local msgs = state.list("message", function (m)
        return (not chat_id or m.chat_id == chat_id)
            and (not args.account_id or m.account_id == args.account_id)
            and (not args.sender_id or m.sender_id == args.sender_id)
            and keep_time(m.timestamp_ms)
    end)
    return page_or_fail(msgs, args, "MessageList",
                        { def = 100, max = 250, newest_first = true,
                          view = message_view })
end

local function create_webhook()
    local body, e = respond.json_body()
    if not body then
        return fail(400, "malformed_request", "Malformed request", e)
    end
    if type(body.request_url) ~= "string"
       or not webhooks.sources[body.source]
    then
        return bad_parameter("request_url and a valid source are required")
    end
    local w = webhooks.register(body)
    return send(201, { object = "WebhookCreated", webhook_id = w.id })
end

local function list_webhooks(args)
    local live = state.list("webhook", function (w) return not w.deleted end)
    return page_or_fail(live, args, "WebhookList",
                        { def = 100, max = 250, view = webhook_view })
end

local function delete_webhook(args, id)
    local w = state.get("webhook", id)
    if not w or w.deleted then
        return fail(404, "resource_not_found", "Webhook not found")
    end
    w.enabled = false
    w.deleted = true
    state.put("webhook", w)
    return send(200, { object = "WebhookDeleted" })
end

-- { method, path pattern under /api/v1, route name, handler }
local routes = {
    { "GET", "^/accounts$", "accounts.list", list_accounts },
    { "GET", "^/accounts/([^/]+)$", "accounts.get", get_account },
    { "POST", "^/users/invite$", "users.invite", invite },
    { "GET", "^/users/invite/sent$", "invite.sent", list_invitations },
    { "DELETE", "^/users/invite/sent/([^/]+)$", "invite.cancel",
      cancel_invitation },
    { "GET", "^/users/relations$", "users.relations", list_relations },
    { "GET", "^/users/([^/]+)$", "users.get", get_user },
    { "GET", "^/chats$", "chats.list", list_chats },
    { "POST", "^/chats$", "chats.start", start_chat },
    { "POST", "^/chats/([^/]+)/messages$", "chats.send", send_in_chat },
    { "GET", "^/chats/([^/]+)$", "chats.get", get_chat },
    { "GET", "^/chats/([^/]+)/messages$", "chats.messages", list_messages },
    { "GET", "^/messages$", "messages.list", list_messages },
    { "GET", "^/messages/([^/]+)$", "messages.get", get_message },
    { "POST", "^/webhooks$", "webhooks.create", create_webhook },
    { "GET", "^/webhooks$", "webhooks.list", list_webhooks },
    { "DELETE", "^/webhooks/([^/]+)$", "webhooks.delete", delete_webhook },
}

_M.route_names = {}
for _, r in ipairs(routes) do
    _M.route_names[r[3]] = true
end

function _M.handle()
    local method = ngx.req.get_method()
    local path = ngx.var.uri:gsub("^/api/v1", "")
    for _, r in ipairs(routes) do
        local from, _, capture = path:find(r[2])
        if method == r[1] and from then
            if ngx.var.http_x_api_key ~= config.get("api_key") then
                ngx.status = 401
                ngx.header["Content-Type"] = respond.JSON_TYPE
                ngx.header["Content-Length"] = #MISSING_CREDENTIALS
                ngx.print(MISSING_CREDENTIALS)
                return ngx.exit(401)
            end
            state.incr("calls:" .. r[3])
            faults.apply(r[3], "unipile")
            local args = ngx.req.get_uri_args()
            return r[4](args, capture)
        end
    end
    return fail(404, "resource_not_found", "Resource not found",
                "No route " .. method .. " " .. ngx.var.uri)
end

return _M
