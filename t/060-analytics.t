# The analytics routes through nginx (migration 0018): a viewer reads its
# own client's numbers, another tenant's campaign, account or client is a
# 404, bad parameters are 400 envelopes, and the CSV export is text/csv
# with spreadsheet formulas neutralised.  The numbers themselves are
# checked against a fixed dataset in sql/tests/0018_analytics.sql.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# client A: a viewer, an account, a campaign whose name is a formula, one
# lead invited 30 minutes ago (inside the last hour and any window of >= 2
# days); client B: the same, never visible to A
our ($viewer_id, $client_a, $account_a, $campaign_a, $client_b,
     $account_b, $campaign_b) = split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t060.test';
DELETE FROM liauto.campaigns WHERE client_id IN
    (SELECT id FROM liauto.clients WHERE name LIKE 't060 %');
DELETE FROM liauto.linkedin_accounts WHERE unipile_account_id LIKE 't060-%';
DELETE FROM liauto.clients WHERE name LIKE 't060 %';
WITH k AS (INSERT INTO liauto.clients (name)
           VALUES ('t060 client a'), ('t060 client b') RETURNING id, name),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id)
           SELECT k.id, 'acct', 't060-' || right(k.name, 1) FROM k
           RETURNING id, client_id),
     c AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name, timezone)
           SELECT a.client_id, a.id, '=HYPERLINK("http://x","y")',
                  'Europe/London'
           FROM a RETURNING id, client_id, linkedin_account_id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id,
                                     public_identifier, status)
           SELECT c.client_id, c.id, 't060-' || c.id, 'invite_sent' FROM c
           RETURNING id, client_id, campaign_id),
     e AS (INSERT INTO liauto.events (client_id, lead_id, campaign_id,
                                      account_id, type, occurred_at, meta)
           SELECT l.client_id, l.id, l.campaign_id, c.linkedin_account_id,
                  'connection_request_sent', liauto.now() - interval '30 minutes',
                  '{"step_index": 0}'
           FROM l JOIN c ON c.id = l.campaign_id RETURNING id),
     v AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'viewer\@t060.test', liauto.hash_password('viewer pass'),
                  'viewer', k.id FROM k WHERE k.name = 't060 client a'
           RETURNING id)
SELECT (SELECT id FROM v),
       ka.id, aa.id, ca.id, kb.id, ab.id, cb.id
FROM k AS ka JOIN a AS aa ON aa.client_id = ka.id
     JOIN c AS ca ON ca.client_id = ka.id,
     k AS kb JOIN a AS ab ON ab.client_id = kb.id
     JOIN c AS cb ON cb.client_id = kb.id
WHERE ka.name = 't060 client a' AND kb.name = 't060 client b'
  AND (SELECT count(*) FROM e) = 2;
SQL`;
chomp $campaign_b;
die "fixtures failed" unless $campaign_b;

# Four writers at once, one invite per transaction, 100 each, all on one
# campaign of client A (400 leads) and so on the same day rows: the
# counters must lose none of them.
our $campaign_c = `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<SQL
WITH c AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id, name)
           VALUES ('$client_a', '$account_a', 't060 concurrent')
           RETURNING id, client_id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id,
                                     public_identifier)
           SELECT c.client_id, c.id, 't060-c-' || w || '-' || i
           FROM c, generate_series(1, 4) AS w, generate_series(1, 100) AS i
           RETURNING id)
