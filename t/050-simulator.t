# The Unipile + Resend simulator (t/sim): every endpoint's success and
# error shapes, paging, scripted behaviour, webhook deliveries (registered
# header, no Content-Type, retries, duplicates, ordering) and faults.  The
# simulator is this test's nginx: its http.conf and server.conf are
# included as they are, plus a webhook receiver (t/sim/lua/receiver.lua).
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

our $http_config = <<'_EOC_';
    lua_package_path "$TEST_NGINX_LIAUTO_ROOT/t/sim/lua/?.lua;$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
    include $TEST_NGINX_LIAUTO_ROOT/t/sim/http.conf;
    init_by_lua_block {
        require("config").init({ api_key = "sim-key", resend_key = "re_sim" })
    }
_EOC_

our $sim_config = <<'_EOC_';
    include $TEST_NGINX_LIAUTO_ROOT/t/sim/server.conf;
    location /hook/ {
        content_by_lua_block { require("receiver").handle() }
    }
    location = /_receiver/log {
        content_by_lua_block { require("receiver").handle() }
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $http_config);
    $block->set_value("config", $sim_config . $block->config);
    $block->set_value("request", "GET /t") unless defined $block->request;
    $block->set_value("no_error_log", "[error]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: X-API-KEY: missing or wrong → the captured 401 body; right → 200
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            for _, key in ipairs({ false, "nope", "sim-key" }) do
                local r = c.call("GET", "/api/v1/accounts", nil,
                                 { ["X-API-KEY"] = key })
                ngx.say(r.status, " ", r.headers["content-type"], " ", r.body)
            end
            local r = c.call("GET", "/api/v1/nothing-here")
            ngx.say(r.status, " ", r.json.type)
        }
    }
--- response_body
401 application/json; charset=utf-8 {"status":401,"type":"errors/missing_credentials","title":"Missing credentials"}
401 application/json; charset=utf-8 {"status":401,"type":"errors/missing_credentials","title":"Missing credentials"}
200 application/json; charset=utf-8 {"cursor":null,"items":[],"object":"AccountList"}
404 errors/resource_not_found



=== TEST 2: accounts: list with cursor paging, one by id, 404 for unknown
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a1 = c.call("POST", "/_sim/accounts", { name = "Ann One" }).json
            local a2 = c.call("POST", "/_sim/accounts", { name = "Bob Two",
                                                          status = "CREDENTIALS" }).json
            local p1 = c.call("GET", "/api/v1/accounts?limit=1").json
            ngx.say(p1.object, " ", #p1.items, " ", p1.items[1].name, " ",
                    type(p1.cursor))
            local p2 = c.call("GET", "/api/v1/accounts?limit=1&cursor="
                              .. p1.cursor).json
            ngx.say(#p2.items, " ", p2.items[1].name, " ",
                    tostring(p2.cursor), " ", p2.items[1].sources[1].status)
            local one = c.call("GET", "/api/v1/accounts/" .. a1.id).json
            ngx.say(one.object, " ", one.type, " ", #one.id, " ",
                    one.connection_params.im.id == a1.user_id, " ",
                    one.sources[1].id == a1.id .. "_MESSAGING", " ",
                    one.sources[1].status)
            local r = c.call("GET", "/api/v1/accounts/nope")
            ngx.say(r.status, " ", r.json.type, " ", r.json.title)
            r = c.call("GET", "/api/v1/accounts?limit=0")
            ngx.say(r.status, " ", r.json.type)
            r = c.call("GET", "/api/v1/accounts?cursor=garbage")
            ngx.say(r.status, " ", r.json.type)
        }
    }
--- response_body
AccountList 1 Ann One string
1 Bob Two null CREDENTIALS
Account LINKEDIN 22 true true OK
404 errors/resource_not_found Account not found
400 errors/invalid_parameters
400 errors/invalid_parameters



=== TEST 3: ids have the real formats
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a, p = c.world()
            ngx.say(a.id:match("^[%w_-]+$") and #a.id, " ",
                    a.user_id:match("^ACoAA[%w_-]+$") and #a.user_id, " ",
                    p.provider_id:match("^ACoAA[%w_-]+$") and #p.provider_id)
            local r = c.call("POST", "/api/v1/users/invite",
                             { account_id = a.id, provider_id = p.provider_id })
            ngx.say(r.status, " ", r.json.object, " ",
                    r.json.invitation_id:match("^[1-9]%d+$") and #r.json.invitation_id)
            local e = c.call("POST", "/emails", { from = "a@x.io", to = "b@y.io",
                subject = "hi" }, { Authorization = "Bearer re_sim" }).json
            ngx.say(e.id:match("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$") and #e.id)
        }
    }
--- response_body
22 39 39
200 UserInvitationSent 19
36



=== TEST 4: users: by provider id or public identifier; account_id required; 404
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a, p = c.world()
            local base = "/api/v1/users/"
            for _, id in ipairs({ p.provider_id, "Ada-Lovelace" }) do
                local u = c.call("GET", base .. id .. "?account_id=" .. a.id).json
                ngx.say(u.object, " ", u.provider, " ", u.provider_id == p.provider_id,
                        " ", u.public_identifier, " ", u.first_name, " ",
                        u.last_name, " ", u.headline, " ", u.network_distance,
                        " ", u.is_relationship, " ", tostring(u.invitation))
            end
            local r = c.call("GET", base .. "nobody?account_id=" .. a.id)
            ngx.say(r.status, " ", r.json.type, " ", r.json.title)
            r = c.call("GET", base .. p.provider_id)
            ngx.say(r.status, " ", r.json.type)
            r = c.call("GET", base .. "me?account_id=" .. a.id)
            ngx.say(r.status, " ", r.json.provider_id == a.user_id)
            c.call("POST", "/api/v1/users/invite",
                   { account_id = a.id, provider_id = p.provider_id })
            local u = c.call("GET", base .. p.provider_id .. "?account_id=" .. a.id).json
            ngx.say(u.invitation.type, " ", u.invitation.status)
        }
    }
