# GET /api/v1/inbox/stream: Server-Sent Events fed by LISTEN/NOTIFY inside
# the module.  Events are published the way the inbox does it, with
# liauto.publish_inbox_event() (sql 0021), from psql; subscribers are
# cosocket clients inside the same nginx worker (t/lib/liauto/sse.lua)
# that wait for ": connected" (the stream is live) before anything is
# published, so no assertion depends on timing.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(hs256);

repeat_each(1);
no_shuffle();
no_root_location();
# 1,000 subscribers and their 1,000 client sockets in one worker
worker_connections(4096);

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';
$ENV{TEST_NGINX_LIAUTO_PGCTL} ||= 'pg_ctlcluster 15 regress';

# two tenants with fixed ids, so the expected bodies can name them
my %id = (
    A     => '71000000-0000-4000-8000-00000000000a',
    B     => '71000000-0000-4000-8000-00000000000b',
    AGENT => '71000000-0000-4000-8000-0000000000a2',
    OTHER => '71000000-0000-4000-8000-0000000000a3',
);

system('psql', '-qX', '-v', 'ON_ERROR_STOP=1', $ENV{TEST_NGINX_LIAUTO_DSN},
       '-c', "DELETE FROM liauto.clients WHERE id IN ('$id{A}', '$id{B}')",
       '-c', "INSERT INTO liauto.clients (id, name) VALUES"
             . " ('$id{A}', 't071 A'), ('$id{B}', 't071 B')") == 0
    or die "fixtures failed";

$ENV{"TEST_NGINX_T071_$_"} = $id{$_} for keys %id;
$ENV{TEST_NGINX_T071_VIEWER_A} = hs256({ sub => '71000000-0000-4000-8000-0000000000a1',
                                         role => 'viewer', client_id => $id{A} });
$ENV{TEST_NGINX_T071_VIEWER_B} = hs256({ sub => '71000000-0000-4000-8000-0000000000b1',
                                         role => 'viewer', client_id => $id{B} });
$ENV{TEST_NGINX_T071_AGENT_A} = hs256({ sub => $id{AGENT}, role => 'agent',
                                        client_id => $id{A} });