SELECT id FROM c WHERE (SELECT count(*) FROM l) = 400;
SQL`;
chomp $campaign_c;
die "concurrent fixtures failed" unless $campaign_c;

my @writers;
for my $w (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $psql, '|-', 'psql', '-qX', '-v', 'ON_ERROR_STOP=1',
            $ENV{TEST_NGINX_LIAUTO_DSN} or die "psql: $!";
        print $psql "INSERT INTO liauto.events (client_id, lead_id,"
            . " campaign_id, account_id, type, occurred_at)"
            . " SELECT client_id, id, campaign_id, '$account_a',"
            . " 'connection_request_sent', liauto.now() - interval '1 minute'"
            . " FROM liauto.leads WHERE public_identifier = 't060-c-$w-$_';\n"
            for 1 .. 100;
        close $psql;
        exit($? >> 8);
    }
    push @writers, $pid;
}
for (@writers) {
    waitpid $_, 0;
    die "a concurrent writer failed" if $?;
}

our $viewer = bearer({ sub => $viewer_id, role => 'viewer',
                       client_id => $client_a });

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

=== TEST 1: a viewer reads its campaign's summary
--- request eval
"GET /api/v1/campaigns/$::campaign_a/analytics/summary?days=7"
--- more_headers eval: $::viewer
--- error_code: 200
--- response_body_like eval
qr/^(?=.*"campaign_id": "$::campaign_a")(?=.*"leads": \{[^}]*"invite_sent": 1)(?=.*"window": \{[^}]*"days": 7)(?=.*"window": \{[^}]*"invites": 1,)(?=.*"reply_rate": null)/



=== TEST 2: its timeseries, funnel, rate usage, comparative and real-time
--- pipelined_requests eval
[ "GET /api/v1/campaigns/$::campaign_a/analytics/timeseries?days=2",
  "GET /api/v1/analytics/campaigns/$::campaign_a/funnel",
  "GET /api/v1/analytics/accounts/$::account_a/rate-usage",
  "GET /api/v1/analytics/clients/$::client_a/comparative?days=2",
  "GET /api/v1/analytics/real-time" ]
--- more_headers eval: $::viewer
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
[ qr/"series": \[\{"day": "[-\d]+", [^]]*\}, \{"day": "[-\d]+", [^]]*\}\]/,
  qr/\{"leads": 1, "stage": "invited", "conversion_rate": null\}/,
  qr/"series": \[(?:\{[^}]*\}, ){6}\{[^}]*\}\]/,
  qr/"campaigns": \[\{[^]]*"invites": 1,[^]]*"campaign_id": "$::campaign_a"/,
  qr/^(?=.*"last_hour": \{[^}]*"connection_request_sent": 401,)(?!.*$::campaign_b)/ ]



=== TEST 3: another tenant's campaign, account or client is a 404
--- pipelined_requests eval
[ "GET /api/v1/campaigns/$::campaign_b/analytics/summary",
  "GET /api/v1/campaigns/$::campaign_b/analytics/timeseries",
  "GET /api/v1/analytics/campaigns/$::campaign_b/funnel",
  "GET /api/v1/analytics/accounts/$::account_b/rate-usage",
  "GET /api/v1/analytics/clients/$::client_b/comparative",
  "GET /api/v1/analytics/real-time?client_id=$::client_b",
  "GET /api/v1/analytics/export?view=summary&id=$::campaign_b" ]
--- more_headers eval: $::viewer
--- error_code eval
[404, 404, 404, 404, 404, 404, 404]
--- response_body_like eval
[ (qr/^\{"code": "NOT_FOUND", "details": \{\}, "message": "[^"]+"\}$/) x 7 ]



=== TEST 4: a bad window is a 400 naming the parameter
--- request eval
"GET /api/v1/campaigns/$::campaign_a/analytics/timeseries?days=366"
--- more_headers eval: $::viewer
--- error_code: 400
--- response_body chomp
{"code": "BAD_REQUEST", "details": {"days": "must be an integer between 1 and 365"}, "message": "invalid query parameters"}



=== TEST 5: the CSV export is text/csv and quotes formula cells
--- request eval
"GET /api/v1/analytics/export?format=csv&view=comparative&days=2&id=$::client_a"
--- more_headers eval: $::viewer
--- error_code: 200
--- response_headers
Content-Type: text/csv; charset=utf-8
--- response_body eval
"kind,id,name,invites,acceptances,messages,replies,acceptance_rate,"
. "reply_rate\r\n"
. "campaigns,$::campaign_a,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","
. "1,0,0,0,0.0000,\r\n"
. "campaigns,$::campaign_c,t060 concurrent,400,0,0,0,0.0000,\r\n"
. "accounts,$::account_a,acct,401,0,0,0,0.0000,\r\n"



=== TEST 6: an export error stays a JSON envelope
--- request eval
"GET /api/v1/analytics/export?format=xlsx&view=summary&id=$::campaign_a"
--- more_headers eval: $::viewer
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"code": "BAD_REQUEST", "details": {"format": "must be csv"}, "message": "invalid query parameters"}



=== TEST 7: four concurrent writers on one day lose no count
--- request eval
"GET /api/v1/campaigns/$::campaign_c/analytics/summary?days=2"
--- more_headers eval: $::viewer
--- error_code: 200
--- response_body_like eval
qr/"window": \{[^}]*"invites": 400,/



=== TEST 8: no token, no numbers
--- request eval
"GET /api/v1/campaigns/$::campaign_a/analytics/summary"
--- error_code: 401
--- response_body_like chomp
^\{"code":"UNAUTHORIZED","message":"[^"]+","details":\{\}\}$
