# Outbound webhooks end to end: 3 `liauto-worker run` POST the events of
# a client's subscriptions to a small HTTP receiver started here.
#   - every delivery arrives once, its Liauto-Signature verifies with the
#     documented recipe (HMAC-SHA256 over "<t>.<body>" with the secret,
#     recomputed here), Liauto-Event / Liauto-Delivery name it
#   - a receiver answering 500 is retried with backoff (the engine clock
#     moved past it), then the delivery is failed after 6 attempts, each
#     one signed
#   - a replay of the failed delivery, once the receiver is fixed, brings
#     the same event (same id, same body) to it

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use Fcntl qw(:flock);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use JSON::PP;
use LiautoWorker;
use LiautoEngine qw(sql_text);
use Test::More;

build_worker();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('webhooks');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
die "migrations failed: $out\n" if $rc != 0;
my $json = JSON::PP->new->canonical;

# ------------------------------------------------------------ receiver

# Answers POST /ok with 200 and POST /flaky with the status in the file
# $tmp/flaky (500 until the test changes it); logs every request as one
# JSON line {path, headers, body} in $tmp/received.
my $server = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                   LocalPort => 0, Proto => 'tcp',
                                   ReuseAddr => 1)
    or die "no receiver socket: $!\n";
my $port = $server->sockport;
write_file("$tmp/flaky", '500');

my $receiver = fork() // die "fork: $!\n";
if ($receiver == 0) {
    while (my $c = $server->accept) {
        my ($line, %h, $body) = (scalar <$c>);
        while (my $header = <$c>) {
            last if $header =~ /^\r?\n$/;
            $h{ lc $1 } = $2 if $header =~ /^([^:]+):\s*(.*?)\r?\n$/;
        }
        read($c, $body, $h{'content-length'} // 0);
        my ($path) = $line =~ m{^POST (\S+)};
        my $status = ($path // '') eq '/ok' ? 200 : slurp("$tmp/flaky");
        open(my $log, '>>', "$tmp/received") or die;
        flock($log, LOCK_EX);
        print $log $json->encode({ path => $path, headers => \%h,
                                   body => $body }), "\n";
        close($log);
        print $c "HTTP/1.1 $status X\r\nContent-Length: 0\r\n"
                 . "Connection: close\r\n\r\n";
        close($c);
    }
    exit 0;
}
close($server);
END { kill('KILL', $receiver) if $receiver; }

sub received {
    return [ map { $json->decode($_) } split /\n/, slurp("$tmp/received") ];
}

# The documented recipe: t and v1 from Liauto-Signature, HMAC-SHA256 of
# "<t>.<raw body>" keyed with the secret, hex, compared; t recent.
sub verifies {
    my ($r, $secret) = @_;
    my ($t, $v1) = ($r->{headers}{'liauto-signature'} // '')
                   =~ /^t=(\d+),v1=([0-9a-f]{64})$/ or return 0;
    return abs(time() - $t) <= 300
           && hmac_sha256_hex("$t.$r->{body}", $secret) eq $v1;
}

# ------------------------------------------------------------ fixtures

psql($db, "SELECT liauto.set_clock('2026-11-30 10:00Z')");
my ($client, $campaign) = split /\|/, psql($db, <<'SQL');
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('Hooks Co')
           RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id)
           SELECT id, 'Sender', 'hooks-account' FROM c RETURNING id,
                                                             client_id),
     k AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name)
           SELECT client_id, id, 'Hooks campaign' FROM a
           RETURNING id, client_id)
SELECT client_id, id FROM k
SQL
psql($db, "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
          . " public_identifier) SELECT '$client', '$campaign', 'Lead' || n,"
          . " 'hook-lead-' || n FROM generate_series(1, 4) AS n");

my $caller = qq({"sub": "00000000-0000-0000-0000-0000000000ad",)
             . qq( "role": "admin", "client_id": null});
sub subscribe {
    my ($path, @events) = @_;
    # the receiver is on 127.0.0.1: allowed here (the SSRF guard, 0038)
    my $answer = $json->decode(psql($db,
        "SET liauto.webhook_allow_nets = '127.0.0.1';"
        . " SELECT body FROM api.webhook_subscriptions_create("
        . sql_text($caller) . ", '{}', '{}', "
        . sql_text($json->encode({ client_id => $client,
                                   url => "http://127.0.0.1:$port$path",
                                   events => \@events })) . ")"));
    die "no subscription: " . $json->encode($answer) . "\n"
        unless $answer->{secret};
    return $answer;
}
my $ok = subscribe('/ok', qw(lead.replied lead.status_changed));
my $flaky = subscribe('/flaky', qw(lead.replied));

sub reply {
    my ($n) = @_;
    psql($db, "INSERT INTO liauto.events (client_id, lead_id, campaign_id,"
              . " type, external_id, meta) SELECT client_id, id,"
              . " campaign_id, 'message_received', 'hook-m-$n',"
              . " '{\"text\": \"réponse $n\"}' FROM liauto.leads"
              . " WHERE public_identifier = 'hook-lead-$n'");
}

sub shift_clock {
    my ($by) = @_;
    psql($db, "SELECT liauto.shift_clock('$by')");
    psql($db, "NOTIFY liauto_worker, 'clock'");
}

sub flaky_status {
    return psql($db, "SELECT status || ' ' || attempts FROM"
                     . " liauto.webhook_deliveries WHERE subscription_id ="
                     . " '$flaky->{id}' AND replay_of IS NULL ORDER BY id");
}