--- response_body
UserProfile LINKEDIN true ada-lovelace Ada Lovelace CTO at Analytical SECOND_DEGREE false nil
UserProfile LINKEDIN true ada-lovelace Ada Lovelace CTO at Analytical SECOND_DEGREE false nil
404 errors/resource_not_found User not found
400 errors/invalid_parameters
200 true
SENT PENDING



=== TEST 5: invite: note length, pending duplicate, connected, weekly cap with usage, disconnected, bad input
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a = c.call("POST", "/_sim/accounts", { weekly_invite_cap = 4 }).json
            local people = {}
            for i = 1, 6 do
                people[i] = c.call("POST", "/_sim/people",
                                   { public_identifier = "p" .. i }).json
            end
            local function invite(p, note, account)
                local r = c.call("POST", "/api/v1/users/invite", { account_id =
                    (account or a).id, provider_id = p.provider_id, message = note })
                ngx.say(r.status, " ", r.json.object or r.json.type, " ",
                        r.json.usage or r.json.title or "")
                return r
            end
            invite(people[1], ("é"):rep(301))
            invite(people[1], ("é"):rep(300))
            invite(people[1])
            invite(people[2])
            local last = invite(people[3])
            c.call("POST", "/_sim/invitations/" .. last.json.invitation_id .. "/accept")
            invite(people[3])
            invite(people[4])
            invite(people[5])
            local r = c.call("POST", "/api/v1/users/invite", "{not json")
            ngx.say(r.status, " ", r.json.type)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id })
            ngx.say(r.status, " ", r.json.type)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                                                         provider_id = "ACoAAnobody" })
            ngx.say(r.status, " ", r.json.type, " ", r.json.title)
            local off = c.call("POST", "/_sim/accounts", { status = "CREDENTIALS" }).json
            invite(people[6], nil, off)
            ngx.say(r.headers["content-type"])
        }
    }
--- response_body
400 errors/too_many_characters Too many characters
200 UserInvitationSent 
422 errors/already_invited_recently Already sent invitation recently
200 UserInvitationSent 50
200 UserInvitationSent 75
422 errors/already_connected Already connected
200 UserInvitationSent 95
422 errors/cannot_resend_yet Cannot resend yet
400 errors/malformed_request
400 errors/invalid_parameters
404 errors/resource_not_found User not found
401 errors/disconnected_account Disconnected account
application/json; charset=utf-8



=== TEST 6: sent invitations: pending only, newest first, cursor paging; withdraw → cooldown
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a = c.call("POST", "/_sim/accounts", {}).json
            local inv = {}
            for i = 1, 5 do
                local p = c.call("POST", "/_sim/people", { first_name = "P" .. i,
                    public_identifier = "p" .. i }).json
                inv[i] = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                    provider_id = p.provider_id, message = "note " .. i }).json.invitation_id
            end
            c.call("POST", "/_sim/invitations/" .. inv[2] .. "/accept")
            local url = "/api/v1/users/invite/sent?account_id=" .. a.id .. "&limit=2"
            local seen, cursor = {}, nil
            repeat
                local page = c.call("GET", url .. (cursor and "&cursor=" .. cursor or "")).json
                for _, it in ipairs(page.items) do
                    seen[#seen + 1] = it.invited_user .. "/" .. it.invitation_text
                    assert(it.object == "InvitationSent" and it.date == "Sent today")
                end
                cursor = page.cursor ~= require("json").null and page.cursor or nil
            until not cursor
            ngx.say(table.concat(seen, " "))
            local r = c.call("DELETE", "/api/v1/users/invite/sent/" .. inv[5]
                             .. "?account_id=" .. a.id)
            ngx.say(r.status, " ", r.body)
            r = c.call("DELETE", "/api/v1/users/invite/sent/" .. inv[5]
                       .. "?account_id=" .. a.id)
            ngx.say(r.status, " ", r.json.type)
            local p5 = c.call("GET", "/api/v1/users/p5?account_id=" .. a.id).json
            ngx.say(p5.invitation.status)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = p5.provider_id })
            ngx.say(r.status, " ", r.json.type)
            local page = c.call("GET", url).json
            ngx.say(#page.items, " ", page.items[1].id == inv[4])
        }
    }
--- response_body
P5 Person/note 5 P4 Person/note 4 P3 Person/note 3 P1 Person/note 1
200 {"object":"InvitationCanceled"}
404 errors/resource_not_found
WITHDRAWN
422 errors/cannot_resend_yet
2 true



=== TEST 7: acceptance → relation, not pending, users webhook with the registered header and no Content-Type; the note → chat + own message_received
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a, p = c.world({ name = "Sam Sender" })
            c.hook("users", "/hook/users")
            c.hook("messaging", "/hook/messaging")
            local inv = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = p.provider_id, message = "Hi Ada" }).json.invitation_id
            local r = c.call("POST", "/_sim/invitations/" .. inv .. "/accept")
            ngx.say(r.status, " ", r.json.status)
            local rel = c.call("GET", "/api/v1/users/relations?account_id=" .. a.id).json
            local it = rel.items[1]
            ngx.say(rel.object, " ", #rel.items, " ", it.object, " ",
                    it.member_id == p.provider_id, " ", it.public_identifier, " ",
                    type(it.created_at), " ", it.created_at > 1.7e12, " ",
                    it.public_profile_url)
            local sent = c.call("GET", "/api/v1/users/invite/sent?account_id=" .. a.id).json
            ngx.say("pending: ", #sent.items)
            local got = c.wait(function ()
                local u, m = c.received("/hook/users"), c.received("/hook/messaging")
                return #u == 1 and #m == 1 and { u[1], m[1] }
            end)
            local u, m = got[1], got[2]
            ngx.say(u.method, " ", u.headers["unipile-auth"], " ",
                    tostring(u.headers["content-type"]))
            local body = json.decode(u.body)
            body.user_provider_id = body.user_provider_id == p.provider_id
            body.account_id = body.account_id == a.id
            body.user_picture_url = body.user_picture_url:match("^https://") ~= nil
            ngx.say(json.encode(body))
            local msg = json.decode(m.body)
            ngx.say(tostring(m.headers["content-type"]), " ", msg.event, " ",
                    msg.message, " ", msg.is_sender, " ",
                    msg.sender.attendee_provider_id == a.user_id, " ",
                    msg.account_info.user_id == a.user_id, " ",
                    msg.attendees[1].attendee_provider_id == p.provider_id, " ",
                    msg.webhook_name)
            local chats = c.call("GET", "/api/v1/chats?account_id=" .. a.id).json
            ngx.say(#chats.items, " ", chats.items[1].attendee_provider_id == p.provider_id,
                    " ", chats.items[1].id == msg.chat_id)
            r = c.call("POST", "/_sim/invitations/" .. inv .. "/accept")
            ngx.say(r.status)
        }
    }