$ENV{TEST_NGINX_T071_ADMIN} = hs256({ sub => '71000000-0000-4000-8000-0000000000ad',
                                      role => 'admin' });

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_postgres_pool_size 2;
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
    lua_package_path "$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
    init_by_lua_block {
        local dsn = "$TEST_NGINX_LIAUTO_DSN"
        local detach = "$TEST_NGINX_LIAUTO_ROOT/t/lib/detach.sh"

        A = "$TEST_NGINX_T071_A"
        B = "$TEST_NGINX_T071_B"
        AGENT = "$TEST_NGINX_T071_AGENT"
        OTHER = "$TEST_NGINX_T071_OTHER"
        PGCTL = "$TEST_NGINX_LIAUTO_PGCTL"
        STREAM = "/api/v1/inbox/stream"
        AS = {
            viewer_a = { Authorization = "Bearer $TEST_NGINX_T071_VIEWER_A" },
            viewer_b = { Authorization = "Bearer $TEST_NGINX_T071_VIEWER_B" },
            agent_a = { Authorization = "Bearer $TEST_NGINX_T071_AGENT_A" },
            admin = { Authorization = "Bearer $TEST_NGINX_T071_ADMIN" },
        }

        function q(s)
            return "'" .. s:gsub("'", "'\\''") .. "'"
        end

        -- runs a shell command (blocking the worker: keep it short) and
        -- returns its output lines
        function sh(cmd)
            local f = io.popen(detach .. " sh -c " .. q(cmd) .. " 2>&1")
            local out = {}
            for line in f:lines() do
                out[#out + 1] = line
            end
            f:close()
            return out
        end

        function psql(sql)
            return "psql " .. q(dsn) .. " -qAtX -v ON_ERROR_STOP=1 -c "
                   .. q(sql)
        end

        local function uuid(v)
            return v and ("'" .. v .. "'") or "NULL"
        end

        -- the SQL of liauto.publish_inbox_event(); data is JSON text
        function publish_sql(client, type, conv, assignee, data)
            return "SELECT liauto.publish_inbox_event('" .. client .. "', '"
                   .. type .. "', " .. uuid(conv) .. ", " .. uuid(assignee)
                   .. ", $j$" .. (data or "{}") .. "$j$)"
        end

        -- publishes one event, returns its id
        function publish(...)
            local out = sh(psql(publish_sql(...)))
            return assert(tonumber(out[#out]), table.concat(out, "\n"))
        end

        function backends(app)
            local out = sh(psql("SELECT count(*) FROM pg_stat_activity"
                                .. " WHERE application_name = '" .. app
                                .. "'"))
            return tonumber(out[1])
        end

        -- "message.created c1" for an event whose data names conversation
        -- c1 (the conversation ids of these tests end in their name)
        function show(ev)
            if not ev then
                return "none"
            end
            local c = ev.data:match('"conversation_id": "[^"]*%-0*(%x+)"')
            return ev.event .. " " .. (c or "-")
        end

        function conv(name)
            return "71000000-0000-4000-8000-" .. string.rep("0", 12 - #name)
                   .. name
        end
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("request", "GET /t") unless defined $block->request;
    $block->set_value("timeout", 30) unless defined $block->timeout;
    $block->set_value("no_error_log", "[alert]\n[crit]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a subscriber gets a published event: headers, retry, then id/event/data
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local s = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            ngx.say(s.status, " ", s.headers["content-type"], "; ",
                    s.headers["cache-control"], "; x-accel-buffering ",
                    s.headers["x-accel-buffering"], "; ",
                    s.headers["transfer-encoding"])
            ngx.say("first: retry ", assert(s:next()).retry)
            assert(s:live())

            local id = publish(A, "message.created", conv("c1"), nil,
                               '{"text": "hello", "direction": "inbound"}')
            local ev = assert(s:event())
            ngx.say("id matches: ", ev.id == tostring(id))
            ngx.say("event: ", ev.event)
            ngx.say("data: ", (ev.data:gsub('"id": %d+', '"id": N')
                                      :gsub('"created_at": "[^"]+"',
                                            '"created_at": T')))
            s:close()
        }
    }
--- response_body
200 text/event-stream; no-cache; x-accel-buffering no; chunked
first: retry 2000
id matches: true
event: message.created
data: {"id": N, "data": {"text": "hello", "direction": "inbound"}, "type": "message.created", "client_id": "71000000-0000-4000-8000-00000000000a", "created_at": T, "assignee_id": null, "conversation_id": "71000000-0000-4000-8000-0000000000c1"}
--- error_log
liauto: stream: listening for inbox events after id



=== TEST 2: tenants and assignees: each subscriber sees only its events
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            -- name, stream, the conversation of the last event it gets
            local subs = {
                { "viewer of A", sse.open(STREAM, { headers = AS.viewer_a }),
                  "ea" },
                { "agent of A", sse.open(STREAM, { headers = AS.agent_a }),
                  "ea" },
                { "viewer of B", sse.open(STREAM, { headers = AS.viewer_b }),
                  "eb" },
                { "admin, client B", sse.open(STREAM .. "?client_id=" .. B,
                                              { headers = AS.admin }), "eb" },
                { "admin", sse.open(STREAM, { headers = AS.admin }), "eb" },
                { "viewer of A, ?client_id=A",
                  sse.open(STREAM .. "?client_id=" .. A,
                           { headers = AS.viewer_a }), "ea" },
            }
            for _, s in ipairs(subs) do
                assert(s[2]:live())
            end

            -- B's first, then A's: someone else's, unassigned, the agent's
            publish(B, "message.created", conv("b1"))
            publish(A, "conversation.updated", conv("a1"), OTHER)
            publish(A, "message.created", conv("a2"))
            publish(A, "conversation.assigned", conv("a3"), AGENT)
            publish(A, "conversation.updated", conv("ea"))
            publish(B, "conversation.updated", conv("eb"))

            for _, s in ipairs(subs) do
                local got = {}
                repeat
                    local ev = show(s[2]:event())
                    got[#got + 1] = ev
                until ev == "none" or ev:sub(-2) == s[3]
                ngx.say(s[1], ": ", table.concat(got, ", "))
                s[2]:close()
            end
        }
    }
--- response_body
viewer of A: conversation.updated a1, message.created a2, conversation.assigned a3, conversation.updated ea
agent of A: message.created a2, conversation.assigned a3, conversation.updated ea
viewer of B: message.created b1, conversation.updated eb
admin, client B: message.created b1, conversation.updated eb
admin: message.created b1, conversation.updated a1, message.created a2, conversation.assigned a3, conversation.updated ea, conversation.updated eb
viewer of A, ?client_id=A: conversation.updated a1, message.created a2, conversation.assigned a3, conversation.updated ea



=== TEST 3: Last-Event-ID replays exactly the missed events (tenant-filtered), then goes live
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local ids = {}
            ids[1] = publish(A, "message.created", conv("d1"))
            ids[2] = publish(A, "message.created", conv("d2"), OTHER)
            ids[3] = publish(B, "message.created", conv("d3"))
            ids[4] = publish(A, "message.created", conv("d4"))

            local function resume(name, path, headers)
                local s = assert(sse.open(path, { headers = headers }))
                local replayed = assert(s:live())
                local got = {}
                for _, ev in ipairs(replayed) do
                    got[#got + 1] = show(ev)
                end
                ngx.say(name, ": replayed ",
                        #got > 0 and table.concat(got, ", ") or "nothing")
                return s
            end

            local h = { Authorization = AS.viewer_a.Authorization,
                        ["Last-Event-ID"] = tostring(ids[1]) }
            local s1 = resume("viewer, Last-Event-ID d1", STREAM, h)
            local s2 = resume("viewer, ?last_event_id=d2",
                              STREAM .. "?last_event_id=" .. ids[2],
                              AS.viewer_a)
            h = { Authorization = AS.agent_a.Authorization,
                  ["Last-Event-ID"] = tostring(ids[1] - 1) }
            local s3 = resume("agent, Last-Event-ID before d1", STREAM, h)
            -- the header wins over the query (EventSource reconnecting)
            h = { Authorization = AS.viewer_a.Authorization,
                  ["Last-Event-ID"] = tostring(ids[4]) }
            local s4 = resume("viewer, header d4 and ?last_event_id=d1",
                              STREAM .. "?last_event_id=" .. ids[1], h)

            publish(A, "message.created", conv("d5"))
            for i, s in ipairs({ s1, s2, s3, s4 }) do
                ngx.say("then live ", i, ": ", show(s:event()))
                s:close()
            end
        }
    }
--- response_body
viewer, Last-Event-ID d1: replayed message.created d2, message.created d4
viewer, ?last_event_id=d2: replayed message.created d4
agent, Last-Event-ID before d1: replayed message.created d1, message.created d4
viewer, header d4 and ?last_event_id=d1: replayed nothing
then live 1: message.created d5
then live 2: message.created d5
then live 3: message.created d5
then live 4: message.created d5



=== TEST 4: what the stream refuses, with envelopes
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local function try(path, headers)
                local s = assert(sse.open(path, { headers = headers }))
                ngx.say(s.status, " ", s.body or "(a stream)")
                if not s.body then
                    s:close()
                end
            end
            try(STREAM)
            try(STREAM .. "?client_id=" .. B, AS.viewer_a)
            try(STREAM .. "?client_id=nope", AS.admin)
            try(STREAM .. "?colour=blue", AS.viewer_a)
            try(STREAM .. "?last_event_id=-1", AS.viewer_a)
            try(STREAM, { Authorization = AS.viewer_a.Authorization,
                          ["Last-Event-ID"] = "12345678901234567890" })
        }
    }
--- response_body
401 {"code":"UNAUTHORIZED","message":"missing Authorization header","details":{}}
404 {"code":"NOT_FOUND","message":"no such client","details":{}}
400 {"code":"BAD_REQUEST","message":"a query parameter is invalid","details":{"client_id":"must be a UUID"}}
400 {"code":"BAD_REQUEST","message":"unknown query parameter","details":{"query":"only client_id and last_event_id are known"}}
400 {"code":"BAD_REQUEST","message":"the event id to resume from is invalid","details":{"last_event_id":"must be an event id (digits)"}}
400 {"code":"BAD_REQUEST","message":"the event id to resume from is invalid","details":{"last_event_id":"must be an event id (digits)"}}



=== TEST 5: liauto_stream_max_subscribers: one more is a 503 envelope, a free slot is reused
--- http_config eval
"liauto_stream_max_subscribers 2;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local a = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            local b = assert(sse.open(STREAM, { headers = AS.viewer_b }))
            assert(a:live())
            assert(b:live())
            local c = assert(sse.open(STREAM, { headers = AS.admin }))
            ngx.say(c.status, " ", c.body)
            b:close()
            -- the worker sees the close when it next runs its events
            local d
            for i = 1, 50 do
                ngx.sleep(0.05)
                d = assert(sse.open(STREAM, { headers = AS.admin }))
                if d.status == 200 then break end
            end
            ngx.say("after a subscriber left: ", d.status)
            a:close()
            d:close()
        }
    }
