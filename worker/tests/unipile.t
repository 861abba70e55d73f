# The Unipile client (src/unipile.c on src/http.c) against the simulator
# (t/sim) running as its own nginx on a free port: each operation through
# build/unipile-probe, faults injected through /_sim/, and the simulator's
# own record of what was sent checked after each send.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use Test::More;

my $worker_dir = "$FindBin::Bin/..";
my $repo = repo_dir();
my $probe = "$worker_dir/build/unipile-probe";
my $key = 'probe-key';

system('make', '-s', '-C', $worker_dir, 'build/unipile-probe') == 0
    or BAIL_OUT('building unipile-probe failed');

sub free_port {
    my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!\n";
    my $port = $sock->sockport;
    close($sock);
    return $port;
}

my $prefix = tempdir('liauto-unipile-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $port = free_port();
my $sim = "http://127.0.0.1:$port";
my @nginx = ('nginx', '-p', "$prefix/", '-c', 'conf/nginx.conf',
             '-e', "$prefix/logs/error.log");

system("$repo/t/sim/render.sh", $prefix, $port, $key) == 0
    or BAIL_OUT('render.sh failed');
system(@nginx) == 0 or BAIL_OUT('the simulator did not start');

END {
    system(@nginx, '-s', 'stop') if $prefix && -e "$prefix/logs/nginx.pid";
}

my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->canonical;

wait_until(5, sub { $http->get("$sim/_sim/calls")->{success} })
    or BAIL_OUT('the simulator does not answer');

sub control {
    my ($method, $path, $body) = @_;
    my $res = $http->request($method, "$sim/_sim/$path",
                             { content => $json->encode($body // {}) });
    $res->{status} =~ /^2/
        or die "$method /_sim/$path: $res->{status} $res->{content}\n";
    return $json->decode($res->{content});
}

my $probe_log = "$prefix/probe.log";

# Runs the probe; returns the JSON result of each operation ("+" joins
# several on one client) and the seconds it took.
sub probe_all {
    my (@args) = @_;
    my $start = time();

    local $ENV{UNIPILE_DSN} = "127.0.0.1:$port";
    local $ENV{UNIPILE_API_KEY} = $key;
    open(my $fh, '-|', "'$probe' --backoff-ms 50 "
                       . join(' ', map { quotemeta } @args)
                       . " 2>>'$probe_log'") or die "probe: $!\n";
    my @lines = <$fh>;
    close($fh);
    my @results = map { $json->decode($_) } @lines;
    push @results, { outcome => "probe exited $?" } if $? != 0;
    return (\@results, time() - $start);
}

# One operation: its result (and the seconds it took).
sub probe {
    my ($results, $secs) = probe_all(@_);
    return wantarray ? ($results->[-1], $secs) : $results->[-1];
}

sub invitations {
    my ($provider_id) = @_;
    return control('GET', "invitations?provider_id=$provider_id")
        ->{invitations};
}

control('POST', 'reset');
control('POST', 'accounts', { id => 'acc', name => 'Sender' });
control('POST', 'accounts', { id => 'capped', weekly_invite_cap => 1 });
my @leads = map { "ACoAAProbeLead${_}xxxxxxxxxxxxxxxxxxxxxxxx" } 10 .. 19;
control('POST', 'people', { people => [
    { provider_id => $leads[0], public_identifier => 'ada-lovelace',
      first_name => 'Ada', last_name => 'Lovelace' },
    map { { provider_id => $_ } } @leads[1 .. 9] ] });

my $r;

# --- profile -----------------------------------------------------------
$r = probe('profile', 'acc', 'ada-lovelace');
is($r->{outcome}, 'SENT', 'profile by public identifier');
is($r->{profile}{provider_id}, $leads[0], '... resolves the provider id');
like($r->{profile}{member_urn} // '', qr/^\d+$/, '... and the member urn');
is_deeply([@{$r->{profile}}{qw(first_name last_name is_relationship
                                invitation_status)}],
          ['Ada', 'Lovelace', JSON::PP::false, undef],
          '... names, not a relation, no invitation');

$r = probe('profile', 'acc', 'nobody-here');
is_deeply([@$r{qw(outcome status type)}],
          ['FINAL_LEAD', 404, 'resource_not_found'],
          'an unknown person is final for the lead');

# --- invitations -----------------------------------------------------------
$r = probe('invite', 'acc', $leads[0], 'Hi Ada');
is($r->{outcome}, 'SENT', 'invite with a note');
like($r->{invitation_id} // '', qr/^\d{19}$/, '... returns the invitation id');
my $inv = invitations($leads[0]);
is(scalar @$inv, 1, '... the simulator recorded one invitation');
is_deeply([@{$inv->[0]}{qw(id message account_id)}],
          [$r->{invitation_id}, 'Hi Ada', 'acc'], '... with the note');

$r = probe('profile', 'acc', $leads[0]);
is_deeply([@{$r->{profile}}{qw(invitation_type invitation_status)}],
          ['SENT', 'PENDING'], 'the profile shows the pending invitation');

$r = probe('invite', 'acc', $leads[0]);
is_deeply([@$r{qw(outcome status type)}],
          ['FINAL_LEAD', 422, 'already_invited_recently'],
          'a pending duplicate is final for the lead');
like($r->{reason}, qr/already invited/, '... with a human reason');
is(scalar @{invitations($leads[0])}, 1, '... and nothing more was sent');

$r = probe('invite', 'acc', $leads[1], 'x' x 301);
is_deeply([@$r{qw(outcome status type)}],
          ['FINAL_LEAD', 400, 'too_many_characters'], 'a 301-char note');
is(scalar @{invitations($leads[1])}, 0, '... was not sent');

$r = probe('invite', 'capped', $leads[1]);
is($r->{outcome}, 'SENT', 'the capped account sends its one invitation');
$r = probe('invite', 'capped', $leads[2]);
is_deeply([@$r{qw(outcome status type)}],
          ['FINAL_LIMIT', 422, 'cannot_resend_yet'],
          'the weekly cap stops the account for today');
is(scalar @{invitations($leads[2])}, 0, '... nothing sent');

$r = probe('sent-invitations', 'acc');
is_deeply([map { $_->{invited_user_id} } @{$r->{items}}], [$leads[0]],
          'sent invitations list the pending one');

# --- faults ------------------------------------------------------------
control('POST', 'faults', { route => 'users.invite', kind => 'status',
                            status => 429, retry_after => 30 });
$r = probe('invite', 'acc', $leads[3]);
is_deeply([@$r{qw(outcome status retry_after_ms attempts)}],
          ['ACCOUNT_COOLOFF', 429, 30000, 1],
          '429 cools the account off, Retry-After honoured, no retry');
is(scalar @{invitations($leads[3])}, 0, '... nothing sent');

control('POST', 'faults', { route => 'users.invite', kind => 'status',
                            status => 500 });
$r = probe('--attempts', 3, 'invite', 'acc', $leads[3]);
is_deeply([@$r{qw(outcome attempts)}], ['SENT', 2],
          '500 then success: retried once with backoff');
is(scalar @{invitations($leads[3])}, 1, '... exactly one invitation');

control('POST', 'faults', { route => 'users.invite', kind => 'status',
                            status => 503, times => 5 });
$r = probe('--attempts', 2, 'invite', 'acc', $leads[4]);
is_deeply([@$r{qw(outcome status attempts)}], ['RETRY', 503, 2],
          'a 503 that persists ends in RETRY after the attempts');
control('DELETE', 'faults');

my $secs;
control('POST', 'faults', { route => 'users.get', kind => 'timeout',
                            ms => 3000 });
($r, $secs) = probe('--timeout-ms', 500, '--attempts', 2, 'profile', 'acc',
                    $leads[4]);
is_deeply([@$r{qw(outcome attempts)}], ['SENT', 2],
          'a held read times out and is retried');
cmp_ok($secs, '<', 2.5, '... within the request timeout, not the hold');

control('POST', 'faults', { route => 'users.get', kind => 'timeout',
                            ms => 3000 });
$r = probe('--timeout-ms', 500, '--attempts', 1, 'profile', 'acc', $leads[4]);
is($r->{outcome}, 'RETRY', 'a held read with no attempts left is RETRY');

control('POST', 'faults', { route => 'users.invite', kind => 'timeout',
                            ms => 3000 });
($r, $secs) = probe('--timeout-ms', 500, '--attempts', 3, 'invite', 'acc',
                    $leads[4]);
is_deeply([@$r{qw(outcome attempts)}], ['UNKNOWN', 1],
          'a held invite is UNKNOWN and never retried blindly');
like($r->{detail}, qr/timed out/i, '... curl says it timed out');
cmp_ok($secs, '<', 2.5, '... after the request timeout');
$r = probe('find-invitation', 'acc', $leads[4]);
is_deeply([@$r{qw(outcome invitation_id)}], ['SENT', undef],
          '... reconciled: not applied (the hold had no effect)');

control('POST', 'faults', { route => 'users.invite', kind => 'drop' });
$r = probe('--attempts', 3, 'invite', 'acc', $leads[5]);
is_deeply([@$r{qw(outcome attempts)}], ['UNKNOWN', 1],
          'applied then dropped: UNKNOWN');
is(scalar @{invitations($leads[5])}, 1,
   '... the simulator did apply it, exactly once');
$r = probe('find-invitation', 'acc', $leads[5]);
is($r->{invitation_id}, invitations($leads[5])->[0]{id},
   '... reconciled: found among the pending invitations');

$r = probe('--dsn', '127.0.0.1:' . free_port(), '--attempts', 2,
           'invite', 'acc', $leads[6]);
is_deeply([@$r{qw(outcome attempts)}], ['RETRY', 2],
          'connection refused: RETRY (nothing was sent), retried');

# curl re-sends a request whose reused connection died unanswered: a send
# must not go out on a reused connection, or it could be applied twice.
control('POST', 'faults', { route => 'users.invite', kind => 'drop' });
my ($rs) = probe_all('account', 'acc', '+', 'invite', 'acc', $leads[6]);
is_deeply([map { $_->{outcome} } @$rs], ['SENT', 'UNKNOWN'],
          'a read, then a send dropped on the same client: UNKNOWN');
is(scalar @{invitations($leads[6])}, 1, '... applied once, not replayed');

$r = probe('invite', 'acc', $leads[7]);
is($r->{outcome}, 'SENT', 'one more pending invitation');
$r = probe('--page-limit', 1, 'find-invitation', 'acc', $leads[0]);
is_deeply([@$r{qw(outcome invitation_id)}],
          ['SENT', invitations($leads[0])->[0]{id}],
          'the oldest pending invitation is found');
cmp_ok($r->{pages}, '>=', 3, '... across pages of one');

# --- chats and messages ----------------------------------------------------
for my $lead (@leads[0, 3, 5]) {
    control('POST', "invitations/$_->{id}/accept")
        for @{invitations($lead)};
}

$r = probe('start-chat', 'acc', $leads[6], 'Hello?');
is_deeply([@$r{qw(outcome status type)}],
          ['FINAL_LEAD', 422, 'no_connection_with_recipient'],
          'a chat with a non-connection is final for the lead');

# Ada's chat exists (her invitation had a note); two newer ones follow.
my %chat;
for my $lead (@leads[3, 5]) {
    $r = probe('start-chat', 'acc', $lead, "Hello $lead");
    is($r->{outcome}, 'SENT', 'start a chat');
    ok($r->{chat_id} && $r->{message_id}, '... returns chat and message ids');
    $chat{$lead} = $r->{chat_id};
}

$r = probe('--page-limit', 1, 'find-chat', 'acc', $leads[0]);
is_deeply([@$r{qw(outcome pages)}], ['SENT', 3],
          'the oldest chat is found on the third page of one');
ok($r->{chat_id}, '... with its id');
my $ada_chat = $r->{chat_id};

# Pages 1 and 2 served (slowly), page 3 fails once: its own retry.
control('POST', 'faults', { route => 'chats.list', kind => 'slow', ms => 1,
                            times => 2 });
control('POST', 'faults', { route => 'chats.list', kind => 'status',
                            status => 500 });
$r = probe('--page-limit', 1, '--attempts', 2, 'find-chat', 'acc',
           $leads[0]);
is_deeply([@$r{qw(outcome chat_id pages attempts)}],
          ['SENT', $ada_chat, 3, 4],
          'a failed page is retried on its own attempt budget');

$r = probe('--page-limit', 1, 'find-chat', 'acc', $leads[5]);
is_deeply([@$r{qw(chat_id pages)}], [$chat{$leads[5]}, 1],
          'the newest is found on the first page');

$r = probe('--page-limit', 2, 'find-chat', 'acc', $leads[8]);
is_deeply([@$r{qw(outcome chat_id)}], ['SENT', undef],
          'no chat with a stranger after every page');

$r = probe('send-message', $ada_chat, 'Thanks for connecting', 'acc');
is($r->{outcome}, 'SENT', 'send into the existing chat');
my $sent_id = $r->{message_id};

$r = probe('start-chat', 'acc', $leads[0], 'Second hello');
is($r->{chat_id}, $ada_chat, 'starting a chat again reuses the 1:1 chat');

$r = probe('chat-messages', $ada_chat);
is_deeply([map { $_->{text} } @{$r->{items}}],
          ['Second hello', 'Thanks for connecting', 'Hi Ada'],
          'the chat lists its messages newest first');
is($r->{items}[1]{id}, $sent_id, '... with the sent message id');
ok($r->{items}[1]{is_sender}, '... is_sender read as true');

my $texts = control('GET', "messages?chat_id=$ada_chat");
is(scalar(grep { $_->{origin} eq 'api' } @{$texts->{messages}}), 2,
   'the simulator recorded each API message once');

control('POST', 'faults', { route => 'chats.send', kind => 'drop' });
$r = probe('send-message', $ada_chat, 'Dropped but sent', 'acc');
is($r->{outcome}, 'UNKNOWN', 'a message applied then dropped: UNKNOWN');
$r = probe('chat-messages', $ada_chat);
is(scalar(grep { ($_->{text} // '') eq 'Dropped but sent' } @{$r->{items}}),
   1, '... reconciled: the chat holds it once');

$r = probe('send-message', 'NoSuchChatxxxxxxxxxxxx', 'hi', 'acc');
is_deeply([@$r{qw(outcome status)}], ['FINAL_LEAD', 404],
          'an unknown chat is final for the lead');

$r = probe('messages', 'acc', '2000-01-01T00:00:00.000Z');
cmp_ok(scalar @{$r->{items}}, '>=', 4, 'messages of the account');
$r = probe('messages', 'acc', '2999-01-01T00:00:00.000Z');
is_deeply([@$r{qw(outcome items)}], ['SENT', []],
          '... none after a future time (the filter is passed on)');

$r = probe('relations', 'acc');
is_deeply([sort map { $_->{member_id} } @{$r->{items}}],
          [sort @leads[0, 3, 5]], 'relations list the accepted ones');

# --- the account -------------------------------------------------------------
$r = probe('account', 'acc');
is_deeply([@$r{qw(outcome account_status)}], ['SENT', 'OK'], 'account OK');

control('POST', 'accounts/acc/status', { status => 'CREDENTIALS' });
$r = probe('account', 'acc');
is($r->{account_status}, 'CREDENTIALS', 'the account status is read');
$r = probe('invite', 'acc', $leads[9]);
is_deeply([@$r{qw(outcome status type)}],
          ['ACCOUNT_BLOCKED', 401, 'disconnected_account'],
          'a disconnected account is blocked');

$r = probe('account', 'deleted-account');
is_deeply([@$r{qw(outcome status)}], ['ACCOUNT_BLOCKED', 404],
          'an account Unipile does not know is blocked, not a lead error');

$r = probe('--key', 'wrong', 'account', 'acc');
is_deeply([@$r{qw(outcome type)}], ['ACCOUNT_BLOCKED', 'missing_credentials'],
          'a wrong API key is refused');

# --- one invitation per successful call ---------------------------------------
my $all = control('GET', 'invitations')->{invitations};
my %per_lead;
$per_lead{$_->{provider_id}}++ for @$all;
is_deeply(\%per_lead, { $leads[0] => 1, $leads[1] => 1, $leads[3] => 1,
                        $leads[5] => 1, $leads[6] => 1, $leads[7] => 1 },
          'the simulator holds exactly one invitation per applied call');

unlike(slurp($probe_log), qr/\Q$key\E/, 'the API key is never logged');

done_testing();
