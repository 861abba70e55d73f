# The inbox API over HTTP: what each role sees of a threaded chat (in
# order, duplicates once), another tenant's conversations invisible on
# every route (list, detail, thread, search, counters, actions), agents
# limited to their own and unassigned conversations, viewers read only
# (403 before SQL), a reply queued once under an Idempotency-Key, and
# every answer conforming to openapi/openapi.yaml.
use Test::Nginx::Socket 'no_plan';

use FindBin ();
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();

use lib "$FindBin::Bin/lib";
use lib "$FindBin::Bin/lib/openapi";
use Liauto::Token qw(hs256);
use LiautoSpec qw(response_conforms path_template);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= "$FindBin::Bin/..";

sub psql_rows {
    my $sql = shift;
    open my $psql, '-|', 'psql', '-qAt', '-X', '-v', 'ON_ERROR_STOP=1',
        '-F', '|', $ENV{TEST_NGINX_LIAUTO_DSN}, '-c', $sql
        or die "psql: $!";
    my @rows = map { chomp; [split /\|/] } <$psql>;
    close $psql or die "psql failed: $sql";
    return @rows;
}

# Two tenants: A (agents a1 and a2, a viewer) and B (one agent); A has
# three chats, B one with the same external ids. Threaded the way
# webhooks thread them (liauto.record_message), out of order and twice.
my ($fx) = psql_rows(<<'_SQL_');
DELETE FROM liauto.users WHERE email LIKE '%@t070.test';
DELETE FROM liauto.linkedin_accounts
WHERE unipile_account_id IN ('t070-acc-a', 't070-acc-b');
DELETE FROM liauto.clients WHERE name IN ('t070 A', 't070 B');
WITH ca AS (INSERT INTO liauto.clients (name) VALUES ('t070 A') RETURNING id),
     cb AS (INSERT INTO liauto.clients (name) VALUES ('t070 B') RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT e, '$2a$06$' || repeat('x', 53), r, c
           FROM (SELECT 'a1@t070.test' e, 'agent' r, (SELECT id FROM ca) c
                 UNION ALL SELECT 'a2@t070.test', 'agent', (SELECT id FROM ca)
                 UNION ALL SELECT 'v@t070.test', 'viewer', (SELECT id FROM ca)
                 UNION ALL SELECT 'b1@t070.test', 'agent', (SELECT id FROM cb))
                AS x
           RETURNING id, email)
SELECT (SELECT id FROM ca), (SELECT id FROM cb),
       (SELECT id FROM u WHERE email = 'a1@t070.test'),
       (SELECT id FROM u WHERE email = 'a2@t070.test'),
       (SELECT id FROM u WHERE email = 'v@t070.test'),
       (SELECT id FROM u WHERE email = 'b1@t070.test');
_SQL_
our ($client_a, $client_b, $a1, $a2, $viewer, $b1) = @$fx;

psql_rows(<<"_SQL_");
INSERT INTO liauto.linkedin_accounts (client_id, name, unipile_account_id,
                                      provider_user_id)
VALUES ('$client_a', 'A sender', 't070-acc-a', 'ACoAAt070me'),
       ('$client_b', 'B sender', 't070-acc-b', 'ACoAAt070meB');
SELECT liauto.record_message(a.client_id, a.id, m.chat, NULL,
           jsonb_build_object(
               'external_message_id', m.ext, 'direction', m.dir,
               'text', m.txt, 'sent_at', m.at,
               'sender', jsonb_build_object('provider_id', 'ACoAA' || m.chat),
               'attendees', jsonb_build_array(jsonb_build_object(
                   'provider_id', 'ACoAA' || m.chat,
                   'name', 'Person ' || m.chat))))
FROM (VALUES ('t070-acc-a', 'chat-1', 'm2', 'inbound', 'Sounds good, call me',
              '2026-11-24T09:05:00Z', 1),
             ('t070-acc-a', 'chat-1', 'm1', 'outbound', 'Hello there',
              '2026-11-24T09:00:00Z', 2),
             ('t070-acc-a', 'chat-1', 'm2', 'inbound', 'Sounds good, call me',
              '2026-11-24T09:05:00Z', 3),
             ('t070-acc-a', 'chat-2', 'm3', 'inbound', 'Tell me more',
              '2026-11-24T09:10:00Z', 4),
             ('t070-acc-a', 'chat-3', 'm4', 'inbound', 'Pricing please',
              '2026-11-24T09:20:00Z', 5),
             ('t070-acc-b', 'chat-1', 'm2', 'inbound', 'Tenant B secret',
              '2026-11-24T09:30:00Z', 6))
     AS m (acc, chat, ext, dir, txt, at, n)