# all 3 deliveries to /flaky done with their attempt-th attempt
sub flaky_after {
    my ($attempt, $status) = @_;
    return flaky_status() eq join("\n", ("$status $attempt") x 3);
}

# ----------------------------------------------------------------- run

my @pids = map {
    start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                   LIAUTO_WORKER_ID => "hooks-t-$_-$$",
                   LIAUTO_WEBHOOK_ALLOW_NETS => '127.0.0.1',
                   LIAUTO_ENGINE_TICK_MS => 100 },
                 "$tmp/worker-$_.log", 'run')
} 1 .. 3;
sub logs { return join('', map { slurp("$tmp/worker-$_.log") } 1 .. 3) }

# 3 replies and 1 status change: 4 events for /ok, 1 for /flaky (the
# others' replies are subscribed too: 3 for /flaky)
reply($_) for 1 .. 3;
psql($db, "UPDATE liauto.leads SET status = 'responded'"
          . " WHERE public_identifier = 'hook-lead-1'");

ok(wait_until(20, sub { (grep { $_->{path} eq '/ok' } @{ received() }) == 4 }),
   '4 events delivered to /ok') or diag(logs());

my @ok = grep { $_->{path} eq '/ok' } @{ received() };
is_deeply([ map { verifies($_, $ok->{secret}) ? 1 : 0 } @ok ], [ (1) x 4 ],
          'each signature verifies with the documented recipe');
is_deeply([ map { verifies($_, $flaky->{secret}) ? 1 : 0 } @ok ], [ (0) x 4 ],
          '... and not with another subscription\'s secret');
my @bodies = map { $json->decode($_->{body}) } @ok;
is_deeply([ sort map { $_->{type} } @bodies ],
          [ 'lead.replied', 'lead.replied', 'lead.replied',
            'lead.status_changed' ], 'the events subscribed to');
is_deeply([ map { $_->{headers}{'liauto-event'} } @ok ],
          [ map { $_->{type} } @bodies ], 'Liauto-Event names each');
is_deeply([ sort map { $_->{data}{message}{text} // () } @bodies ],
          [ map { "réponse $_" } 1 .. 3 ], 'the replies\' texts');
my %per_delivery;
$per_delivery{ $_->{headers}{'liauto-delivery'} }++ for @ok;
is(scalar(grep { $_ == 1 } values %per_delivery), 4,
   'each delivery POSTed once by 3 workers');
is(psql($db, "SELECT count(*) FROM liauto.webhook_deliveries WHERE"
             . " subscription_id = '$ok->{id}' AND status = 'delivered'"
             . " AND response_status = 200"), 4, '... and logged delivered');

# /flaky answers 500: retried after a backoff, failed after 6 attempts
ok(wait_until(20, sub { flaky_after(1, 'pending') }),
   'a 500: pending again after attempt 1') or diag(logs());
cmp_ok(psql($db, "SELECT min(extract(epoch FROM due_at - liauto.now()))"
                 . " FROM liauto.webhook_deliveries WHERE subscription_id"
                 . " = '$flaky->{id}'"), '>', 10, '... after a backoff');
for my $attempt (2 .. 6) {
    shift_clock('2 hours');
    ok(wait_until(20, sub { flaky_after($attempt, $attempt < 6 ? 'pending'
                                                               : 'failed') }),
       "attempt $attempt made") or diag(flaky_status(), logs());
}
is(flaky_status(), join("\n", ('failed 6') x 3),
   'after 6 attempts the 3 deliveries are failed');
like(psql($db, "SELECT DISTINCT last_error FROM liauto.webhook_deliveries"
               . " WHERE subscription_id = '$flaky->{id}'"),
     qr/^gave up after 6 attempts: the receiver answered HTTP 500/,
     '... saying why');
my @flaky = grep { $_->{path} eq '/flaky' } @{ received() };
is(scalar @flaky, 18, 'the receiver saw 6 attempts of each');
is(scalar(grep { verifies($_, $flaky->{secret}) } @flaky), 18,
   '... every one signed');

# the receiver is fixed: replay one failed delivery
write_file("$tmp/flaky", '204');
my $failed = psql($db, "SELECT id FROM liauto.webhook_deliveries WHERE"
                       . " subscription_id = '$flaky->{id}' ORDER BY id"
                       . " LIMIT 1");
my $replay = $json->decode(psql($db,
    "SELECT body FROM api.webhook_delivery_replay(" . sql_text($caller)
    . ", '{$flaky->{id},$failed}', '{}', NULL)"));
ok(wait_until(20, sub { (grep { $_->{path} eq '/flaky' } @{ received() })
                        == 19 }), 'the replay is delivered') or diag(logs());
my $last = (grep { $_->{path} eq '/flaky' } @{ received() })[-1];
is($last->{headers}{'liauto-delivery'}, $replay->{id},
   '... as the new delivery');
is($last->{body}, psql($db, "SELECT payload FROM liauto.webhook_deliveries"
                            . " WHERE id = '$failed'"),
   '... with the same body (the same event id)');
ok(verifies($last, $flaky->{secret}), '... signed afresh');
is(psql($db, "SELECT status FROM liauto.webhook_deliveries"
             . " WHERE id = '$replay->{id}'"), 'delivered',
   '... and logged delivered');

for my $pid (@pids) {
    is(stop_worker($pid, 'TERM', 10), 0, 'a worker stops cleanly');
}

done_testing();
