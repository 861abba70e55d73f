# Notification settings, the weekly report preview and webhook
# subscriptions through nginx: GET/PUT /clients/{id}/notifications (admin
# or the client's agents, 422 per bad field, another tenant's client 404),
# GET /clients/{id}/reports/weekly/preview (figures computed here from the
# events inserted, escaped HTML), /webhook-subscriptions (secret once,
# delivery log, replay); every answer checked against openapi.yaml.
use Test::Nginx::Socket 'no_plan';

use FindBin ();
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();

use lib 't/lib';
use lib "$FindBin::Bin/lib/openapi";
use Liauto::Token qw(bearer);
use LiautoSpec qw(response_conforms);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# Client A (Paris) with an agent and a viewer, client B with an agent;
# A's events: week 45 of 2026 (Mon 2 Nov 00:00 +01:00 ..) and week 44
our ($client_a, $client_b, $agent_a, $viewer_a, $agent_b, $campaign) =
    split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t061.test';
DELETE FROM liauto.campaigns WHERE name = 'Launch <script>';
DELETE FROM liauto.linkedin_accounts WHERE unipile_account_id = 't061-account';
DELETE FROM liauto.clients WHERE name LIKE 't061 %';
WITH ca AS (INSERT INTO liauto.clients (name, timezone)
            VALUES ('t061 <A> & Co', 'Europe/Paris') RETURNING id),
     cb AS (INSERT INTO liauto.clients (name) VALUES ('t061 B')
            RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT x.email, liauto.hash_password('t061 pass phrase'), x.role,
                  x.client_id
           FROM (SELECT 'agent-a\@t061.test' AS email, 'agent' AS role,
                        ca.id AS client_id FROM ca
                 UNION ALL SELECT 'viewer-a\@t061.test', 'viewer', ca.id
                 FROM ca
                 UNION ALL SELECT 'agent-b\@t061.test', 'agent', cb.id
                 FROM cb) AS x
           RETURNING id, email),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id)
           SELECT id, 'Sender <s>', 't061-account' FROM ca
           RETURNING id, client_id),
     c AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name)
           SELECT client_id, id, 'Launch <script>' FROM a
           RETURNING id, client_id, linkedin_account_id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id,
                                     public_identifier)
           SELECT c.client_id, c.id, 't061-lead-' || n
           FROM c, generate_series(1, 3) AS n
           RETURNING id, client_id, campaign_id, public_identifier),
     e AS (INSERT INTO liauto.events (client_id, lead_id, campaign_id,
                                      account_id, type, occurred_at)
           SELECT l.client_id, l.id, l.campaign_id, c.linkedin_account_id,
                  x.type, x.at::timestamptz
           FROM (VALUES
               ('t061-lead-1', 'connection_request_sent',
                '2026-11-01 23:00Z'),                      -- Mon 00:00 W45
               ('t061-lead-2', 'connection_request_sent', '2026-11-03 10:00Z'),
               ('t061-lead-3', 'connection_request_sent',
                '2026-11-08 22:59Z'),                      -- Sun 23:59 W45
               ('t061-lead-1', 'connection_accepted', '2026-11-04 10:00Z'),
               ('t061-lead-2', 'connection_accepted', '2026-11-05 10:00Z'),
               ('t061-lead-1', 'message_sent', '2026-11-05 11:00Z'),
               ('t061-lead-2', 'message_sent', '2026-11-06 11:00Z'),
               ('t061-lead-1', 'message_received', '2026-11-07 09:00Z'),
               ('t061-lead-3', 'connection_request_sent',
                '2026-11-01 22:59Z'),                      -- Sun 23:59 W44
               ('t061-lead-3', 'message_sent', '2026-10-27 10:00Z'),
               ('t061-lead-2', 'message_sent',
                '2026-11-08 23:00Z')                       -- Mon 00:00 W46
           ) AS x (slug, type, at)
           JOIN l ON l.public_identifier = x.slug
           JOIN c ON c.id = l.campaign_id
           RETURNING 1)
SELECT (SELECT id FROM ca), (SELECT id FROM cb),
       (SELECT id FROM u WHERE email LIKE 'agent-a%'),
       (SELECT id FROM u WHERE email LIKE 'viewer-a%'),
       (SELECT id FROM u WHERE email LIKE 'agent-b%'),
       (SELECT id FROM c), (SELECT count(*) FROM e);
