# Inbox replies end to end: `liauto-worker run` against a throwaway
# database and the simulator. A lead's message is threaded into a
# conversation (as the webhook does, through liauto.record_message); a
# reply queued through the API function is sent into the chat exactly
# once and shows as sent in the thread. A worker killed with SIGKILL while
# its send is on the wire is not resent after a restart: the expired
# claim is found in the chat. A chat Unipile no longer knows is replaced by
# a new one with the attendee, and a kill while that chat is started is
# found in it; a refusal fails the message with the reason.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use JSON::PP;
use Time::HiRes qw(sleep);
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine qw(sql_text);
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('inbox');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
die "migrations failed: $out\n" if $rc != 0;

my $account = 'acc-inbox';
my $me = sim_control('POST', 'accounts', { id => $account,
                                           name => 'Inbox Sender' });
my $lea = sim_control('POST', 'people', { first_name => 'Lea',
                                          last_name => 'Lead',
                                          public_identifier => 'lea-lead' });
my $bo = sim_control('POST', 'people', { first_name => 'Bo',
                                         public_identifier => 'bo-other' });

my ($client, $agent) = split /\|/, psql($db, <<"SQL");
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('Inbox test')
           RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id, provider_user_id)
           SELECT id, 'Inbox Sender', '$account', '$me->{user_id}' FROM c),
     u AS (INSERT INTO liauto.users (client_id, email, password_hash, role)
           SELECT id, 'agent\@inbox.test', '\$2a\$06\$' || repeat('x', 53),
                  'agent' FROM c RETURNING id)
SELECT (SELECT id FROM c) || '|' || (SELECT id FROM u)
SQL

# A person writes to us; the message is threaded as the webhook would.
sub inbound {
    my ($person, $text) = @_;
    my $m = sim_control('POST', 'reply', { account_id => $account,
                                           provider_id => $person->{provider_id},
                                           text => $text });
    return psql($db, "SELECT liauto.record_message('$client', a.id,"
        . " '$m->{chat_id}', NULL, jsonb_build_object("
        . " 'external_message_id', '$m->{id}', 'direction', 'inbound',"
        . " 'text', " . sql_text($text) . ","
        . " 'sender', jsonb_build_object('provider_id',"
        . " '$person->{provider_id}'),"
        . " 'attendees', jsonb_build_array(jsonb_build_object("
        . " 'provider_id', '$person->{provider_id}'))))->>'conversation_id'"
        . " FROM liauto.linkedin_accounts a"
        . " WHERE a.unipile_account_id = '$account'");
}

# POST /inbox/conversations/{id}/reply as the agent: (status, body).
sub reply {
    my ($conversation, $text) = @_;
    my $caller = encode_json({ sub => $agent, role => 'agent',
                               client_id => $client });
    my ($status, $body) = split /\|/, psql($db,
        "SELECT status || '|' || body FROM api.inbox_reply("
        . sql_text($caller) . ", ARRAY['$conversation'], '{}',"
        . " jsonb_build_object('text', " . sql_text($text) . "))"), 2;
    return ($status, decode_json($body));
}

sub message { return psql($db, "SELECT $_[1] FROM liauto.messages"
                                . " WHERE id = '$_[0]'") }

sub api_messages {
    my ($person) = @_;
    return [ map { $_->{text} } grep { $_->{origin} eq 'api' }
             @{ sim_control('GET', "messages?account_id=$account"
                            . "&person_id=$person->{provider_id}")
                ->{messages} } ];
}

my $conversation = inbound($lea, 'Sounds good, when can we talk?');
ok($conversation, 'the lead\'s message opened a conversation');

my $log = "$tmp/worker.log";
my %env = (LIAUTO_DATABASE_URL => "dbname=$db",
           LIAUTO_WORKER_ID => "inbox-t-$$",
           LIAUTO_ENGINE_TICK_MS => 100,
           LIAUTO_LEASE_SECONDS => 4,
           UNIPILE_TIMEOUT => 1,
           UNIPILE_DSN => sim_dsn(),
           UNIPILE_API_KEY => sim_key());
my $pid = start_worker(\%env, $log, 'run');

# ------------------------------------------------------------ sent once

my ($status, $msg) = reply($conversation, 'Tomorrow at 3? — Zoë');
is($status, 202, 'the reply is accepted (202)');
is($msg->{status}, 'queued', '... and queued');

ok(wait_until(15, sub { message($msg->{id}, 'status') eq 'sent' }),
   'the worker sends it: the message becomes sent') or diag(slurp($log));
is_deeply(api_messages($lea), ['Tomorrow at 3? — Zoë'],
          'the simulator received it once, as typed');
my $sim_id = sim_control('GET', "messages?account_id=$account&origin=api")
             ->{messages}[0]{id};
is(message($msg->{id}, 'external_message_id'), $sim_id,
   'the message carries the provider\'s id');
is(psql($db, "SELECT string_agg(direction || ':' || status, ' '"
             . " ORDER BY thread_at, id) FROM liauto.messages"
             . " WHERE conversation_id = '$conversation'"),
   'inbound:received outbound:sent', 'the thread shows it after the lead\'s');
