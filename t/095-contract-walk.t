# A walk through the resource API with valid requests: every operation the
# other .t files do not send over HTTP, once, as the documentation shows
# it (the request examples of openapi/openapi.yaml).  Here each answers its
# documented success status; in ./build.sh test's "contract" suite the
# same traffic goes through prism, which checks each response against the
# spec.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# fixtures: an admin; a client with an account, a draft campaign on it, a
# lead, an agent, a blocklist entry, a conversation with the lead; a second
# campaign, account, client, user and lead to delete
our ($admin_id, $client_id, $account_id, $campaign_id, $lead_id, $agent_id,
     $block_id, $d_campaign, $d_account, $d_client, $d_user, $d_lead,
     $conversation_id)
    = split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t095.test';
DELETE FROM liauto.conversations WHERE client_id IN
    (SELECT id FROM liauto.clients WHERE name LIKE 't095 %');
DELETE FROM liauto.leads WHERE client_id IN
    (SELECT id FROM liauto.clients WHERE name LIKE 't095 %');
DELETE FROM liauto.campaigns WHERE client_id IN
    (SELECT id FROM liauto.clients WHERE name LIKE 't095 %');
DELETE FROM liauto.linkedin_accounts WHERE client_id IN
    (SELECT id FROM liauto.clients WHERE name LIKE 't095 %');
DELETE FROM liauto.clients WHERE name LIKE 't095 %';
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('t095 client')
           RETURNING id),
     d AS (INSERT INTO liauto.clients (name) VALUES ('t095 doomed')
           RETURNING id),
     adm AS (INSERT INTO liauto.users (email, password_hash, role)
             VALUES ('admin\@t095.test', liauto.hash_password('t095 admin pw'),
                     'admin') RETURNING id),
     ag AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
            SELECT 'agent\@t095.test', liauto.hash_password('t095 agent pw'),
                   'agent', c.id FROM c RETURNING id),
     du AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
            SELECT 'doomed\@t095.test', liauto.hash_password('t095 doomed pw'),
                   'viewer', c.id FROM c RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id)
           SELECT c.id, 't095 account', 't095-acc' FROM c RETURNING id),
     da AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                  unipile_account_id)
            SELECT c.id, 't095 doomed', 't095-doomed' FROM c RETURNING id),
     k AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id, name)
           SELECT c.id, a.id, 't095 campaign' FROM c, a RETURNING id),
     dk AS (INSERT INTO liauto.campaigns (client_id, name)
            SELECT c.id, 't095 doomed' FROM c RETURNING id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                     public_identifier)
           SELECT c.id, k.id, 'Ada', 't095-ada' FROM c, k RETURNING id),
     dl AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                      public_identifier)
            SELECT c.id, k.id, 'Bob', 't095-bob' FROM c, k RETURNING id),
     b AS (INSERT INTO liauto.blocklist_entries (client_id, kind, value,
                                                 match_key)
           SELECT c.id, 'company', 'T095 Corp', 't095 corp' FROM c
           RETURNING id),
     cv AS (INSERT INTO liauto.conversations (client_id, account_id,
                                              external_chat_id, lead_id,
                                              campaign_id)
            SELECT c.id, a.id, 't095-chat', l.id, k.id FROM c, a, l, k
            RETURNING id)
SELECT (SELECT id FROM adm), (SELECT id FROM c), (SELECT id FROM a),
       (SELECT id FROM k), (SELECT id FROM l), (SELECT id FROM ag),
       (SELECT id FROM b), (SELECT id FROM dk), (SELECT id FROM da),
       (SELECT id FROM d), (SELECT id FROM du), (SELECT id FROM dl),
       (SELECT id FROM cv);
