# Notifications end to end: 3 `liauto-worker run` against the simulator's
# Resend, the engine clock moved by the test.
#   - the weekly report goes out at Monday 08:00 in each client's own
#     timezone (Tokyo first, New York 14 hours later), exactly once, with
#     figures equal to those computed here from the events inserted;
#     a client that opted out gets none
#   - 5 replies inside the batching window are one email naming all 5;
#     a client with reply notifications off gets none
#   - Resend 503s are retried with backoff, then sent once; a 422 is
#     recorded as failed with Resend's reason, never retried; an answer
#     lost after Resend took the email is retried under the same
#     Idempotency-Key and the email is not sent twice
#   - across it all, no email is sent twice

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use LiautoWorker;
use LiautoSim;
use LiautoEngine qw(sql_text);
use POSIX qw(floor);
use Test::More;
use Time::Local qw(timegm);

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('notify');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
die "migrations failed: $out\n" if $rc != 0;

# Monday 30 Nov 2026, 07:59 in Tokyo = Sunday 29 Nov 22:59Z (New York:
# Sunday 17:59; Paris: Sunday 23:59)
psql($db, "SELECT liauto.set_clock('2026-11-29 22:59Z')");

# ------------------------------------------------------------- fixtures

# A client with one LinkedIn account, campaigns "Alpha <&>" and "Beta", 6
# leads each; returns {id, campaigns => [ids], leads => [ids]}.
sub make_client {
    my ($name, $tz) = @_;
    my %c;

    $c{name} = $name;
    $c{id} = psql($db, "INSERT INTO liauto.clients (name, timezone) VALUES"
                       . " (" . sql_text($name) . ", '$tz') RETURNING id");
    $c{account} = psql($db, "INSERT INTO liauto.linkedin_accounts"
                            . " (client_id, name, unipile_account_id)"
                            . " VALUES ('$c{id}', 'Sender $name',"
                            . " 'n-$c{id}') RETURNING id");
    for my $campaign ('Alpha <&>', 'Beta') {
        my $cid = psql($db, "INSERT INTO liauto.campaigns (client_id,"
                            . " linkedin_account_id, name) VALUES"
                            . " ('$c{id}', '$c{account}', "
                            . sql_text($campaign) . ") RETURNING id");
        push @{ $c{campaigns} }, $cid;
        for my $n (1 .. 6) {
            push @{ $c{leads}{$cid} }, psql($db,
                "INSERT INTO liauto.leads (client_id, campaign_id,"
                . " first_name, last_name, public_identifier) VALUES"
                . " ('$c{id}', '$cid', 'Lead$n', " . sql_text($name)
                . ", 'l-$n-$cid') RETURNING id");
        }
    }
    return \%c;
}

sub settings {
    my ($c, $json) = @_;
    psql($db, "INSERT INTO liauto.notification_settings (client_id,"
              . " reply_notifications, recipients, batch_seconds,"
              . " weekly_report, report_weekday, report_time)"
              . " SELECT client_id, reply_notifications, recipients,"
              . " batch_seconds, weekly_report, report_weekday, report_time"
              . " FROM jsonb_populate_record(liauto.notification_defaults("
              . "'$c->{id}'), " . sql_text($json) . ")");
}