JOIN liauto.linkedin_accounts a ON a.unipile_account_id = m.acc
ORDER BY m.n;
UPDATE liauto.conversations c SET assigned_to_user_id = '$a2'
FROM liauto.linkedin_accounts a
WHERE a.id = c.account_id AND a.unipile_account_id = 't070-acc-a'
  AND c.external_chat_id = 'chat-3';
_SQL_

# "A1" is A's chat-1
our %conv = map { ($_->[0] => $_->[1]) } psql_rows(<<"_SQL_");
SELECT CASE c.client_id WHEN '$client_a' THEN 'A' ELSE 'B' END
       || substr(c.external_chat_id, 6), c.id
FROM liauto.conversations c WHERE c.client_id IN ('$client_a', '$client_b')
_SQL_

sub token {
    my ($sub, $role, $client) = @_;
    return hs256({ sub => $sub, role => $role, client_id => $client });
}
our %tok = (
    a1 => token($a1, 'agent', $client_a),
    a2 => token($a2, 'agent', $client_a),
    viewer => token($viewer, 'viewer', $client_a),
    b1 => token($b1, 'agent', $client_b),
);

# One call: the status, the body conforming to the spec; the decoded body.
sub main::api {
    my ($who, $method, $path, $status, %opt) = @_;
    my $req = HTTP::Request->new($method,
        'http://127.0.0.1:' . server_port() . $path);
    $req->header(Authorization => "Bearer $tok{$who}");
    $req->header('Idempotency-Key' => $opt{key}) if $opt{key};
    if (exists $opt{json}) {
        $req->header('Content-Type' => 'application/json');
        $req->content(JSON::PP->new->encode($opt{json}));
    }
    my $res = LWP::UserAgent->new(timeout => 10)->request($req);
    Test::More::is($res->code, $status, "$who: $method $path -> $status")
        or Test::More::diag($res->content);
    response_conforms($method, path_template($path), $res->code,
                      $res->content, "$who: $method $path: the body"
                      . ' conforms to openapi.yaml',
                      $res->header('Content-Type') // '');
    return $res->content =~ /^[\[{]/
        ? JSON::PP->new->decode($res->content) : $res->content;
}

sub main::ids { [ map { $_->{id} } @{ $_[0]{data} } ] }

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
    $block->set_value("request", "GET /api/v1/health")
        unless defined $block->request;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: the thread over HTTP: both directions in order, a duplicate delivery once
--- init
my $c = $::conv{A1};
my $list = main::api('viewer', 'GET',
                     "/api/v1/inbox/conversations/$c/messages", 200);
Test::More::is_deeply([ map { $_->{external_message_id} } @{ $list->{data} } ],
                      ['m1', 'm2'], 'm1 then m2, m2 once');
my $desc = main::api('viewer', 'GET',
    "/api/v1/inbox/conversations/$c/messages?order=desc&limit=1", 200);
Test::More::is($desc->{data}[0]{external_message_id}, 'm2',
               'order=desc: newest first');
Test::More::ok($desc->{next_cursor}, 'a page of one has a next cursor');
my $one = main::api('viewer', 'GET', "/api/v1/inbox/conversations/$c", 200);
Test::More::is_deeply(
    [ $one->{unread_count}, $one->{last_message}{text},
      $one->{participants}[0]{display_name} ],
    [ 1, 'Sounds good, call me', 'Person chat-1' ],
    'detail: unread once, the latest message, the participant');



=== TEST 2: another tenant's conversations are invisible everywhere
--- init
my $c = $::conv{A1};
my $list = main::api('b1', 'GET', '/api/v1/inbox/conversations', 200);
Test::More::is_deeply(main::ids($list), [ $::conv{B1} ],
                      'B lists only its own conversation');
$list = main::api('b1', 'GET',
    "/api/v1/inbox/conversations?filter[client_id]=$::client_a", 200);
Test::More::is_deeply(main::ids($list), [], "naming A's client: nothing");
$list = main::api('b1', 'GET',
                  '/api/v1/inbox/conversations?filter[search]=call', 200);
Test::More::is_deeply(main::ids($list), [], "searching A's words: nothing");
$list = main::api('a1', 'GET',
                  '/api/v1/inbox/conversations?filter[search]=secret', 200);
Test::More::is_deeply(main::ids($list), [], "nor A searching B's");
my $n = main::api('b1', 'GET', '/api/v1/inbox/counters', 200);
Test::More::is_deeply($n->{queues}{all}, { open => 1, unread => 1 },
                      "B's counters count only B");
main::api('b1', 'GET', "/api/v1/inbox/conversations/$c", 404);
main::api('b1', 'GET', "/api/v1/inbox/conversations/$c/messages", 404);
main::api('b1', 'POST', "/api/v1/inbox/conversations/$c/reply", 404,
          json => { text => 'intrusion' });
main::api('b1', 'POST', "/api/v1/inbox/conversations/$c/$_", 404)
    for qw(read unread close reopen);
main::api('b1', 'POST', "/api/v1/inbox/conversations/$c/assign", 404,
          json => { user_id => $::b1 });
main::api('b1', 'POST', "/api/v1/inbox/conversations/$c/snooze", 404,
          json => { until => '2030-01-01T00:00:00Z' });
my ($queued) = map { $_->[0] } main::psql_rows(
    "SELECT count(*) FROM liauto.messages WHERE text = 'intrusion'");
Test::More::is($queued, 0, 'and nothing was queued');



=== TEST 3: an agent sees its own and the unassigned conversations, a viewer all
--- init
my $all = [ $::conv{A3}, $::conv{A2}, $::conv{A1} ];
Test::More::is_deeply(main::ids(main::api('a1', 'GET',
    '/api/v1/inbox/conversations', 200)), [ $::conv{A2}, $::conv{A1} ],
    "a1: not chat-3, which is a2's");
Test::More::is_deeply(main::ids(main::api('a2', 'GET',
    '/api/v1/inbox/conversations?filter[assignee]=me', 200)), [ $::conv{A3} ],
    'a2: its own with filter[assignee]=me');
Test::More::is_deeply(main::ids(main::api('viewer', 'GET',
    '/api/v1/inbox/conversations', 200)), $all, 'the viewer: all of A');
main::api('a1', 'GET', "/api/v1/inbox/conversations/$::conv{A3}", 404);
my $n = main::api('a1', 'GET', '/api/v1/inbox/counters', 200);
Test::More::is_deeply([ $n->{queues}{all}{open}, $n->{by_assignee} ],
                      [ 2, [] ], "a1's counters leave a2's out");
main::api('a1', 'GET', '/api/v1/inbox/conversations?filter[status]=gone',
          400);



=== TEST 4: a viewer reads but cannot reply, assign, mark or close (403)
--- init
my $c = $::conv{A1};
main::api('viewer', 'POST', "/api/v1/inbox/conversations/$c/reply", 403,
          json => { text => 'viewer says hi' });
main::api('viewer', 'POST', "/api/v1/inbox/conversations/$c/assign", 403,
          json => { user_id => $::viewer });
main::api('viewer', 'POST', "/api/v1/inbox/conversations/$c/$_", 403)
    for qw(read close);
main::api('viewer', 'GET', '/api/v1/inbox/counters', 200);



=== TEST 5: assign, read, snooze and reopen through the API
--- init
my $c = $::conv{A2};
my $r = main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/assign", 200,
                  json => { user_id => $::a1 });
Test::More::is($r->{assigned_to_user_id}, $::a1, 'assigned to itself');
main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/assign", 422,
          json => { user_id => $::b1 });
main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/assign", 422,
          json => { user_id => $::viewer });