--- response_body
503 {"code":"SERVICE_UNAVAILABLE","message":"too many stream subscribers; retry later","details":{}}
after a subscriber left: 200
--- error_log
liauto: stream refused: 2 subscribers in this worker already



=== TEST 6: a subscriber that disconnects is removed; the others keep getting events
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local gone = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            local stays = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            assert(gone:live())
            assert(stays:live())
            gone:close()
            ngx.sleep(0.2)
            publish(A, "message.created", conv("d1"))
            ngx.say("the other one: ", show(stays:event()))
            stays:close()
        }
    }
--- response_body
the other one: message.created d1
--- error_log
liauto: stream subscriber left (1 remain in this worker)



=== TEST 7: heartbeats: a ": ping" comment every liauto_stream_heartbeat
--- http_config eval
"liauto_stream_heartbeat 200ms;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local s = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            assert(s:live())
            for i = 1, 2 do
                ngx.say(assert(s:next()).comment)
            end
            s:close()
        }
    }
--- response_body
ping
ping



=== TEST 8: 1,000 idle subscribers on one worker: one LISTEN connection, the pool's, and all get the event
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local n = 1000
            local subs, threads = {}, {}
            for i = 1, n do
                threads[i] = ngx.thread.spawn(function ()
                    local s = assert(sse.open(STREAM, {
                        headers = i % 2 == 0 and AS.viewer_a or AS.admin }))
                    assert(s:live())
                    subs[i] = s
                end)
            end
            for i = 1, n do
                assert(ngx.thread.wait(threads[i]))
            end
            ngx.say("live subscribers: ", #subs)
            ngx.say("LISTEN connections (liauto-stream): ",
                    backends("liauto-stream"))
            ngx.say("pool connections (liauto-nginx) within its size 2: ",
                    backends("liauto-nginx") <= 2)

            local id = publish(A, "message.created", conv("c2"))
            local got = 0
            for i = 1, n do
                threads[i] = ngx.thread.spawn(function ()
                    local ev = subs[i]:event()
                    if ev and ev.id == tostring(id) then
                        got = got + 1
                    end
                    subs[i]:close()
                end)
            end
            for i = 1, n do
                ngx.thread.wait(threads[i])
            end
            ngx.say("received the event: ", got)
        }
    }
