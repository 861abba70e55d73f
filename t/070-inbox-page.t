# The operator's inbox page (/inbox, conf/inbox/) in headless Chromium,
# end to end: this test's nginx serves the page and the API, a simulator
# plays LinkedIn, a liauto-worker sends replies. The browser logs in as an
# agent, sees a lead's reply arrive while the page is open, opens it,
# assigns it to itself, marks it read and answers; the simulator receives
# the answer exactly once and the page shows it sent.
#
# The lead's reply is made on the simulator (/_sim/reply), which delivers
# Unipile's messaging webhook to this nginx with the shared secret; the
# module stores it, the worker processes it and threads the message
# (liauto.record_message), whose insert publishes message.created (0022);
# the page learns about it from the realtime stream (GET
# /api/v1/inbox/stream), and about the answer being sent from
# message.updated.
use Test::Nginx::Socket 'no_plan';

use Cwd ();
use File::Temp ();
use FindBin ();

use lib "$FindBin::Bin/../worker/tests/lib";
use LiautoWorker qw(build_worker start_worker stop_worker wait_until slurp
                    write_file);
use LiautoSim qw(start_simulator sim_control sim_api sim_dsn sim_key);

repeat_each(1);
no_shuffle();
no_root_location();

our $root = Cwd::abs_path("$FindBin::Bin/..");
$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= $root;
our $dsn = $ENV{TEST_NGINX_LIAUTO_DSN};
our $tmp = File::Temp::tempdir(CLEANUP => 1);
our $secret = 't070-page-webhook-secret';
write_file("$tmp/webhook-secret", "$secret\n");
$ENV{TEST_NGINX_T070_SECRET_FILE} = "$tmp/webhook-secret";

sub main::psql_value {
    my $sql = shift;
    open my $psql, '-|', 'psql', '-qAtX', '-v', 'ON_ERROR_STOP=1', $dsn,
        '-c', $sql or die "psql: $!";
    my $out = do { local $/; <$psql> } // '';
    close $psql or die "psql failed: $sql";
    chomp $out;
    return $out;
}

# LinkedIn: our account and a lead who will write to us
build_worker();
start_simulator();
our $account = 't070-page-account';
our $me = sim_control('POST', 'accounts', { id => $account,
                                            name => 'Page Sender' });
our $lead = sim_control('POST', 'people', { first_name => 'Lea',
                                            last_name => 'Page',
                                            public_identifier => 'lea-page' });

# liauto: a client, its account and an agent who logs in
our $email = 'agent@t070-page.test';
our $password = 'inbox page pass phrase';
our $client = main::psql_value(<<"_SQL_");
DELETE FROM liauto.users WHERE email LIKE '%\@t070-page.test';
DELETE FROM liauto.linkedin_accounts WHERE unipile_account_id = '$account';
DELETE FROM liauto.clients WHERE name = 't070-page';
DELETE FROM liauto.login_attempts;
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('t070-page')
           RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id, provider_user_id)
           SELECT id, 'Page Sender', '$account', '$me->{user_id}' FROM c),
     u AS (INSERT INTO liauto.users (client_id, email, password_hash, role)
           SELECT id, '$email', liauto.hash_password('$password'), 'agent'
           FROM c)
SELECT id FROM c
_SQL_

# What the browser triggers once the page is live: the lead replies on
# LinkedIn (Unipile then calls our messaging webhook).
our $inbound = 'Hi! Yes, let us talk tomorrow.';
our $reply = 'Great, I will call you at 10.';
write_file("$tmp/inject.pl", <<"_PERL_");
use strict;
use HTTP::Tiny;
use JSON::PP;
my \$res = HTTP::Tiny->new->post('http://${\ sim_dsn()}/_sim/reply', {
    content => encode_json({ account_id => '$account',
                             provider_id => '$lead->{provider_id}',
                             text => '$inbound' }) });
die "sim reply: \$res->{status}\\n" unless \$res->{success};
_PERL_

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
    liauto_webhook_secret_file $TEST_NGINX_T070_SECRET_FILE;
    map $uri $liauto_home {
        default $TEST_NGINX_LIAUTO_ROOT;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config",
        'include $TEST_NGINX_LIAUTO_ROOT/conf/liauto-api.conf;')
        unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: nginx serves the page and its files
--- request eval
[ "GET /inbox", "GET /inbox/inbox.js", "GET /inbox/inbox.css" ]
--- error_code eval
[200, 200, 200]
--- response_headers eval
[ "Content-Type: text/html; charset=utf-8",
  "Content-Type: application/javascript; charset=utf-8",
  "Content-Type: text/css; charset=utf-8" ]
--- response_body_like eval
[ qr{<script src="inbox/inbox\.js"></script>},
  qr{/api/v1/inbox/stream}, qr{#conversations} ]



=== TEST 2: in Chromium: login, a reply arrives live, assign, read, answer; the simulator gets the answer once
--- init
my $log = "$::tmp/worker.log";
my $pid = main::start_worker({ LIAUTO_DATABASE_URL => $::dsn,
                         LIAUTO_WORKER_ID => "t070-page-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => main::sim_dsn(),
                         UNIPILE_API_KEY => main::sim_key() }, $log, 'run');
local $ENV{NODE_PATH} = "$::root/build/node_modules";
my $base = 'http://127.0.0.1:' . main::server_port();
# Unipile's messaging webhook points at this nginx, with the secret
main::sim_api('POST', 'webhooks', {
    request_url => "$base/api/v1/webhooks/unipile/messaging",
    source => 'messaging', name => 't070-page',
    headers => [{ key => 'Unipile-Auth', value => $::secret }] });
open my $node, '-|', 'sh', '-c', 'exec "$@" 2>&1', 'node', 'node',
    "$::root/t/lib/inbox_page.js", $base, $::email, $::password,
    "perl $::tmp/inject.pl", $::inbound, $::reply or die "node: $!";
my $out = do { local $/; <$node> } // '';
my $node_ok = close $node;
Test::More::ok($node_ok, 'the browser session went through every step')
    or Test::More::diag($out, "\nworker log:\n", main::slurp($log));
Test::More::like($out, qr/^ok $_/m, "browser: $_")
    for ('logged in', 'the realtime stream is connected',
         'the lead\'s reply appeared live',
         'the thread shows it', 'assigned to me', 'marked read',
         'the reply shows in the thread as (?:queued|sent)',
         'the reply is sent');
my $sent = main::sim_control('GET', "messages?account_id=$::account&origin=api"
                              . "&person_id=$::lead->{provider_id}")
           ->{messages};
Test::More::is_deeply([ map { $_->{text} } @$sent ], [ $::reply ],
                      'the simulator received the answer exactly once');
Test::More::is(main::stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');
--- request
GET /inbox
--- error_code: 200