--- response_body
200 ACCEPTED
UserRelationsList 1 UserRelation true ada-lovelace number true https://www.linkedin.com/in/ada-lovelace/
pending: 0
POST s3cret nil
{"account_id":true,"account_type":"LINKEDIN","event":"new_relation","user_full_name":"Ada Lovelace","user_picture_url":true,"user_profile_url":"https://www.linkedin.com/in/ada-lovelace/","user_provider_id":true,"user_public_identifier":"ada-lovelace","webhook_name":"t-users"}
nil message_received Hi Ada true true true true t-messaging
1 true true
404



=== TEST 8: an invitation accepted later: by command after ms, or by the accept_after_ms setting
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a, p = c.world()
            local inv = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = p.provider_id }).json.invitation_id
            local r = c.call("POST", "/_sim/invitations/" .. inv .. "/accept",
                             { after_ms = 200 })
            ngx.say(r.status, " ", r.body)
            local function status(id)
                return c.call("GET", "/_sim/invitations").json.invitations[id].status
            end
            ngx.say(status(1))
            ngx.sleep(0.3)
            ngx.say(status(1))
            c.call("POST", "/_sim/config", { accept_after_ms = 100 })
            local q = c.call("POST", "/_sim/people", { public_identifier = "q" }).json
            c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = q.provider_id })
            ngx.say(status(2))
            ngx.say(c.wait(function () return status(2) == "ACCEPTED" end))
        }
    }
--- response_body
202 {"scheduled_in_ms":200}
PENDING
ACCEPTED
PENDING
true