--- response_body
live subscribers: 1000
LISTEN connections (liauto-stream): 1
pool connections (liauto-nginx) within its size 2: true
received the event: 1000



=== TEST 9: a slow subscriber over liauto_stream_max_buffer is closed; the stream goes on
--- http_config eval
"liauto_stream_max_buffer 16k;\n$::http_config
    server {
        listen 127.0.0.1:\$TEST_NGINX_RAND_PORT_1 sndbuf=4k;
        location /api/ { liauto_api; }
    }"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local port = tonumber("$TEST_NGINX_RAND_PORT_1")
            local slow = assert(sse.open(STREAM, { headers = AS.viewer_a,
                                                    port = port }))
            assert(slow:live())

            -- ~600 KB in one transaction, more than the socket buffers
            -- hold while the client reads nothing
            local sql = publish_sql(A, "message.created", conv("5a"), nil,
                '{"text": "' .. string.rep("x", 6000) .. '"}')
            sh(psql(sql:gsub("^SELECT ", "SELECT count(") .. ")"
                    .. " FROM generate_series(1, 100)"))

            local ok, err
            repeat
                ok, err = slow:next()
            until not ok
            ngx.say("the slow one: ", err)

            local s = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            assert(s:live())
            publish(A, "message.created", conv("5b"))
            -- (it may join while the hub still sends the last of the 100)
            ngx.say("a new one: ", show(s:wait(function (m)
                return m.id and show(m) ~= "message.created 5a"
            end)))
            s:close()
        }
    }