sub event {
    my ($c, $campaign, $lead, $type, $at, $extra) = @_;
    psql($db, "INSERT INTO liauto.events (client_id, lead_id, campaign_id,"
              . " account_id, type, occurred_at, external_id, meta) VALUES"
              . " ('$c->{id}', '$lead', '$campaign', '$c->{account}',"
              . " '$type', " . ($at ? "'$at'" : 'liauto.now()') . ", "
              . sql_text($extra->{external_id}) . ", "
              . sql_text($extra->{meta} // '{}') . ")");
}

my $tokyo = make_client('Tokyo Co', 'Asia/Tokyo');
my $ny = make_client('NY Co', 'America/New_York');
my $paris = make_client('Paris Co', 'Europe/Paris');

# Tokyo's history: 120 events at random (seeded) times from Fri 13 Nov to
# Mon 30 Nov, over the weeks before, of and after the reported one; a few
# for New York too
my @types = qw(connection_request_sent connection_request_sent
               connection_request_sent connection_accepted message_sent
               message_sent message_received connection_accepted_historical);
my $t0 = timegm(0, 0, 0, 13, 10, 2026);
my @history;
srand(20261130);
for my $i (0 .. 119) {
    my $campaign = $tokyo->{campaigns}[int rand 2];
    my $e = { campaign => $campaign, type => $types[int rand @types],
              at => $t0 + int rand(17 * 86400) };
    push @history, $e;
    my @t = gmtime($e->{at});
    my $iso = sprintf('%04d-%02d-%02d %02d:%02d:%02dZ', $t[5] + 1900,
                      $t[4] + 1, @t[3, 2, 1, 0]);
    event($tokyo, $campaign, $tokyo->{leads}{$campaign}[int rand 6],
          $e->{type}, $iso);
    event($ny, $ny->{campaigns}[0], $ny->{leads}{$ny->{campaigns}[0]}[0],
          $e->{type}, $iso) if $i % 10 == 0;
}

# the settings after the history, whose replies are not news
settings($tokyo, '{"recipients": ["ops@tokyo.test", "boss@tokyo.test"],'
                 . ' "batch_seconds": 60}');
settings($ny, '{"recipients": ["ops@ny.test"], "batch_seconds": 0}');
settings($paris, '{"recipients": ["ops@paris.test"], "weekly_report": false,'
                 . ' "reply_notifications": false, "report_time": "00:00"}');

# ------------------------------------------------- the expected report

# ISO weeks in Tokyo (UTC+9, no DST): W48 = Mon 23 Nov 00:00 +09:00
my $w48 = timegm(0, 0, 15, 22, 10, 2026);
my $w47 = $w48 - 7 * 86400;

my %metric_of = (connection_request_sent => 'Invites',
                 connection_accepted => 'Acceptances',
                 connection_accepted_historical => 'Acceptances',
                 message_sent => 'Messages',
                 message_received => 'Replies');

# counts{block}{week}{metric}
my %counts;
my %block_of = ($tokyo->{campaigns}[0] => 'Campaign: Alpha <&>',
                $tokyo->{campaigns}[1] => 'Campaign: Beta');
for my $e (@history) {
    my $week = $e->{at} >= $w48 && $e->{at} < $w48 + 7 * 86400 ? 'this'
             : $e->{at} >= $w47 && $e->{at} < $w48 ? 'last' : next;
    for my $block ('Totals', $block_of{$e->{campaign}},
                   'LinkedIn account: Sender Tokyo Co') {
        $counts{$block}{$week}{ $metric_of{ $e->{type} } }++;
    }
}

# a rate in tenths of a percent, rounded half up like numeric round()
sub tenths {
    my ($num, $den) = @_;
    return undef if !$den;
    return floor((2000 * $num + $den) / (2 * $den));
}

sub tenths_text { my ($t) = @_; return sprintf('%d.%d', $t / 10, $t % 10) }

sub expected_lines {
    my ($c) = @_;
    my @lines;
    for my $m (qw(Invites Acceptances Messages Replies)) {
        my ($now, $last) = map { $c->{$_}{$m} // 0 } qw(this last);
        push @lines, [ $m, $now, $last,
                       ($now - $last < 0 ? '-' : '+') . abs($now - $last) ];
    }
    for my $r ([ 'Acceptance rate', 'Acceptances', 'Invites' ],
               [ 'Reply rate', 'Replies', 'Messages' ]) {
        my ($label, $num, $den) = @$r;
        my ($now, $last) = map { tenths($c->{$_}{$num} // 0,
                                        $c->{$_}{$den} // 0) } qw(this last);
        my $change = '';
        if (defined $now && defined $last) {
            my $d = $now - $last;
            $change = ($d < 0 ? '-' : '+') . tenths_text(abs $d) . ' pts';
        }
        push @lines, [ $label,
                       defined $now ? tenths_text($now) . '%' : 'n/a',
                       defined $last ? tenths_text($last) . '%' : 'n/a',
                       $change ];
    }
    return \@lines;
}

# the report's text: block title => [[label, this, last, change], ...]
sub parse_report {
    my ($text) = @_;
    my %blocks;
    for my $block (split /\n\n/, $text) {
        my ($title, @rows) = split /\n/, $block;
        for (@rows) {
            push @{ $blocks{$title} }, [ $1, $2, $3, $4 ]
                if /^\ \ (Invites|Acceptances|Messages|Replies|Acceptance\ rate
                        |Reply\ rate)\ +(\S+)\ +(\S+)\ *(.*)$/x;
        }
    }
    return \%blocks;
}

# ---------------------------------------------------------------- run

sub emails {
    my ($query) = @_;
    return sim_control('GET', 'emails' . ($query // ''))->{emails};
}

sub emails_to {
    my ($address) = @_;
    return [ grep { grep { $_ eq $address } @{ $_->{to} } } @{ emails() } ];
}

sub email_row {
    my ($c, $kind, $expr) = @_;
    return psql($db, "SELECT $expr FROM liauto.emails WHERE client_id ="
                     . " '$c->{id}' AND kind = '$kind' ORDER BY created_at"
                     . " DESC LIMIT 1");
}

# moves the engine clock and wakes the workers
sub shift_clock {
    my ($by) = @_;
    psql($db, "SELECT liauto.shift_clock('$by')");
    psql($db, "NOTIFY liauto_worker, 'clock'");
}

my @pids;
for my $n (1 .. 3) {
    push @pids, start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                               LIAUTO_WORKER_ID => "notify-t-$n-$$",
                               LIAUTO_ENGINE_TICK_MS => 100,
                               RESEND_API_KEY => sim_resend_key(),
                               RESEND_BASE_URL => sim_url(''),
                               LIAUTO_NOTIFY_FROM => 'liauto <n@liauto.test>' },
                             "$tmp/worker-$n.log", 'run');
}
sub logs { return join('', map { slurp("$tmp/worker-$_.log") } 1 .. 3) }

ok(wait_until(10, sub { (() = logs() =~ /emails on: through Resend/g) == 3 }),
   '3 workers with emails on') or diag(logs());

# a reply to Paris (notifications off) and to New York (batch 0): the New
# York email proves the workers' passes ran before 08:00 Tokyo
my $alpha_ny = $ny->{campaigns}[0];
event($paris, $paris->{campaigns}[0],
      $paris->{leads}{ $paris->{campaigns}[0] }[0], 'message_received', undef,
      { external_id => 'paris-reply' });
event($ny, $alpha_ny, $ny->{leads}{$alpha_ny}[1], 'message_received', undef,
      { external_id => 'ny-reply-1', meta => '{"text": "hello from NY"}' });
ok(wait_until(20, sub { @{ emails_to('ops@ny.test') } == 1 }),
   'a reply of New York (batch 0): its email') or diag(logs());
is(scalar @{ emails() }, 1,
   'at 07:59 Tokyo no weekly report is sent, nor the Paris reply');

# ------------------------------------------------- 5 replies, one email

my @burst;
for my $n (0 .. 4) {
    my $campaign = $tokyo->{campaigns}[$n % 2];
    event($tokyo, $campaign, $tokyo->{leads}{$campaign}[$n], 'message_received',
          undef, { external_id => "burst-$n",
                   meta => qq({"text": "reply number $n"}) });
    push @burst, "Lead" . ($n + 1) . " Tokyo Co";
}
is(psql($db, "SELECT count(*) FROM liauto.reply_notifications WHERE"
             . " client_id = '$tokyo->{id}' AND email_id IS NULL"), 5,
   '5 replies wait inside the 60 s window');

# past the window (+61 s) and past 08:00 in Tokyo
shift_clock('61 seconds');
ok(wait_until(20, sub { @{ emails_to('ops@tokyo.test') } == 2 }),
   'Tokyo: the reply email and the weekly report') or diag(logs());

my ($replies) = grep { $_->{subject} =~ /replies/ }
    @{ emails_to('ops@tokyo.test') };
is($replies->{subject}, '5 new replies (Tokyo Co)', 'one email for 5 replies');
is_deeply([ map { $replies->{text} =~ /^- \Q$_\E in campaign/m ? 1 : 0 }
            @burst ], [ (1) x 5 ], '... naming each of them');
is_deeply([ map { $replies->{text} =~ /reply number $_/ ? 1 : 0 } 0 .. 4 ],
          [ (1) x 5 ], '... with what they wrote');
is_deeply([ sort @{ $replies->{to} } ], [ 'boss@tokyo.test', 'ops@tokyo.test' ],
          '... to the client\'s recipients');

# ---------------------------------------------------- the weekly report

my ($report) = grep { $_->{subject} =~ /Weekly report/ }
    @{ emails_to('ops@tokyo.test') };
is($report->{subject}, 'Weekly report 2026-W48 for Tokyo Co',
   'Monday 08:00 Tokyo: the report of week 48');
is($report->{idempotency_key},
   "liauto/weekly-report/$tokyo->{id}/2026-W48",
   '... sent under the key of (client, week)');
like($report->{text}, qr/^Mon 23 Nov 2026 to Sun 29 Nov 2026 \(Asia\/Tokyo\)$/m,
     '... covering the ISO week in Tokyo time');

my $parsed = parse_report($report->{text});
for my $block (sort keys %counts) {
    is_deeply($parsed->{$block}, expected_lines($counts{$block}),
              "$block: every figure as counted here from the events")
        or diag($report->{text});
}
is_deeply([ sort keys %$parsed ], [ sort keys %counts ],
          'no other block (New York\'s events do not count)');
like($report->{html}, qr/Campaign: Alpha &lt;&amp;&gt;/,
     'the HTML escapes the campaign name');
unlike($report->{html}, qr/Alpha <&>/, '... and never shows it raw');

is(scalar @{ emails_to('ops@ny.test') }, 1,
   'New York (Sunday 18:00 there): no report yet');

# 08:00 Monday in New York = 13:00Z, 14 h later
shift_clock('14 hours');
ok(wait_until(20, sub { @{ emails_to('ops@ny.test') } == 2 }),
   'Monday 08:00 New York: its report') or diag(logs());
like(emails_to('ops@ny.test')->[-1]{subject} // '', qr/2026-W48 for NY Co/,
     '... of its week 48');

# -------------------------------------------------- Resend's failures

# New York's next reply meets two 503s, then goes through
sim_control('POST', 'faults', { route => 'resend.emails', kind => 'status',
                                status => 503, times => 2,
                                match => 'ops@ny.test' });
event($ny, $alpha_ny, $ny->{leads}{$alpha_ny}[2], 'message_received', undef,
      { external_id => 'ny-reply-2' });
ok(wait_until(20, sub { email_row($ny, 'reply_notification',
                                  "status || ' ' || attempts") eq 'pending 1' }),
   'a 503: the email is pending again') or diag(logs());
like(email_row($ny, 'reply_notification', 'last_error'),
     qr/Resend failed: .* \(HTTP 503\)/, '... with the reason');
cmp_ok(email_row($ny, 'reply_notification',
                 'extract(epoch FROM due_at - liauto.now())'), '>', 10,
       '... and a backoff');
shift_clock('2 minutes');
ok(wait_until(20, sub { email_row($ny, 'reply_notification',
                                  "status || ' ' || attempts") eq 'pending 2' }),
   'a second 503: pending again') or diag(logs());
shift_clock('3 minutes');
ok(wait_until(20, sub { email_row($ny, 'reply_notification', 'status')
                        eq 'sent' }),
   'then sent') or diag(logs());
is(scalar @{ emails_to('ops@ny.test') }, 3, '... once');

# a 422 is final
sim_control('POST', 'faults', { route => 'resend.emails', kind => 'status',
                                status => 422, name => 'validation_error',
                                message => 'Invalid `to` field.',
                                match => 'ops@ny.test' });
event($ny, $alpha_ny, $ny->{leads}{$alpha_ny}[3], 'message_received', undef,
      { external_id => 'ny-reply-3' });
ok(wait_until(20, sub { email_row($ny, 'reply_notification', 'status')
                        eq 'failed' }),
   'a 422: failed') or diag(logs());
is(email_row($ny, 'reply_notification', 'last_error'),
   'Resend refused the email: validation_error: Invalid `to` field.'
   . ' (HTTP 422)', '... with Resend\'s reason');

# Resend accepts the next one but its answer is lost: it is asked again
# under the same Idempotency-Key (by curl at once on a reused connection,
# else by the outbox after its backoff) and answers with the same email
sim_control('POST', 'faults', { route => 'resend.emails', kind => 'drop',
                                match => 'ops@ny.test' });
my $calls = sim_control('GET', 'calls')->{'resend.emails'};
event($ny, $alpha_ny, $ny->{leads}{$alpha_ny}[4], 'message_received', undef,
      { external_id => 'ny-reply-lost' });
ok(wait_until(20, sub { email_row($ny, 'reply_notification',
                                  "status || ' ' || attempts")
                        =~ /^(?:sent|pending) 1$/ }),
   'an answer lost after Resend took the email') or diag(logs());
shift_clock('5 minutes');
ok(wait_until(20, sub { email_row($ny, 'reply_notification', 'status')
                        eq 'sent' }), '... then sent') or diag(logs());
is(sim_control('GET', 'calls')->{'resend.emails'} - $calls, 2,
   '... after asking Resend twice');
is(scalar @{ emails_to('ops@ny.test') }, 4, '... which took it once');
is(email_row($ny, 'reply_notification', 'resend_id'),
   emails_to('ops@ny.test')->[-1]{id},
   '... and the id of that email is recorded');

# ------------------------------------------------------- exactly once

# one more pass for everyone: a last New York reply must get through
event($ny, $alpha_ny, $ny->{leads}{$alpha_ny}[5], 'message_received', undef,
      { external_id => 'ny-reply-4' });
ok(wait_until(20, sub { @{ emails_to('ops@ny.test') } == 5 }),
   'a last reply gets through') or diag(logs());

my %per_key;
$per_key{ $_->{idempotency_key} }++ for @{ emails() };
is_deeply([ grep { $per_key{$_} != 1 } keys %per_key ], [],
          'every email was accepted once');
is(scalar keys %per_key, 7, '7 emails in all (2 Tokyo, 5 New York)');
is(sim_control('GET', 'calls')->{'resend.emails'}, 7 + 2 + 1 + 1,
   'Resend was asked 11 times: 7 emails, 2 retries after 503, 1 refused,'
   . ' 1 answer lost');
is(scalar @{ emails_to('ops@paris.test') }, 0,
   'Paris (reply notifications and report off): nothing');
is(psql($db, "SELECT count(*) FROM liauto.emails WHERE kind ="
             . " 'weekly_report'"), 2, 'one report row per client and week');

for my $pid (@pids) {
    my $status = stop_worker($pid, 'TERM', 10);
    is($status, 0, 'a worker stops cleanly on SIGTERM');
}

done_testing();