=== TEST 9: chats: multipart start (422 when not connected), send into a chat, lists newest first with paging and before/after; every sent message echoed as own message_received
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a, p = c.world()
            c.hook("messaging", "/hook/messaging")
            local start = { { "account_id", a.id }, { "attendees_ids", p.provider_id },
                            { "text", "Hello Ada" }, { "linkedin[api]", "classic" } }
            local r = c.post_form("/api/v1/chats", start)
            ngx.say(r.status, " ", r.json.type, " ", r.json.title, " / ", r.json.detail)
            local inv = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = p.provider_id }).json.invitation_id
            c.call("POST", "/_sim/invitations/" .. inv .. "/accept")
            r = c.post_form("/api/v1/chats", start)
            ngx.say(r.status, " ", r.json.object, " ", #r.json.chat_id, " ", #r.json.message_id)
            local chat = r.json.chat_id
            for i = 1, 3 do
                ngx.sleep(0.002)
                r = c.post_form("/api/v1/chats/" .. chat .. "/messages",
                                { { "text", "follow-up " .. i } })
            end
            ngx.say(r.status, " ", r.json.object, " ", #r.json.message_id)
            r = c.call("POST", "/api/v1/chats/" .. chat .. "/messages", { text = "json" })
            ngx.say(r.status, " ", r.json.type)
            r = c.post_form("/api/v1/chats/nope/messages", { { "text", "x" } })
            ngx.say(r.status, " ", r.json.type)
            r = c.post_form("/api/v1/chats", { { "account_id", a.id },
                            { "attendees_ids", p.provider_id } })
            ngx.say(r.status, " ", r.json.type)
            local chats = c.call("GET", "/api/v1/chats?account_id=" .. a.id).json
            local ch = chats.items[1]
            ngx.say(chats.object, " ", #chats.items, " ", ch.object, " ", ch.type, " ",
                    ch.attendee_provider_id == p.provider_id, " ", ch.provider_id:sub(1, 2))
            local url = "/api/v1/chats/" .. chat .. "/messages?limit=3"
            local page = c.call("GET", url).json
            local texts = {}
            for _, m in ipairs(page.items) do texts[#texts + 1] = m.text end
            ngx.say(page.object, " ", table.concat(texts, ","), " ",
                    page.items[1].is_sender, " ", page.items[1].sender_id == a.user_id)
            page = c.call("GET", url .. "&cursor=" .. page.cursor).json
            ngx.say(#page.items, " ", page.items[1].text, " ", tostring(page.cursor))
            local all = c.call("GET", "/api/v1/messages?account_id=" .. a.id).json.items
            local t2 = all[3].timestamp
            local before = c.call("GET", "/api/v1/messages?before=" .. t2).json.items
            local after = c.call("GET", "/api/v1/messages?after=" .. t2).json.items
            ngx.say(#all, " ", before[1].text, " ", after[#after].text, " ",
                    c.call("GET", "/api/v1/messages?after=yesterday").status)
            local one = c.call("GET", "/api/v1/chats/" .. chat).json
            local msg = c.call("GET", "/api/v1/messages/" .. all[2].id).json
            ngx.say(one.object, " ", one.id == chat, " ", one.lastMessage.text, " ",
                    msg.object, " ", msg.text, " ",
                    c.call("GET", "/api/v1/chats/nope").status, " ",
                    c.call("GET", "/api/v1/messages/nope").status)
            local hooks = c.wait(function ()
                local h = c.received("/hook/messaging")
                return #h == 4 and h
            end)
            local echo = {}
            for _, h in ipairs(hooks) do
                local m = json.decode(h.body)
                echo[#echo + 1] = m.message .. ":" .. tostring(m.is_sender) .. ":"
                    .. tostring(m.sender.attendee_provider_id == a.user_id)
            end
            table.sort(echo)
            ngx.say(table.concat(echo, " "))
        }
    }
--- response_body
422 errors/no_connection_with_recipient Recipient cannot be reached / The recipient appears not to be first degree connection
201 ChatStarted 22 22
201 MessageSent 22
400 errors/malformed_request
404 errors/resource_not_found
400 errors/invalid_parameters
ChatList 1 Chat 0 true 2-
MessageList follow-up 3,follow-up 2,follow-up 1 1 true
1 Hello Ada null
4 Hello Ada follow-up 2 400
Chat true follow-up 3 Message follow-up 2 404 404
Hello Ada:true:true follow-up 1:true:true follow-up 2:true:true follow-up 3:true:true



=== TEST 10: a lead reply (now, later, or by reply_after_ms) → inbound message and message_received with is_sender false, payload like the capture
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a, p = c.world()
            c.hook("messaging", "/hook/messaging")
            local r = c.call("POST", "/_sim/reply", { account_id = a.id,
                             provider_id = p.provider_id, text = "Thanks, happy to chat" })
            ngx.say(r.status, " ", r.json.is_sender, " ", r.json.origin)
            local h = c.wait(function () return c.received("/hook/messaging")[1] end)
            local m = json.decode(h.body)
            local keys = {}
            for k in pairs(m) do keys[#keys + 1] = k end
            table.sort(keys)
            ngx.say(table.concat(keys, ","))
            ngx.say(m.is_sender, " ", m.message, " ", m.sender.attendee_provider_id == p.provider_id,
                    " ", m.sender.attendee_name, " ", m.sender.attendee_specifics.network_distance,
                    " ", json.encode(m.attachments), " ", json.encode(m.folder), " ",
                    m.timestamp:match("^%d+%-%d+%-%d+T%d+:%d+:%d+%.%d%d%dZ$") ~= nil, " ",
                    m.account_info.feature, " ", tostring(m.is_group), " ", m.is_event)
            local msgs = c.call("GET", "/api/v1/chats/" .. m.chat_id .. "/messages").json.items
            ngx.say(#msgs, " ", msgs[1].is_sender, " ", msgs[1].sender_id == p.provider_id,
                    " ", msgs[1].text)
            r = c.call("POST", "/_sim/reply", { account_id = a.id,
                       provider_id = p.provider_id, text = "later", after_ms = 100 })
            ngx.say(r.status, " ", #c.received("/hook/messaging"))
            ngx.say(c.wait(function () return #c.received("/hook/messaging") == 2 end))
            -- auto reply once after a message is sent to the lead
            c.call("POST", "/_sim/config", { reply_after_ms = 50, reply_text = "auto" })
            local inv = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = p.provider_id }).json.invitation_id
            c.call("POST", "/_sim/invitations/" .. inv .. "/accept")
            for i = 1, 2 do
                c.post_form("/api/v1/chats/" .. m.chat_id .. "/messages", { { "text", "x" .. i } })
            end
            ngx.sleep(0.3)
            local replies = c.call("GET", "/_sim/messages?origin=reply").json.messages
            ngx.say(#replies, " ", replies[3].text)
        }
    }
--- response_body
200 false reply
account_id,account_info,account_type,attachments,attendees,chat_content_type,chat_id,chat_pinned,event,event_type,folder,is_event,is_forwarded,is_group,is_sender,message,message_id,message_type,provider_chat_id,provider_message_id,quoted,reply_to,sender,subject,timestamp,webhook_name
false Thanks, happy to chat true Ada Lovelace DISTANCE_1 [] ["INBOX","INBOX_LINKEDIN_CLASSIC"] true classic false 0
1 0 true Thanks, happy to chat
202 1
true
3 auto



=== TEST 11: account status: AccountStatus webhook (default events skip OK), REST source status, sends refused until OK
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a, p = c.world()
            c.hook("account_status", "/hook/status")
            c.hook("account_status", "/hook/status-all", { events = { "ok", "credentials" } })
            local r = c.call("POST", "/_sim/accounts/" .. a.id .. "/status",
                             { status = "CREDENTIALS" })
            ngx.say(r.status, " ", r.json.status)
            local acc = c.call("GET", "/api/v1/accounts/" .. a.id).json
            ngx.say(acc.sources[1].status)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = p.provider_id })
            ngx.say(r.status, " ", r.json.type)
            c.call("POST", "/_sim/accounts/" .. a.id .. "/status", { status = "OK" })
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = p.provider_id })
            ngx.say(r.status)
            local got = c.wait(function ()
                local d = c.received("/hook/status")
                return #d == 3 and d
            end)
            for _, h in ipairs(got) do
                ngx.say(h.path, " ", h.headers["unipile-auth"], " ",
                        (h.body:gsub(a.id:gsub("%p", "%%%0"), "<id>")))
            end
            r = c.call("POST", "/_sim/accounts/nope/status", { status = "OK" })
            ngx.say(r.status)
        }
    }
--- response_body
200 CREDENTIALS
CREDENTIALS
401 errors/disconnected_account
200
/hook/status s3cret {"AccountStatus":{"account_id":"<id>","account_type":"LINKEDIN","message":"CREDENTIALS"}}
/hook/status-all s3cret {"AccountStatus":{"account_id":"<id>","account_type":"LINKEDIN","message":"CREDENTIALS"}}
/hook/status-all s3cret {"AccountStatus":{"account_id":"<id>","account_type":"LINKEDIN","message":"OK"}}
404