SQL`;
die "fixtures failed" unless $campaign;

our %token = (
    agent_a  => bearer({ sub => $agent_a, role => 'agent',
                         client_id => $client_a }),
    viewer_a => bearer({ sub => $viewer_a, role => 'viewer',
                         client_id => $client_a }),
    agent_b  => bearer({ sub => $agent_b, role => 'agent',
                         client_id => $client_b }),
);
s/^Authorization: Bearer // for values %token;

my $json = JSON::PP->new->canonical;

# One call: checks the status and that the body conforms to the spec;
# returns the decoded body.
sub main::psql {
    my $sql = shift;
    system('psql', '-qX', '-v', 'ON_ERROR_STOP=1',
           $ENV{TEST_NGINX_LIAUTO_DSN}, '-c', $sql) == 0
        or die "psql failed: $sql";
}

sub main::api {
    my ($who, $method, $path, $status, $body) = @_;
    my $req = HTTP::Request->new($method,
        'http://127.0.0.1:' . server_port() . $path);
    $req->header(Authorization => "Bearer $token{$who}");
    if (defined $body) {
        $req->header('Content-Type' => 'application/json');
        $req->content($json->encode($body));
    }
    my $res = LWP::UserAgent->new(timeout => 10)->request($req);
    Test::More::is($res->code, $status, "$who: $method $path: $status")
        or Test::More::diag($res->content);
    response_conforms($method, $path, $res->code, $res->content,
                      "... conforms to openapi.yaml",
                      $res->header('Content-Type') // '');
    return $res->content =~ /^[\[{]/ ? $json->decode($res->content) : undef;
}

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config", "location /api/ { liauto_api; }")
        unless defined $block->config;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: settings: defaults, a PUT, each bad field named, roles and tenants
--- init
my $path = "/api/v1/clients/$::client_a/notifications";
my $s = main::api('agent_a', 'GET', $path, 200);
Test::More::is_deeply([ @$s{qw(reply_notifications recipients batch_seconds
                               weekly_report report_weekday report_time
                               updated_at)} ],
                      [ JSON::PP::true, [], 60, JSON::PP::true, 1, '08:00',
                        undef ],
                      'the defaults: nobody to send to yet');

$s = main::api('agent_a', 'PUT', $path, 200,
               { recipients => [ 'ops@t061.test' ], batch_seconds => 120,
                 weekly_report => JSON::PP::false });
Test::More::is_deeply([ @$s{qw(recipients batch_seconds weekly_report
                               report_time)} ],
                      [ [ 'ops@t061.test' ], 120, JSON::PP::false, '08:00' ],
                      'PUT: what was given, the rest at the defaults');
Test::More::is(main::api('agent_a', 'GET', $path, 200)->{batch_seconds},
               120, 'GET reads it back');

my $e = main::api('agent_a', 'PUT', $path, 422,
                  { recipients => [ 'x@t061.test', 'nope' ],
                    batch_seconds => -1, report_time => '8am',
                    report_weekday => 9, reply_notifications => 'yes',
                    extra => 1 });
Test::More::is_deeply($e->{details},
    { recipients => 'item 1 must be an email address',
      batch_seconds => 'must be between 0 and 3600',
      report_time => 'must be a time "HH:MM"',
      report_weekday => 'must be between 1 and 7',
      reply_notifications => 'must be a boolean',
      extra => 'unknown field' }, '422: each bad field named');
Test::More::is(main::api('agent_a', 'GET', $path, 200)->{batch_seconds},
               120, '... and nothing changed');

main::api('viewer_a', 'GET', $path, 403);
main::api('viewer_a', 'PUT', $path, 403, { recipients => [] });
main::api('agent_b', 'GET', $path, 404);
main::api('agent_b', 'PUT', $path, 404, { recipients => [] });
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 2: the weekly report preview: figures counted by hand, escaped HTML
--- init
my $base = "/api/v1/clients/$::client_a/reports/weekly/preview";
my $r = main::api('viewer_a', 'GET', "$base?week=2026-W45", 200);
Test::More::is($r->{week}, '2026-W45', 'the week asked for');
Test::More::is_deeply($r->{data}{totals},
    { this_week => { invites => 3, acceptances => 2, messages => 2,
                     replies => 1, acceptance_rate => 66.7,
                     reply_rate => 50 },
      last_week => { invites => 1, acceptances => 0, messages => 1,
                     replies => 0, acceptance_rate => 0,
                     reply_rate => 0 } },
    'totals of W45 and W44, Monday 00:00 to Monday 00:00 in Paris');
Test::More::is_deeply([ map { $_->{name} } @{ $r->{data}{campaigns} },
                              @{ $r->{data}{accounts} } ],
                      [ 'Launch <script>', 'Sender <s>' ],
                      'one campaign, one account');
Test::More::like($r->{html}, qr/Launch &lt;script&gt;/,
                 'the HTML escapes the campaign name');
Test::More::unlike($r->{html}, qr/<script>/, '... no raw tag anywhere');
Test::More::like($r->{text}, qr/Replies +1 +0 +\+1\n/,
                 'the text: replies this week, last week, change');
Test::More::is($r->{subject}, 'Weekly report 2026-W45 for t061 <A> & Co',
               'the subject');

$r = main::api('viewer_a', 'GET', "$base?week=2026-W46", 200);
Test::More::is($r->{data}{totals}{this_week}{messages}, 1,
               'W46 starts Monday 00:00 Paris');

main::api('viewer_a', 'GET', "$base?week=2026-W60", 400);
main::api('viewer_a', 'GET', "$base?week=45", 400);
main::api('viewer_a', 'GET', "$base?colour=red", 400);
main::api('agent_b', 'GET', "$base?week=2026-W45", 404);
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 3: an invalid client id is a 400 envelope
--- request
GET /api/v1/clients/not-a-uuid/notifications
--- more_headers eval
"Authorization: Bearer $::token{agent_a}"
--- error_code: 400
--- response_body_like chomp
^\{"code":"BAD_REQUEST",



=== TEST 4: webhook subscriptions: the secret once, the delivery log, replay
--- init
my $sub = main::api('agent_a', 'POST', '/api/v1/webhook-subscriptions', 201,
                    { url => 'https://crm.t061.test/hook',
                      events => [ 'lead.replied' ] });
Test::More::like($sub->{secret}, qr/^whsec_[0-9a-f]{64}$/,
                 'created with its secret');
my $list = main::api('agent_a', 'GET', '/api/v1/webhook-subscriptions', 200);
Test::More::is_deeply([ map { $_->{id} } @{ $list->{data} } ],
                      [ $sub->{id} ], 'listed for its client');
Test::More::ok(!exists $list->{data}[0]{secret}, '... without the secret');
main::api('agent_b', 'GET', '/api/v1/webhook-subscriptions', 200);
main::api('viewer_a', 'POST', '/api/v1/webhook-subscriptions', 403,
          { url => 'https://x.t061.test', events => [ 'lead.replied' ] });
my $e = main::api('agent_a', 'POST', '/api/v1/webhook-subscriptions', 422,
                  { url => 'mailto:x@t061.test', events => 'lead.replied' });
Test::More::is_deeply($e->{details},
                      { url => 'must be an http:// or https:// URL',
                        events => 'must be an array' },
                      '422 per bad field');

main::psql("INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,"
           . " external_id) SELECT client_id, id, campaign_id,"
           . " 'message_received', 't061-m1' FROM liauto.leads"
           . " WHERE public_identifier = 't061-lead-2'");
my $log = main::api('viewer_a', 'GET',
                    "/api/v1/webhook-subscriptions/$sub->{id}/deliveries",
                    200);
Test::More::is_deeply([ map { "$_->{event_type} $_->{status}"
                              . " $_->{payload}{data}{lead}{public_identifier}" }
                        @{ $log->{data} } ],
                      [ 'lead.replied pending t061-lead-2' ],
                      'a reply: one delivery in the log');
main::api('agent_b', 'GET',
          "/api/v1/webhook-subscriptions/$sub->{id}/deliveries", 404);

my $first = $log->{data}[0];
my $again = main::api('agent_a', 'POST',
    "/api/v1/webhook-subscriptions/$sub->{id}/deliveries/$first->{id}/replay",
    202);
Test::More::is_deeply([ @$again{qw(replay_of event_id status)} ],
                      [ $first->{id}, $first->{event_id}, 'pending' ],
                      'replay: the same event again');
main::api('agent_a', 'POST',
    "/api/v1/webhook-subscriptions/$sub->{id}/deliveries/$sub->{id}/replay",
    404);
main::api('agent_a', 'POST',
    "/api/v1/webhook-subscriptions/$sub->{id}/deliveries/nope/replay", 400);
main::api('agent_b', 'DELETE', "/api/v1/webhook-subscriptions/$sub->{id}",
          404);
main::api('agent_a', 'DELETE', "/api/v1/webhook-subscriptions/$sub->{id}",
          204);
main::api('agent_a', 'GET',
          "/api/v1/webhook-subscriptions/$sub->{id}/deliveries", 404);
--- request
GET /api/v1/health
--- error_code: 200