is(psql($db, "SELECT messages FROM liauto.rate_usage"), 1,
   'one message unit of the account\'s budget');
like(slurp($log), qr/sent reply \S+ of conversation $conversation: message id/,
     'the log says what was sent');

# ------------------------------------------- SIGKILL with the send on the wire

sim_control('POST', 'faults', { route => 'chats.send', kind => 'slow',
                                ms => 1500 });
($status, $msg) = reply($conversation, 'Sending you the deck now');
ok(wait_until(10, sub { psql($db, "SELECT count(*) FROM liauto.actions"
                                  . " WHERE kind = 'reply'"
                                  . " AND status = 'claimed'") == 1 }),
   'the second reply is claimed') or diag(slurp($log));
sleep(0.5);
kill('KILL', $pid);
waitpid($pid, 0);
ok(wait_until(5, sub { @{ api_messages($lea) } == 2 }),
   'the send that was on the wire at the kill lands at the simulator');

$log = "$tmp/worker-2.log";
$pid = start_worker(\%env, $log, 'run');
ok(wait_until(20, sub { message($msg->{id}, 'status') eq 'sent' }),
   'after the restart the reply is reconciled as sent') or diag(slurp($log));
my $found = qr/found in the chat, id \S+ -> sent/;
like(slurp($log), qr/reconciled reply \S+ of conversation $conversation: $found/,
     'found in the chat, not resent') or diag(slurp($log));
is_deeply(api_messages($lea), ['Tomorrow at 3? — Zoë',
                               'Sending you the deck now'],
          'each reply reached the simulator exactly once');
sim_control('DELETE', 'faults');

# ------------------------------------------ a chat Unipile no longer knows

# Bo is a first-degree relation (Unipile starts chats only with those)
my $inv = sim_api('POST', 'users/invite', { account_id => $account,
                                            provider_id => $bo->{provider_id} });
sim_control('POST', "invitations/$inv->{invitation_id}/accept");
my $other = inbound($bo, 'Hi, who is this?');
psql($db, "UPDATE liauto.conversations SET external_chat_id = 'gone-chat'"
          . " WHERE id = '$other'");
($status, $msg) = reply($other, 'Hello Bo!');
ok(wait_until(15, sub { message($msg->{id}, 'status') eq 'sent' }),
   'a reply into a chat that is gone is sent in a new chat with the '
   . 'attendee') or diag(slurp($log));
is_deeply(api_messages($bo), ['Hello Bo!'], '... once');
isnt(psql($db, "SELECT external_chat_id FROM liauto.conversations"
               . " WHERE id = '$other'"), 'gone-chat',
     'the conversation keeps the new chat');

# ------------------ SIGKILL while the chat started for a reply is on the wire

my $cy = sim_control('POST', 'people', { first_name => 'Cy',
                                         public_identifier => 'cy-third' });
$inv = sim_api('POST', 'users/invite', { account_id => $account,
                                         provider_id => $cy->{provider_id} });
sim_control('POST', "invitations/$inv->{invitation_id}/accept");
my $third = inbound($cy, 'Ping');
psql($db, "UPDATE liauto.conversations SET external_chat_id = 'gone-too'"
          . " WHERE id = '$third'");
sim_control('POST', 'faults', { route => 'chats.start', kind => 'slow',
                                ms => 1500 });
($status, $msg) = reply($third, 'Pong');
ok(wait_until(10, sub { @{ sim_control('GET', 'faults')->{faults} } == 0 }),
   'the new chat is being started (slowly)') or diag(slurp($log));
sleep(0.3);
kill('KILL', $pid);
waitpid($pid, 0);
ok(wait_until(5, sub { @{ api_messages($cy) } == 1 }),
   'the chat started at the kill lands at the simulator');

$log = "$tmp/worker-3.log";
$pid = start_worker(\%env, $log, 'run');
ok(wait_until(20, sub { message($msg->{id}, 'status') eq 'sent' }),
   'after the restart it is found in the attendee\'s new chat')
    or diag(slurp($log));
is_deeply(api_messages($cy), ['Pong'], '... and not resent');
is(psql($db, "SELECT external_chat_id FROM liauto.conversations"
             . " WHERE id = '$third'"),
   sim_control('GET', "messages?account_id=$account"
                      . "&person_id=$cy->{provider_id}&origin=api")
       ->{messages}[0]{chat_id},
   'the conversation keeps the chat it was found in');

# --------------------------------------------------- a refusal is a failure

sim_control('POST', 'faults', { route => 'chats.send', kind => 'status',
                                status => 422,
                                type => 'errors/blocked_recipient',
                                title => 'Recipient blocked' });
($status, $msg) = reply($conversation, 'Are you still there?');
ok(wait_until(15, sub { message($msg->{id}, 'status') eq 'failed' }),
   'a 422 of Unipile fails the reply') or diag(slurp($log));
like(message($msg->{id}, 'error'), qr/blocked_recipient.*\(HTTP 422\)/,
     '... with the reason on the message');
is(scalar @{ api_messages($lea) }, 2, 'and nothing more was sent');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