=== TEST 12: webhooks API: create (201 id only), list with request_url/source/headers/events, delete, 400 without source
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local id = c.hook("users", "/hook/users", { events = { "new_relation" } })
            local r = c.call("POST", "/api/v1/webhooks", { request_url = "http://x/" })
            ngx.say(r.status, " ", r.json.type)
            r = c.call("POST", "/api/v1/webhooks", { request_url = "http://127.0.0.1:1/",
                       source = "messaging" })
            ngx.say(r.status, " ", r.json.object, " ", #r.json.webhook_id)
            local list = c.call("GET", "/api/v1/webhooks").json
            local w = list.items[1]
            ngx.say(list.object, " ", #list.items, " ", w.object, " ", w.id == id, " ",
                    w.source, " ", w.request_url:match("/hook/users$"), " ",
                    w.headers[1].key, "=", w.headers[1].value, " ", w.events[1])
            r = c.call("DELETE", "/api/v1/webhooks/" .. id)
            ngx.say(r.status, " ", r.body)
            r = c.call("DELETE", "/api/v1/webhooks/" .. id)
            ngx.say(r.status, " ", r.json.type)
            list = c.call("GET", "/api/v1/webhooks").json
            ngx.say(#list.items, " ", list.items[1].source)
            -- a deleted registration gets nothing
            local a, p = c.world()
            local inv = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = p.provider_id }).json.invitation_id
            c.call("POST", "/_sim/invitations/" .. inv .. "/accept")
            ngx.sleep(0.1)
            ngx.say(#c.received(), " ", #c.call("GET", "/_sim/deliveries").json.deliveries)
        }
    }
--- response_body
400 errors/invalid_parameters
201 WebhookCreated 22
WebhookList 2 Webhook true users /hook/users Unipile-Auth=s3cret new_relation
200 {"object":"WebhookDeleted"}
404 errors/resource_not_found
1 messaging
0 0



=== TEST 13: deliveries: retried with increasing delay until 200, given up after 5 retries, every attempt recorded
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            c.call("POST", "/_sim/config", { webhook_retry_ms = 50 })
            local a, p = c.world()
            c.hook("account_status", "/hook/fail-2/status")
            c.hook("account_status", "/hook/fail-99/status")
            c.call("POST", "/_sim/accounts/" .. a.id .. "/status", { status = "ERROR" })
            local ds = c.wait(function ()
                local d = c.call("GET", "/_sim/deliveries").json.deliveries
                return d[1].status == "delivered" and d[2].status == "failed" and d
            end, 5000)
            local function ms(iso)
                local h, m, s = iso:match("T(%d+):(%d+):([%d.]+)Z$")
                return ((h * 60 + m) * 60 + s) * 1000
            end
            for _, d in ipairs(ds) do
                local codes, growing = {}, true
                for i, at in ipairs(d.attempts) do
                    codes[i] = at.status
                    if i > 1 then
                        -- at least 50 * 2^(i-2) ms after the previous one
                        local gap = ms(at.at) - ms(d.attempts[i - 1].at)
                        growing = growing and gap >= 50 * 2 ^ (i - 2) - 5
                    end
                end
                ngx.say(d.url:match("/hook/.*"), " ", d.status, " ", #d.attempts,
                        " ", table.concat(codes, ","), " ", growing)
            end
            local got = c.received("/hook/fail-2/")
            ngx.say(#got, " ", got[1].body == got[3].body)
            ngx.say(#c.received("/hook/fail-99/"))
        }
    }
--- timeout: 10
--- response_body
/hook/fail-2/status delivered 3 500,500,200 true
/hook/fail-99/status failed 6 500,500,500,500,500,500 true
3 true
6
--- no_error_log
[error]
--- error_log
given up after 6 attempts



