# The safety features of issue 8 through the module: the do-not-contact
# list (an entry skips the client's matching leads at once, an import of a
# listed person stores it as skipped, tenants and roles), the campaign's
# company options and an account's warm-up budget.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# client A: agent, viewer, an account, a campaign with a lead at Initech;
# client B: an agent and a lead at Initech too
our ($agent_id, $viewer_id, $client_id, $account_id, $campaign_id,
     $b_agent_id, $b_client_id) = split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t080.test';
DELETE FROM liauto.campaigns WHERE name LIKE 't080 %';
DELETE FROM liauto.linkedin_accounts WHERE name LIKE 't080 %';
DELETE FROM liauto.clients WHERE name LIKE 't080 %';
WITH a AS (INSERT INTO liauto.clients (name) VALUES ('t080 client a')
           RETURNING id),
     b AS (INSERT INTO liauto.clients (name) VALUES ('t080 client b')
           RETURNING id),
     ua AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
            SELECT 'agent\@t080.test', liauto.hash_password('x'), 'agent',
                   a.id FROM a RETURNING id),
     uv AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
            SELECT 'viewer\@t080.test', liauto.hash_password('x'), 'viewer',
                   a.id FROM a RETURNING id),
     ub AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
            SELECT 'agent-b\@t080.test', liauto.hash_password('x'), 'agent',
                   b.id FROM b RETURNING id),
     acc AS (INSERT INTO liauto.linkedin_accounts
                 (client_id, name, unipile_account_id, daily_invite_limit,
                  warmup_days, warmup_start_percent)
             SELECT a.id, 't080 sender', 't080-unipile', 30, 5, 10 FROM a
             RETURNING id),
     c AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT a.id, 't080 campaign' FROM a RETURNING id),
     cb AS (INSERT INTO liauto.campaigns (client_id, name)
            SELECT b.id, 't080 campaign b' FROM b RETURNING id),
     la AS (INSERT INTO liauto.leads (client_id, campaign_id, company,
                                      public_identifier)
            SELECT a.id, c.id, 'Initech', 'peter-t080' FROM a, c
            RETURNING id),
     lb AS (INSERT INTO liauto.leads (client_id, campaign_id, company,
                                      public_identifier)
            SELECT b.id, cb.id, 'Initech', 'peter-t080' FROM b, cb
            RETURNING id)
SELECT (SELECT id FROM ua), (SELECT id FROM uv), (SELECT id FROM a),
       (SELECT id FROM acc), (SELECT id FROM c), (SELECT id FROM ub),
       (SELECT id FROM b) || (SELECT '' FROM la) || (SELECT '' FROM lb);