$r = main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/read", 200);
Test::More::is($r->{unread_count}, 0, 'read');
$r = main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/snooze", 200,
               json => { until => '2099-01-01T00:00:00Z' });
Test::More::is($r->{status}, 'snoozed', 'snoozed');
main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/snooze", 422,
          json => { until => 'soon' });
$r = main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/reopen", 200);
Test::More::is($r->{status}, 'open', 'reopened');
$r = main::api('a1', 'GET', '/api/v1/inbox/counters', 200);
Test::More::is_deeply($r->{queues}{mine}, { open => 1, unread => 0 },
                      'counters: one open, read conversation of its own');



=== TEST 6: a reply is queued once under an Idempotency-Key, and shows in the thread
--- init
my $c = $::conv{A1};
my $first = main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/reply",
                      202, json => { text => 'Calling you at 3' },
                      key => 't070-reply-1');
my $again = main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/reply",
                      202, json => { text => 'Calling you at 3' },
                      key => 't070-reply-1');
Test::More::is($again->{id}, $first->{id}, 'the retry answers the same message');
Test::More::is($first->{status}, 'queued', 'queued');
main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/reply", 422,
          json => { text => 'Something else' }, key => 't070-reply-1');
main::api('a1', 'POST', "/api/v1/inbox/conversations/$c/reply", 422,
          json => { text => '' });
my ($rows) = map { $_->[0] } main::psql_rows(
    "SELECT count(*) FROM liauto.messages m JOIN liauto.actions x"
    . " ON x.id = m.action_id AND x.kind = 'reply'"
    . " WHERE m.text = 'Calling you at 3'");
Test::More::is($rows, 1, 'one message, one outbox action');
my $thread = main::api('a1', 'GET',
                       "/api/v1/inbox/conversations/$c/messages", 200);
Test::More::is($thread->{data}[-1]{id}, $first->{id},
               'the queued reply is the newest of the thread');