=== TEST 14: deliveries on demand: duplicates, held then released in reverse order, lost on purpose
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a = c.call("POST", "/_sim/accounts", {}).json
            c.hook("messaging", "/hook/messaging")
            local people = {}
            for i = 1, 3 do
                people[i] = c.call("POST", "/_sim/people", {}).json
            end
            local function reply(i, text)
                c.call("POST", "/_sim/reply", { account_id = a.id,
                       provider_id = people[i].provider_id, text = text })
            end
            local function texts()
                local out = {}
                for _, h in ipairs(c.received("/hook/messaging")) do
                    out[#out + 1] = json.decode(h.body).message
                end
                return table.concat(out, " ")
            end
            c.call("POST", "/_sim/deliveries/mode", { duplicates = 2 })
            reply(1, "dup")
            c.wait(function () return #c.received() == 3 end)
            local ids = {}
            for _, h in ipairs(c.received()) do
                ids[json.decode(h.body).message_id] = true
            end
            local n = 0
            for _ in pairs(ids) do n = n + 1 end
            ngx.say(texts(), " distinct ids: ", n)
            c.call("POST", "/_sim/deliveries/mode", { hold = true })
            for i = 1, 3 do reply(i, "r" .. i) end
            ngx.sleep(0.1)
            ngx.say(texts())
            local r = c.call("POST", "/_sim/deliveries/release", { order = "reverse" })
            ngx.say(r.body)
            c.wait(function () return #c.received() == 6 end)
            ngx.say(texts())
            c.call("POST", "/_sim/deliveries/mode", { lose = 1 })
            reply(1, "lost")
            reply(2, "kept")
            c.wait(function () return #c.received() == 7 end)
            ngx.sleep(0.05)
            ngx.say(texts())
            local lost = c.call("GET", "/_sim/deliveries?status=lost").json.deliveries
            ngx.say(#lost, " ", json.decode(lost[1].body).message)
            -- the lost message is still there for polling
            local polled = c.call("GET", "/api/v1/messages?account_id=" .. a.id .. "&limit=2").json
            ngx.say(polled.items[2].text)
        }
    }
--- response_body
dup dup dup distinct ids: 1
dup dup dup
{"released":3}
dup dup dup r3 r2 r1
dup dup dup r3 r2 r1 kept
1 lost
lost



=== TEST 15: faults: 429/503 with Unipile bodies and no effect, N times; slow; timeout holds then closes; drop applies the effect then closes
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local http = require "liauto.http"
            local a, p = c.world()
            local invite = { account_id = a.id, provider_id = p.provider_id }
            local r = c.call("POST", "/_sim/faults", { route = "users.invite",
                             kind = "status", status = 429, times = 2 })
            ngx.say(r.status)
            for i = 1, 2 do
                r = c.call("POST", "/api/v1/users/invite", invite)
                ngx.say(r.status, " ", r.headers["content-type"], " ", r.body)
            end
            c.call("POST", "/_sim/faults", { route = "*", kind = "status", status = 503 })
            r = c.call("GET", "/api/v1/accounts")
            ngx.say(r.status, " ", r.json.type)
            ngx.say(#c.call("GET", "/_sim/invitations").json.invitations)
            c.call("POST", "/_sim/faults", { route = "accounts.list", kind = "slow", ms = 300 })
            local t0 = ngx.now()
            r = c.call("GET", "/api/v1/accounts")
            ngx.update_time()
            ngx.say(r.status, " slow: ", ngx.now() - t0 >= 0.29)
            c.call("POST", "/_sim/faults", { route = "users.invite", kind = "timeout", ms = 300 })
            t0 = ngx.now()
            r = http.request("POST", "/api/v1/users/invite", { headers = {
                ["X-API-KEY"] = "sim-key" }, body = require("json").encode(invite) })
            ngx.update_time()
            ngx.say("timeout: ", r == nil, " ", ngx.now() - t0 >= 0.29, " ",
                    #c.call("GET", "/_sim/invitations").json.invitations)
            c.call("POST", "/_sim/faults", { route = "users.invite", kind = "drop" })
            local res, err = http.request("POST", "/api/v1/users/invite", { headers = {
                ["X-API-KEY"] = "sim-key" }, body = require("json").encode(invite) })
            ngx.say("drop: ", res, " ", err:match("malformed") or err, " ",
                    #c.call("GET", "/_sim/invitations").json.invitations)
            r = c.call("POST", "/api/v1/users/invite", invite)
            ngx.say(r.status, " ", r.json.type)
            local calls = c.call("GET", "/_sim/calls").json
            ngx.say("invite calls: ", calls["users.invite"], " accounts: ", calls["accounts.list"])
            r = c.call("POST", "/_sim/faults", { route = "x", kind = "status", status = 418 })
            ngx.say(r.status, " ", r.json.error)
            c.call("POST", "/_sim/faults", { route = "*", kind = "status", status = 500, times = 5 })
            c.call("DELETE", "/_sim/faults")
            ngx.say(c.call("GET", "/api/v1/accounts").status)
        }
    }
--- response_body
201
429 application/json; charset=utf-8 {"detail":"The provider cannot accept any more requests at the moment. Please try again later.","status":429,"title":"Too many requests","type":"errors/too_many_requests"}
429 application/json; charset=utf-8 {"detail":"The provider cannot accept any more requests at the moment. Please try again later.","status":429,"title":"Too many requests","type":"errors/too_many_requests"}
503 errors/service_unavailable
0
200 slow: true
timeout: true true 0
drop: nil malformed 1
422 errors/already_invited_recently
invite calls: 5 accounts: 2
400 status must be 429, 500, 503 or 504, or a 4xx/5xx with a type (Unipile) or name (Resend)
200



=== TEST 16: Resend: Bearer key (401/403), required fields (422), ≤ 50 recipients, 200 {id}; idempotency: replay, other payload 409, in progress 409
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local auth = { Authorization = "Bearer re_sim" }
            local mail = { from = "Acme <noreply@acme.com>", to = { "ada@example.com" },
                           subject = "Hi", text = "Hi" }
            local function show(r)
                ngx.say(r.status, " ", r.headers["content-type"], " ",
                        r.json.name or (r.json.id and "id") or r.body, " ",
                        r.json.statusCode or "")
            end
            show(c.call("POST", "/emails", mail))
            show(c.call("POST", "/emails", mail, { Authorization = "Bearer nope" }))
            show(c.call("POST", "/emails", { from = "a@b.c", to = "d@e.f" }, auth))
            local many = {}
            for i = 1, 51 do many[i] = "u" .. i .. "@example.com" end
            show(c.call("POST", "/emails", { from = "a@b.c", to = many,
                                             subject = "s" }, auth))
            local r = c.call("POST", "/emails", mail, auth)
            show(r)
            local key = { Authorization = "Bearer re_sim", ["Idempotency-Key"] = "welcome/42" }
            local first = c.call("POST", "/emails", mail, key)
            local again = c.call("POST", "/emails", mail, key)
            ngx.say(first.status, " ", again.status, " same id: ",
                    first.json.id == again.json.id, " new id: ", first.json.id ~= r.json.id)
            local other = { from = mail.from, to = mail.to, subject = "Other" }
            show(c.call("POST", "/emails", other, key))
            c.call("POST", "/_sim/config", { email_processing_ms = 300 })
            local key2 = { Authorization = "Bearer re_sim", ["Idempotency-Key"] = "k2" }
            local slow = ngx.thread.spawn(c.call, "POST", "/emails", mail, key2)
            ngx.sleep(0.1)
            show(c.call("POST", "/emails", mail, key2))
            local _, done = ngx.thread.wait(slow)
            ngx.say(done.status)
            local emails = c.call("GET", "/_sim/emails").json.emails
            ngx.say(#emails, " ", json.encode(emails[1].to))
            local sent = c.call("GET", "/_sim/sent").json
            ngx.say(sent.emails_per_address["ada@example.com"])
            show(c.call("GET", "/emails", nil, auth))
        }
    }
--- response_body
401 application/json; charset=utf-8 missing_api_key 401
403 application/json; charset=utf-8 invalid_api_key 403
422 application/json; charset=utf-8 missing_required_field 422
422 application/json; charset=utf-8 validation_error 422
200 application/json; charset=utf-8 id 
200 200 same id: true new id: true
409 application/json; charset=utf-8 invalid_idempotent_request 409
409 application/json; charset=utf-8 concurrent_idempotent_requests 409
200
3 ["ada@example.com"]
3
405 application/json; charset=utf-8 method_not_allowed 405



=== TEST 17: what was sent to whom: invitations, API messages with their texts, notes, replies, per chat
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a, p = c.world()
            local inv = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                provider_id = p.provider_id, message = "note" }).json.invitation_id
            c.call("POST", "/_sim/invitations/" .. inv .. "/accept")
            local chat = c.post_form("/api/v1/chats", { { "account_id", a.id },
                { "attendees_ids", p.provider_id }, { "text", "step 2" } }).json.chat_id
            c.post_form("/api/v1/chats/" .. chat .. "/messages", { { "text", "step 3" } })
            c.call("POST", "/_sim/reply", { account_id = a.id, provider_id = p.provider_id })
            local s = c.call("GET", "/_sim/sent").json
            local mine = s.people[a.id .. "/" .. p.provider_id]
            ngx.say(mine.invitations, " ", mine.messages, " ", mine.notes, " ",
                    mine.replies, " ", json.encode(mine.texts), " ",
                    s.messages_per_chat[chat])
            local inv_list = c.call("GET", "/_sim/invitations?provider_id=" .. p.provider_id).json
            ngx.say(#inv_list.invitations, " ", inv_list.invitations[1].status)
        }
    }
