# The SSRF guard of outbound webhooks at delivery time (worker/src/nets.c,
# webhook.c): a subscription whose host resolves to 127.0.0.1 — made with
# a public-looking name that later resolves inside (DNS rebinding), here
# "localhost" stored directly, past the API's literal check — is refused
# when the worker connects: the delivery is failed at once with the reason
# and the receiver sees nothing. With LIAUTO_WEBHOOK_ALLOW_NETS holding
# 127.0.0.0/8 the same delivery arrives. An allow-list that is not CIDRs
# stops the worker with the reason.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::INET;
use LiautoWorker;
use Test::More;

build_worker();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('ssrf');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
die "migrations failed: $out\n" if $rc != 0;

# a receiver that answers 200 and counts what reaches it
my $server = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                   LocalPort => 0, Proto => 'tcp',
                                   ReuseAddr => 1)
    or die "no receiver socket: $!\n";
my $port = $server->sockport;
my $receiver = fork() // die "fork: $!\n";
if ($receiver == 0) {
    while (my $c = $server->accept) {
        my $line = <$c>;
        open(my $log, '>>', "$tmp/received") or die;
        print $log $line;
        close($log);
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                 . "Connection: close\r\n\r\n";
        close($c);
    }
    exit 0;
}
close($server);
END { kill('KILL', $receiver) if $receiver; }

sub hits { return scalar(() = slurp("$tmp/received") =~ /^POST /mg) }

psql($db, "SELECT liauto.set_clock('2026-11-30 10:00Z')");
my $sub = psql($db, <<"SQL");
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('SSRF Co')
           RETURNING id)
INSERT INTO liauto.webhook_subscriptions (client_id, url, events, secret)
SELECT id, 'http://localhost:$port/hook', '{lead.replied}',
       'whsec_' || repeat('ab', 32) FROM c
RETURNING id
SQL

sub emit {
    my ($n) = @_;
    return psql($db, "INSERT INTO liauto.webhook_deliveries (subscription_id,"
                     . " client_id, event_id, event_type, payload, due_at)"
                     . " SELECT id, client_id, gen_random_uuid(),"
                     . " 'lead.replied', '{\"n\": $n}', liauto.now()"
                     . " FROM liauto.webhook_subscriptions WHERE id = '$sub'"
                     . " RETURNING id");
}

sub delivery {
    my ($id) = @_;
    return psql($db, "SELECT status || '|' || attempts || '|'"
                     . " || coalesce(last_error, '') FROM"
                     . " liauto.webhook_deliveries WHERE id = '$id'");
}

sub run_until_done {
    my ($env, $log, $id) = @_;
    my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                             LIAUTO_ENGINE_TICK_MS => 100, %$env },
                           $log, 'run');
    my $done = wait_until(20, sub { delivery($id) !~ /^(pending|sending)/ });
    is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');
    return $done;
}

write_file("$tmp/received", '');

# without the allow-list: refused at connect, failed at once, nothing sent
my $refused = emit(1);
ok(run_until_done({}, "$tmp/worker-1.log", $refused),
   'the delivery to a host resolving to 127.0.0.1 is done with')
    or diag(slurp("$tmp/worker-1.log"));
my ($status, $attempts, $error) = split /\|/, delivery($refused);
is("$status $attempts", 'failed 1', '... failed on its first attempt');
like($error, qr/^refused: the URL's host resolves to (127\.0\.0\.1|::1), a loopback address \(LIAUTO_WEBHOOK_ALLOW_NETS does not allow it\)$/,
     '... saying why');
is(hits(), 0, '... and the receiver saw nothing');

# with 127.0.0.0/8 (and ::1, which localhost may resolve to) allowed
my $allowed = emit(2);
ok(run_until_done({ LIAUTO_WEBHOOK_ALLOW_NETS => '127.0.0.0/8, ::1' },
                  "$tmp/worker-2.log", $allowed),
   'with the allow-list the delivery is done with')
    or diag(slurp("$tmp/worker-2.log"));
is((split /\|/, delivery($allowed))[0], 'delivered', '... delivered');
is(hits(), 1, '... to the receiver');

# an allow-list that is not CIDRs: the worker does not start
($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                           LIAUTO_WEBHOOK_ALLOW_NETS => '127.0.0.0/8,intranet' },
                         'run');
isnt($rc, 0, 'an allow-list with a name in it stops the worker');
like($out, qr/LIAUTO_WEBHOOK_ALLOW_NETS: "intranet" is not an IPv4 or IPv6 address/,
     '... saying which entry');

done_testing();