SQL`;
chomp $b_client_id;
die "fixtures failed" unless $b_client_id;

our $agent = bearer({ sub => $agent_id, role => 'agent',
                      client_id => $client_id });
our $viewer = bearer({ sub => $viewer_id, role => 'viewer',
                       client_id => $client_id });
our $agent_b = bearer({ sub => $b_agent_id, role => 'agent',
                        client_id => $b_client_id });

sub psql {
    my $out = `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 -c "$_[0]"`;
    chomp $out;
    return $out;
}

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config);
    $block->set_value("config", "location /api/ { liauto_api; }");
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a viewer may read the list but not add to it
--- request
POST /api/v1/blocklist
{"kind": "company", "value": "Initech"}
--- more_headers eval
"$::viewer\nContent-Type: application/json"
--- error_code: 403
--- response_body_like chomp
^\{"code":"FORBIDDEN",



=== TEST 2: an entry skips the client's matching lead at once, not client B's
--- request
POST /api/v1/blocklist
{"kind": "company", "value": "  initech ", "note": "a customer"}
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 201
--- response_body_like chomp
^(?=.*"kind": "company")(?=.*"value": "initech")(?=.*"note": "a customer")(?=.*"leads_skipped": 1)



=== TEST 3: client A's lead at Initech now says why it is skipped
--- request eval
"GET /api/v1/campaigns/$::campaign_id/leads"
--- more_headers eval: $::agent
--- response_body_like chomp
^\{"data": \[\{(?=[^]]*"status": "skipped")(?=[^]]*"error_reason": "blocklisted company \\"initech\\"")[^]]*\}\], "next_cursor": null\}$



=== TEST 4: client B's lead at Initech is untouched
--- request
GET /api/v1/leads
--- more_headers eval: $::agent_b
--- response_body_like chomp
^\{"data": \[\{(?=[^]]*"status": "pending")[^]]*\}\], "next_cursor": null\}$



=== TEST 5: the same company spelled otherwise is a 409
--- request
POST /api/v1/blocklist
{"kind": "company", "value": "INITECH"}
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 409
--- response_body_like chomp
^\{"code": "DUPLICATE",



=== TEST 6: bad entries get one error per field
--- request
POST /api/v1/blocklist
{"kind": "domain", "value": "not a domain", "colour": "red"}
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 422
--- response_body chomp
{"code": "VALIDATION_FAILED", "details": {"value": "must be a domain such as example.com", "colour": "unknown field"}, "message": "validation failed"}



=== TEST 7: an imported listed person is stored as skipped, with why
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Company,LinkedIn URL\r\n"
. "Milton,INITECH,https://www.linkedin.com/in/milton-t080/\r\n"
. "Joanna,Chotchkie's,https://www.linkedin.com/in/joanna-t080/\r\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- response_body_like chomp
^(?=.*"imported": 2,)



=== TEST 8: the listed person is skipped with the entry as the reason
--- request eval
"GET /api/v1/campaigns/$::campaign_id/leads?filter[status]=skipped"
--- more_headers eval: $::agent
--- response_body_like chomp
^\{"data": \[\{(?=[^]]*"public_identifier": "milton-t080")(?=[^]]*"error_reason": "blocklisted company \\"initech\\"")[^]]*\}\], "next_cursor": null\}$



=== TEST 9: client B does not see client A's list
--- request
GET /api/v1/blocklist
--- more_headers eval: $::agent_b
--- response_body chomp
{"data": [], "next_cursor": null}



=== TEST 10: nor can it delete A's entry
--- request eval
"DELETE /api/v1/blocklist/" . main::psql("SELECT id FROM liauto.blocklist_entries WHERE value = 'initech'")
--- more_headers eval: $::agent_b
--- error_code: 404



=== TEST 11: a campaign takes the company options, validated
--- request eval
"PATCH /api/v1/campaigns/$::campaign_id\n"
. '{"stop_company_on_reply": "yes", "company_daily_invite_cap": 0}'
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 422
--- response_body chomp
{"code": "VALIDATION_FAILED", "details": {"stop_company_on_reply": "must be a boolean", "company_daily_invite_cap": "must be between 1 and 1000"}, "message": "validation failed"}



=== TEST 12: the options are stored and shown
--- request eval
"PATCH /api/v1/campaigns/$::campaign_id\n"
. '{"stop_company_on_reply": true, "company_daily_invite_cap": 2}'
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- response_body_like chomp
(?=.*"stop_company_on_reply": true)(?=.*"company_daily_invite_cap": 2)



=== TEST 13: an account on warm-up day 0 has 10 % of its invite limit today
--- request eval
"GET /api/v1/linkedin-accounts/$::account_id/budget"
--- more_headers eval: $::viewer
--- response_body_like chomp
(?=.*"invite": \{[^}]*"daily_limit": 3,[^}]*"configured_limit": 30\})(?=.*"warmup": \{"day": 0, "days": 5, "complete": false)



=== TEST 14: another client's account budget is a 404
--- request eval
"GET /api/v1/linkedin-accounts/$::account_id/budget"
--- more_headers eval: $::agent_b
--- error_code: 404
--- response_body_like chomp
^\{"code": "NOT_FOUND",