--- response_body
1 2 1 1 ["step 2","step 3"] 4
1 ACCEPTED



=== TEST 18: while an account is not OK its messages get no webhook (REST still shows them); back to OK → the backlog arrives in order
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a, p = c.world()
            c.hook("messaging", "/hook/messaging")
            c.call("POST", "/_sim/accounts/" .. a.id .. "/status", { status = "CREDENTIALS" })
            for i = 1, 2 do
                c.call("POST", "/_sim/reply", { account_id = a.id,
                       provider_id = p.provider_id, text = "while away " .. i })
            end
            ngx.sleep(0.1)
            local rest = c.call("GET", "/api/v1/messages?account_id=" .. a.id).json.items
            local withheld = c.call("GET", "/_sim/deliveries?status=withheld").json.deliveries
            ngx.say(#rest, " ", #c.received(), " ", #withheld)
            c.call("POST", "/_sim/accounts/" .. a.id .. "/status", { status = "RECONNECTED" })
            local got = c.wait(function ()
                local h = c.received("/hook/messaging")
                return #h == 2 and h
            end)
            ngx.say(json.decode(got[1].body).message, ", ", json.decode(got[2].body).message)
        }
    }
--- response_body
2 0 2
while away 1, while away 2



=== TEST 19: Resend rate limit when configured: 429 rate_limit_exceeded with retry-after and ratelimit-* headers, refilled after a second
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local auth = { Authorization = "Bearer re_sim" }
            local mail = { from = "a@b.c", to = "d@e.f", subject = "s" }
            local r = c.call("POST", "/emails", mail, auth)
            ngx.say(r.status, " ", tostring(r.headers["ratelimit-limit"]))
            c.call("POST", "/_sim/config", { resend_rate_per_s = 2 })
            for i = 1, 3 do
                r = c.call("POST", "/emails", mail, auth)
                ngx.say(r.status, " ", r.headers["ratelimit-limit"], " ",
                        r.headers["ratelimit-remaining"], " ",
                        tostring(r.headers["retry-after"]), " ", r.json.name or "id")
            end
            ngx.sleep(0.6)
            ngx.say(c.call("POST", "/emails", mail, auth).status)
            ngx.say(#c.call("GET", "/_sim/emails").json.emails)
        }
    }
--- response_body
200 nil
200 2 1 nil id
200 2 0 nil id
429 2 0 1 rate_limit_exceeded
200
4



=== TEST 20: JSON escapes in requests (\u00e9, surrogate pairs) are decoded and counted as characters; own provider id given at account creation
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local json = require "json"
            local a = c.call("POST", "/_sim/accounts",
                             { provider_id = "ACoAAownownownownownownownownownownown" }).json
            ngx.say(a.user_id)
            local p = c.call("POST", "/_sim/people", {}).json
            local q = c.call("POST", "/_sim/people", {}).json
            local function invite(who, escaped)
                local body = '{"account_id":"' .. a.id .. '","provider_id":"'
                    .. who.provider_id .. '","message":"' .. escaped .. '"}'
                return c.call("POST", "/api/v1/users/invite", body,
                              { ["Content-Type"] = "application/json" })
            end
            ngx.say(invite(p, ("\\u00e9"):rep(299) .. "\\ud83d\\ude00\\n").json.type)
            local r = invite(q, ("\\u00e9"):rep(298) .. "\\ud83d\\ude00")
            ngx.say(r.status)
            local inv = c.call("GET", "/api/v1/users/invite/sent?account_id=" .. a.id).json
            local note = inv.items[1].invitation_text
            ngx.say(#note, " ", note:sub(-4) == "\240\159\152\128")
        }
    }
--- response_body
ACoAAownownownownownownownownownownown
errors/too_many_characters
200
600 true