--- response_body
the slow one: closed
a new one: message.created 5b
--- error_log
liauto: stream subscriber too slow



=== TEST 10: LISTEN connection killed, then Postgres restarted: nothing is lost
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local s = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            assert(s:live())

            -- the worker is blocked in sh() until both are done: the event
            -- is published while nobody listens
            local out = sh(psql("SELECT pg_terminate_backend(pid, 5000)"
                                .. " FROM pg_stat_activity WHERE"
                                .. " application_name = 'liauto-stream'")
                           .. " && " .. psql(publish_sql(A,
                               "message.created", conv("f1"))))
            ngx.say("listener terminated: ", out[1])
            ngx.say("told: ", assert(s:wait(function (m)
                return m.comment and m.comment ~= "ping"
            end)).comment)
            local ev = assert(s:event())
            ngx.say("caught up: ", show(ev), " ", ev.id == out[2])

            sh(PGCTL .. " stop -m fast")
            ngx.sleep(0.3)
            out = sh(PGCTL .. " start && " .. psql(publish_sql(A,
                     "message.created", conv("f2"))))
            ev = assert(s:event())
            ngx.say("after the restart: ", show(ev), " ",
                    ev.id == out[#out])
            publish(A, "message.created", conv("f3"))
            ngx.say("then live: ", show(s:event()))
            ngx.say("LISTEN connections: ", backends("liauto-stream"))
            s:close()
        }
    }
--- response_body
listener terminated: t
told: reconnecting to the database
caught up: message.created f1 true
after the restart: message.created f2 true
then live: message.created f3
LISTEN connections: 1
--- error_log
liauto: listening postgres connection lost
liauto: stream: caught up 1 events after id



=== TEST 11: an event too big for a NOTIFY payload arrives whole, in order
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local sse = require "liauto.sse"
            local s = assert(sse.open(STREAM, { headers = AS.viewer_a }))
            assert(s:live())
            local big = publish(A, "message.created", conv("b16"), nil,
                                '{"text": "' .. string.rep("y", 9000) .. '"}')
            local after = publish(A, "message.created", conv("b17"))
            local ev = assert(s:event())
            ngx.say(show(ev), " ", ev.id == tostring(big), ", text of ",
                    #ev.data:match('"text": "(y*)"'), " bytes")
            ev = assert(s:event())
            ngx.say(show(ev), " ", ev.id == tostring(after))
            s:close()
        }
    }
--- response_body
message.created b16 true, text of 9000 bytes
message.created b17 true
--- error_log
liauto: stream: caught up 
