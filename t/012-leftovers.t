# Leftovers of issue 3 through the module (migration 0020): an import of
# cells a spreadsheet would evaluate exports them as text (OWASP CSV
# injection); a campaign's working hours may end at "24:00".
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# client with an agent and an empty campaign
our ($agent_id, $client_id, $campaign_id) = split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t012.test';
DELETE FROM liauto.campaigns WHERE name LIKE 't012 %';
DELETE FROM liauto.clients WHERE name LIKE 't012 %';
WITH a AS (INSERT INTO liauto.clients (name) VALUES ('t012 client')
           RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent\@t012.test', liauto.hash_password('agent pass phrase'),
                  'agent', a.id FROM a RETURNING id),
     c AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT a.id, 't012 export' FROM a RETURNING id)
SELECT (SELECT id FROM u), (SELECT id FROM a), (SELECT id FROM c);
SQL`;
chomp $campaign_id;
die "fixtures failed" unless $campaign_id;

our $agent = bearer({ sub => $agent_id, role => 'agent',
                      client_id => $client_id });

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

=== TEST 1: a file of formulas imports as plain data
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Company,Title,Profile URL,=Score\r\n"
. "\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",+Acme,\@Boss,"
.     "https://www.linkedin.com/in/formula-one,-1+2\r\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- response_body_like chomp
^(?=.*"imported": 1,)(?=.*"invalid": 0,)



=== TEST 2: the export prefixes cells starting with = + - @ with a quote
--- request eval
"GET /api/v1/campaigns/$::campaign_id/leads/export"
--- more_headers eval: $::agent
--- response_headers
Content-Type: text/csv; charset=utf-8
--- response_body_like
^id,first_name,last_name,company,title,email,public_identifier,profile_url,status,current_step,created_at,'=Score\r
[0-9a-f-]{36},"'=HYPERLINK\(""http://evil.example"",""x""\)",,'\+Acme,'\@Boss,,[^,]*,https://www.linkedin.com/in/formula-one,pending,0,[^,]+,'-1\+2\r



=== TEST 3: working hours may end at 24:00, the end of the day
--- request eval
"POST /api/v1/campaigns
{\"name\": \"t012 evenings\", \"working_hours_start\": \"18:00\", \"working_hours_end\": \"24:00\"}"
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 201
--- response_body_like chomp
"working_hours_end": ?"24:00"



=== TEST 4: ... but never start there
--- request eval
"POST /api/v1/campaigns
{\"name\": \"t012 never\", \"working_hours_start\": \"24:00\", \"working_hours_end\": \"24:00\"}"
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 422
--- response_body_like chomp
"details": \{"working_hours_start": "must be a time \\"HH:MM\\""\}