SQL`;
chomp $conversation_id if defined $conversation_id;
die "fixtures failed" unless $conversation_id;

our $admin = bearer({ sub => $admin_id, role => 'admin' })
           . "\nContent-Type: application/json";

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config);
    $block->set_value("config", "location /api/ { liauto_api; }");
    $block->set_value("more_headers", $::admin);
    $block->set_value("no_error_log", "[alert]");
});

run_tests();

__DATA__

=== TEST 1: users: list, create, read, update, delete
--- request eval
[ "GET /api/v1/users?limit=5",
  "POST /api/v1/users\n"
  . qq({"client_id":"$::client_id","email":"new-agent\@t095.test","password":"a long enough secret","role":"agent"}),
  "GET /api/v1/users/$::agent_id",
  "PATCH /api/v1/users/$::agent_id\n" . '{"email":"agent-renamed@t095.test"}',
  "DELETE /api/v1/users/$::d_user" ]
--- error_code eval
[200, 201, 200, 200, 204]



=== TEST 2: clients and their notification settings and weekly report
--- request eval
[ "GET /api/v1/clients/$::client_id",
  "PATCH /api/v1/clients/$::client_id\n" . '{"timezone":"Europe/Berlin"}',
  "PUT /api/v1/clients/$::client_id/notifications\n"
  . '{"batch_seconds":60,"recipients":["ops@agency.example"],"report_time":"08:00","report_weekday":1,"weekly_report":true}',
  "GET /api/v1/clients/$::client_id/reports/weekly/preview",
  "DELETE /api/v1/clients/$::d_client" ]
--- error_code eval
[200, 200, 200, 200, 204]



=== TEST 3: LinkedIn accounts
--- request eval
[ "GET /api/v1/linkedin-accounts",
  "POST /api/v1/linkedin-accounts\n"
  . qq({"client_id":"$::client_id","daily_invite_limit":20,"name":"Jane Doe (sales)","timezone":"Europe/Berlin","unipile_account_id":"t095-new"}),
  "GET /api/v1/linkedin-accounts/$::account_id",
  "PATCH /api/v1/linkedin-accounts/$::account_id\n" . '{"daily_invite_limit":15}',
  "GET /api/v1/linkedin-accounts/$::account_id/invitations",
  "DELETE /api/v1/linkedin-accounts/$::d_account" ]
--- error_code eval
[200, 201, 200, 200, 200, 204]



=== TEST 4: campaigns, their sequence, status, start and pause, variants
--- request eval
[ "GET /api/v1/campaigns",
  "GET /api/v1/campaigns/$::campaign_id",
  "PUT /api/v1/campaigns/$::campaign_id/sequence\n"
  . '{"steps":[{"delay_days":0,"note":"Hi {{first_name|there}}","type":"invite"},{"delay_days":3,"text":"Thanks for connecting, {{first_name|there}}!","type":"message"}]}',
  "GET /api/v1/campaigns/$::campaign_id/sequence",
  "POST /api/v1/campaigns/$::campaign_id/actions/start",
  "GET /api/v1/campaigns/$::campaign_id/status",
  "POST /api/v1/campaigns/$::campaign_id/actions/pause",
  "GET /api/v1/campaigns/$::campaign_id/analytics/variants",
  "GET /api/v1/campaigns/$::campaign_id/events/export",
  "DELETE /api/v1/campaigns/$::d_campaign" ]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 200, 204]



=== TEST 5: leads
--- request eval
[ "POST /api/v1/campaigns/$::campaign_id/leads\n"
  . '{"custom_fields":{"source":"conference"},"first_name":"Ada","last_name":"Lovelace","public_identifier":"t095-ada-lovelace"}',
  "POST /api/v1/leads\n"
  . qq({"campaign_id":"$::campaign_id","company":"Analytical Engines Ltd","first_name":"Ada","last_name":"Byron","profile_url":"https://www.linkedin.com/in/t095-ada-byron/"}),
  "GET /api/v1/leads/$::lead_id",
  "PATCH /api/v1/leads/$::lead_id\n" . '{"status":"skipped"}',
  "GET /api/v1/leads/$::lead_id/schedule",
  "GET /api/v1/leads/$::lead_id/events",
  "DELETE /api/v1/leads/$::d_lead" ]
--- error_code eval
[201, 201, 200, 200, 200, 200, 204]



=== TEST 6: blocklist entry, scheduler, inbox lists; logout of a token never issued
--- request eval
[ "DELETE /api/v1/blocklist/$::block_id",
  "GET /api/v1/automation/scheduler/status",
  "POST /api/v1/automation/scheduler/actions/stop",
  "POST /api/v1/automation/scheduler/actions/start",
  "GET /api/v1/inbox/conversations",
  "GET /api/v1/inbox/counters",
  "POST /api/v1/auth/logout\n" . '{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' ]
--- error_code eval
[204, 200, 200, 200, 200, 200, 401]



=== TEST 7: a conversation: read it and its messages, mark, assign, snooze, reply, close, reopen
--- request eval
[ "GET /api/v1/inbox/conversations/$::conversation_id",
  "GET /api/v1/inbox/conversations/$::conversation_id/messages",
  "POST /api/v1/inbox/conversations/$::conversation_id/read",
  "POST /api/v1/inbox/conversations/$::conversation_id/unread",
  "POST /api/v1/inbox/conversations/$::conversation_id/assign\n"
  . qq({"user_id":"$::agent_id"}),
  "POST /api/v1/inbox/conversations/$::conversation_id/snooze\n"
  . '{"until":"2099-01-01T09:00:00Z"}',
  "POST /api/v1/inbox/conversations/$::conversation_id/reply\n"
  . '{"text":"Thanks Lea, does Thursday 3 pm suit you?"}',
  "POST /api/v1/inbox/conversations/$::conversation_id/close",
  "POST /api/v1/inbox/conversations/$::conversation_id/reopen" ]
--- error_code eval
[200, 200, 200, 200, 200, 200, 202, 200, 200]



=== TEST 8: admin jobs and status; outbound webhook subscriptions
--- request eval
[ "GET /api/v1/admin/migrations/status",
  "GET /api/v1/admin/webhooks",
  "POST /api/v1/admin/sync/relations\n" . qq({"campaign_id":"$::campaign_id"}),
  "POST /api/v1/admin/backfill/conversations\n"
  . qq({"account_id":"$::account_id"}),
  "POST /api/v1/admin/backfill/replies\n"
  . qq({"account_id":"$::account_id","since":"2026-11-23T00:00:00Z"}),
  "GET /api/v1/webhook-subscriptions" ]
--- error_code eval
[200, 200, 202, 202, 202, 200]