=== TEST 21: the stand-alone simulator (render.sh + nginx.conf.in): starts, enforces its key, registers the module's three webhooks with Unipile-Auth and delivers to them
--- config
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local c = require "client"
            local json = require "json"
            local root = "$TEST_NGINX_LIAUTO_ROOT"
            -- under html/: the runner wipes it with the servroot
            local prefix = "$TEST_NGINX_SERVER_ROOT/html/sim"
            math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
            local port = 20000 + math.random(20000)
            local base = "http://127.0.0.1:" .. ngx.var.server_port .. "/hook/module"
            assert(http.run(root .. "/t/sim/render.sh " .. prefix .. " " .. port
                            .. " 'k&|ey' " .. base .. " 'se|cr&t' re_x"
                            .. " && nginx -p " .. prefix .. "/ -c conf/nginx.conf"))
            local function call(method, path, body, headers)
                local sock = ngx.socket.tcp()
                sock:settimeout(3000)
                assert(sock:connect("127.0.0.1", port))
                local lines = { method .. " " .. path .. " HTTP/1.1", "Host: sim",
                                "Connection: close",
                                "Content-Length: " .. #(body or "") }
                for k, v in pairs(headers or {}) do
                    lines[#lines + 1] = k .. ": " .. v
                end
                sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
                local raw = sock:receive("*a")
                sock:close()
                local body = raw:match("\r\n\r\n(.*)$")
                return tonumber(raw:match("^HTTP/1.1 (%d+)")), body,
                       json.decode(body)
            end
            local function check()
            local up = c.wait(function ()
                return pcall(call, "GET", "/api/v1/accounts")
            end)
            ngx.say("up: ", up)
            local status, raw = call("GET", "/api/v1/accounts")
            ngx.say(status, raw)
            local _, _, list = call("GET", "/api/v1/webhooks", nil,
                                      { ["X-API-KEY"] = "k&|ey" })
            for _, w in ipairs(list.items) do
                ngx.say(w.source, " ", w.request_url:match("/hook/module.*"), " ",
                        w.headers[1].key, ": ", w.headers[1].value)
            end
            local _, _, a = call("POST", "/_sim/accounts", "{}")
            call("POST", "/_sim/accounts/" .. a.id .. "/status", '{"status":"ERROR"}')
            local got = c.wait(function () return c.received("/hook/module")[1] end)
            ngx.say(got.path, " ", got.headers["unipile-auth"], " ",
                    tostring(got.headers["content-type"]), " ",
                    json.decode(got.body).AccountStatus.message)
            end
            local ok, err = pcall(check)
            -- stopped even when a check failed
            http.run("nginx -p " .. prefix .. "/ -c conf/nginx.conf -s quit")
            assert(ok, err)
        }
    }
--- timeout: 10
--- response_body
up: true
401{"status":401,"type":"errors/missing_credentials","title":"Missing credentials"}
users /hook/module/users Unipile-Auth: se|cr&t
messaging /hook/module/messaging Unipile-Auth: se|cr&t
account_status /hook/module/account-status Unipile-Auth: se|cr&t
/hook/module/account-status se|cr&t nil ERROR



=== TEST 22: faults for one person (match) with any 4xx type; auto_people: unknown profiles exist, named after their slug
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a = c.call("POST", "/_sim/accounts", {}).json
            local p = c.call("POST", "/_sim/people", {}).json
            local q = c.call("POST", "/_sim/people", {}).json
            local r = c.call("POST", "/_sim/faults", { route = "users.invite",
                kind = "status", status = 422, type = "errors/cannot_invite_attendee",
                match = q.provider_id, times = 2 })
            ngx.say(r.status)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = p.provider_id })
            ngx.say(r.status)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = q.provider_id })
            ngx.say(r.status, " ", r.json.type, " ", r.json.title)
            r = c.call("POST", "/_sim/faults", { route = "users.invite",
                       kind = "status", status = 418 })
            ngx.say(r.status)
            r = c.call("GET", "/api/v1/users/grace-hopper?account_id=" .. a.id)
            ngx.say(r.status)
            c.call("POST", "/_sim/config", { auto_people = true })
            r = c.call("GET", "/api/v1/users/grace-brewster-hopper?account_id=" .. a.id)
            ngx.say(r.status, " ", r.json.first_name, " ", r.json.last_name, " ",
                    r.json.provider_id:sub(1, 5))
            local again = c.call("GET", "/api/v1/users/" .. r.json.provider_id
                                 .. "?account_id=" .. a.id).json
            ngx.say(again.public_identifier)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = "ACoAAnewnewnewnewnewnewnewnewnewnewnew0" })
            ngx.say(r.status, " ", r.json.object)
            r = c.call("POST", "/api/v1/users/invite", { account_id = a.id,
                       provider_id = "grace-brewster-hopper" })
            ngx.say(r.status, " ", r.json.type)
        }
    }
--- response_body
201
200
422 errors/cannot_invite_attendee errors/cannot_invite_attendee
400
404
200 Grace Brewster Hopper ACoAA
grace-brewster-hopper
200 UserInvitationSent
404 errors/resource_not_found



=== TEST 23: clock_offset_ms moves the simulator's clock: timestamps follow it and the weekly cap frees up a week later
--- config
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a = c.call("POST", "/_sim/accounts", { weekly_invite_cap = 1 }).json
            local p = c.call("POST", "/_sim/people", {}).json
            local q = c.call("POST", "/_sim/people", {}).json
            local function invite(who)
                local r = c.call("POST", "/api/v1/users/invite",
                                 { account_id = a.id, provider_id = who.provider_id })
                return r.status .. " " .. (r.json.type or r.json.object)
            end
            ngx.say(invite(p))
            ngx.say(invite(q))
            c.call("POST", "/_sim/config", { clock_offset_ms = 7 * 86400000 })
            ngx.say(invite(q))
            local sent = c.call("GET", "/api/v1/users/invite/sent?account_id=" .. a.id).json
            local days = {}
            for _, it in ipairs(sent.items) do days[#days + 1] = it.date end
            ngx.say(table.concat(days, ", "))
        }
    }
--- response_body
200 UserInvitationSent
422 errors/cannot_resend_yet
200 UserInvitationSent
Sent today, Sent 7 days ago
