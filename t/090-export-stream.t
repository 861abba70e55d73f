# Exports through nginx (ngx_liauto_export.c, ngx_liauto_xlsx.c, sql
# 0032): a 100,000-lead campaign export arrives whole and byte for byte
# what Postgres' own COPY ... CSV writes for the same rows, while the nginx
# worker's memory stays far below the export's size; a client that goes
# away mid-export leaves a pool of one connection usable; quoting and the
# formula guard; another tenant's campaign is a 404; every analytics view
# exports as CSV; the XLSX report holds one sheet per view with the values
# of the JSON endpoints.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);
use Digest::MD5 qw(md5_hex);
use HTTP::Tiny;
use IO::Socket::INET;
use Socket;
use JSON::PP;
use Archive::Zip qw(:ERROR_CODES);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

sub psql {
    my ($sql) = @_;
    my $out = `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
$sql
SQL`;
    die "psql failed: $sql" if $?;
    chomp $out;
    return $out;
}

# client A: a viewer, an account, a campaign of 100,000 plain leads, one of
# leads whose fields need quoting, one with a little activity for the
# report; client B: one campaign, never visible to A
our ($viewer_id, $client_a, $big, $quoting, $report, $campaign_b) =
    split /\|/, psql(<<'SQL');
DELETE FROM liauto.users WHERE email LIKE '%@t090.test';
DELETE FROM liauto.campaigns WHERE client_id IN
    (SELECT id FROM liauto.clients WHERE name LIKE 't090 %');
DELETE FROM liauto.linkedin_accounts WHERE unipile_account_id LIKE 't090-%';
DELETE FROM liauto.clients WHERE name LIKE 't090 %';
WITH k AS (INSERT INTO liauto.clients (name)
           VALUES ('t090 client a'), ('t090 client b') RETURNING id, name),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id)
           SELECT k.id, 'acct ' || right(k.name, 1), 't090-' || right(k.name, 1)
           FROM k RETURNING id, client_id),
     c AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name, timezone)
           SELECT a.client_id, a.id, 't090 ' || n, 'Europe/Paris'
           FROM a, unnest('{big,quoting,report}'::text[]) AS n
           RETURNING id, client_id, name),
     v AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'viewer@t090.test', liauto.hash_password('viewer pass'),
                  'viewer', k.id FROM k WHERE k.name = 't090 client a'
           RETURNING id, client_id)
SELECT v.id, v.client_id,
       (SELECT id FROM c WHERE client_id = v.client_id AND name = 't090 big'),
       (SELECT id FROM c WHERE client_id = v.client_id
                         AND name = 't090 quoting'),
       (SELECT id FROM c WHERE client_id = v.client_id
                         AND name = 't090 report'),
       (SELECT id FROM c WHERE client_id <> v.client_id
                         AND name = 't090 big')
FROM v;
SQL
die "fixtures failed" unless $campaign_b;

psql(<<SQL);
INSERT INTO liauto.leads (client_id, campaign_id, first_name, last_name,
                          company, public_identifier, profile_url)
SELECT '$client_a', '$big', 'First' || i, CASE WHEN i % 3 > 0 THEN 'Last' || i END,
       'Company ' || i % 97, 't090-big-' || i,
       'https://www.linkedin.com/in/t090-big-' || i
FROM generate_series(1, 100000) AS i;

INSERT INTO liauto.leads (id, client_id, campaign_id, first_name, last_name,
                          company, title, email, public_identifier,
                          custom_fields, created_at)
VALUES ('d0900000-0000-0000-0000-000000000001', '$client_a', '$quoting',
        '=SUM(A1)', 'O"Neil', 'Acme, Inc.', E'Line1\\nLine2', '+1\@x.test', 'q1',
        '{"note": "x,y"}', '2026-01-01 00:00Z'),
       ('d0900000-0000-0000-0000-000000000002', '$client_a', '$quoting',
        '\@cmd', NULL, '=HYPERLINK("http://x","y")', '-2', NULL, 'q2',
        '{"note": "=1+1"}', '2026-01-02 00:00Z');

-- three leads invited two days ago, two accepted, one messaged, one reply
WITH l AS (INSERT INTO liauto.leads (client_id, campaign_id,
                                     public_identifier)
           SELECT '$client_a', '$report', 't090-report-' || i
           FROM generate_series(1, 3) AS i RETURNING id, public_identifier),
     e AS (INSERT INTO liauto.events (client_id, lead_id, campaign_id,
                                      account_id, type, occurred_at, meta)
           SELECT '$client_a', l.id, '$report', c.linkedin_account_id, t.type,
                  liauto.now() - interval '2 days' + t.after,
                  jsonb_build_object('step_index', t.step)
           FROM l
           JOIN liauto.campaigns AS c ON c.id = '$report'
           JOIN (VALUES ('connection_request_sent', interval '0', 0, 3),
                        ('connection_accepted', interval '3 hours', NULL, 2),
                        ('message_sent', interval '5 hours', 1, 1),
                        ('message_received', interval '9 hours', NULL, 1))
                AS t (type, after, step, upto)
             ON right(l.public_identifier, 1)::integer <= t.upto
           RETURNING 1)
SELECT count(*) FROM e;
SQL

# the export of the big campaign as Postgres' COPY writes CSV (LF ends a
# record there, CRLF in the export; no field of these leads needs quotes)
our $big_csv = psql(<<SQL) . "\n";
COPY (SELECT l.id, l.first_name, l.last_name, l.company, l.title, l.email,
             l.public_identifier, l.profile_url, l.status, l.current_step,
             api.ts(l.created_at) AS created_at
      FROM liauto.leads AS l WHERE l.campaign_id = '$big'
      ORDER BY l.created_at, l.id)
TO STDOUT WITH (FORMAT csv, HEADER)
SQL
$big_csv =~ s/\n/\r\n/g;
our $big_md5 = md5_hex($big_csv);
our $big_len = length $big_csv;
undef $big_csv;

our $viewer = bearer({ sub => $viewer_id, role => 'viewer',
                       client_id => $client_a });
(our $viewer_value = $viewer) =~ s/^Authorization:\s*//;

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config", "location /api/ { liauto_api; }");
    $block->set_value("more_headers", $::viewer)
        unless defined $block->more_headers;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

sub url {
    my ($path) = @_;
    return "http://127.0.0.1:" . server_port() . $path;
}

sub get_json {
    my ($path) = @_;
    my $res = HTTP::Tiny->new(timeout => 30)->get(url($path),
        { headers => { Authorization => $::viewer_value } });
    die "GET $path: $res->{status}" unless $res->{status} == 200;
    return JSON::PP->new->decode($res->{content});
}

sub worker_rss_kb {
    my $root = server_root();
    open my $fh, '<', "$root/logs/nginx.pid" or die "nginx.pid: $!";
    chomp(my $pid = <$fh>);
    open my $st, '<', "/proc/$pid/status" or die "status: $!";
    while (<$st>) {
        return $1 if /^VmRSS:\s+(\d+)/;
    }
    die "no VmRSS";
}

# streams an export, keeping only its digest and the worker's peak memory
sub stream_export {
    my ($path) = @_;
    my $md5 = Digest::MD5->new;
    my ($len, $peak, $next) = (0, 0, 0);
    my $res = HTTP::Tiny->new(timeout => 120)->get(url($path), {
        headers => { Authorization => $::viewer_value },
        data_callback => sub {
            $md5->add($_[0]);
            $len += length $_[0];
            if ($len >= $next) {
                my $rss = main::worker_rss_kb();
                $peak = $rss if $rss > $peak;
                $next = $len + 256 * 1024;
            }
        } });
    return ($res, $len, $md5->hexdigest, $peak);
}

# a workbook's sheets: {names => [..], sheets => [[[cell, ..], ..], ..]}
sub read_xlsx {
    my ($bytes) = @_;
    open my $fh, '+<', \$bytes or die;
    my $zip = Archive::Zip->new;
    $zip->readFromFileHandle($fh) == AZ_OK or die "not a zip";
    my $xml = sub { scalar $zip->contents($_[0]) };
    my $text = sub {
        my $s = join '', $_[0] =~ /<t[^>]*>(.*?)<\/t>/gs;
        my %e = (amp => '&', lt => '<', gt => '>', quot => '"',
                 apos => "'");
        $s =~ s/&(\w+);/$e{$1}/g;
        return $s;
    };
    my @shared = map { $text->($_) }
                 ($xml->('xl/sharedStrings.xml') // '') =~ /<si>(.*?)<\/si>/gs;
    my @names = $xml->('xl/workbook.xml') =~ /<sheet name="([^"]+)"/g;
    my @sheets;
    for my $n (1 .. @names) {
        my @rows;
        for my $row ($xml->("xl/worksheets/sheet$n.xml")
                     =~ /<row [^>]*>(.*?)<\/row>/gs)
        {
            my @cells;
            while ($row =~ /<c r="([A-Z]+)\d+"([^>]*?)(?:\/>|>(.*?)<\/c>)/gs) {
                my ($col, $attr, $inner) = ($1, $2, $3 // '');
                my ($v) = $inner =~ /<v>(.*?)<\/v>/s;
                $v = $shared[$v] if defined $v && $attr =~ /t="s"/;
                $cells[ord($col) - ord('A')] = $v;
            }
            push @rows, \@cells;
        }
        push @sheets, \@rows;
    }
    return { names => \@names, sheets => \@sheets };
}

# {dotted.path => scalar} of a JSON answer, as the report's field sheets
sub flatten {
    my ($v, $prefix, $out) = @_;
    $out //= {};
    if (ref $v eq 'HASH') {
        flatten($v->{$_}, defined $prefix ? "$prefix.$_" : $_, $out)
            for keys %$v;
    } elsif (ref $v eq 'ARRAY') {
        flatten($v->[$_], "$prefix.$_", $out) for 0 .. $#$v;
    } else {
        $out->{$prefix} = num($v);
    }
    return $out;
}

# numbers compare as numbers (0.2500 in JSON is 0.25 in a cell)
sub num {
    my ($v) = @_;
    return $v unless defined $v;
    return $v ? 1 : 0 if JSON::PP::is_bool($v);
    return $v =~ /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/ ? 0 + $v : $v;
}

sub table {
    my ($rows, @columns) = @_;
    return [ map { my $r = $_; [ map { num($r->{$_}) } @columns ] }
             @$rows ];
}

sub cells {
    my ($rows) = @_;
    return [ map { [ map { num($_) } @$_ ] } @$rows ];
}

run_tests();

__DATA__

=== TEST 1: 100,000 leads arrive whole, byte-exact, in bounded worker memory
--- init
my $c = $main::big;
# a first small export: the pool's connection and nginx's buffers exist
main::stream_export("/api/v1/campaigns/$main::quoting/leads/export");
my $before = main::worker_rss_kb();
my ($res, $len, $md5, $peak) =
    main::stream_export("/api/v1/campaigns/$c/leads/export?format=csv");
Test::More::is($res->{status}, 200, "export status");
Test::More::is($res->{headers}{'transfer-encoding'}, 'chunked', "chunked");
Test::More::is($len, $main::big_len, "export length is COPY's");
Test::More::is($md5, $main::big_md5, "export bytes are COPY's");
Test::More::cmp_ok($len, '>', 10_000_000, "the export is large");
Test::More::cmp_ok(($peak - $before) * 1024, '<', $len / 4,
       "the worker grew by " . ($peak - $before) . " kB for an export of "
       . int($len / 1024) . " kB");
--- request
GET /api/v1/health
--- timeout: 120
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: a client gone mid-export leaves a one-connection pool usable
--- http_config eval
$::http_config . "liauto_postgres_pool_size 1;\n"
--- init
# a small receive buffer: the kernel cannot hold most of the export
my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 16384) or die;
$s->connect(Socket::pack_sockaddr_in(server_port(),
                                     Socket::inet_aton('127.0.0.1')))
    or die "connect: $!";
print $s "GET /api/v1/campaigns/$main::big/leads/export HTTP/1.1\r\n"
       . "Host: localhost\r\n$main::viewer\r\n\r\n";
my ($got, $buf) = (0, '');
while ($got < 256 * 1024) {
    my $n = sysread($s, $buf, 65536) or die "export ended early";
    $got += $n;
}
# the export pauses on the unread bytes, then the client goes
sleep 1;
close $s;
sleep 1;
--- request eval
"GET /api/v1/campaigns/$::quoting/leads/export"
--- log_level: info
--- error_code: 200
--- response_body_like: ^id,first_name,
--- error_log
closing the postgres connection of a streamed query given up before its end
--- no_error_log
[error]



=== TEST 3: quoting (commas, quotes, newlines) and the formula guard
--- request eval
"GET /api/v1/campaigns/$::quoting/leads/export?format=csv"
--- response_headers
Content-Type: text/csv; charset=utf-8
Transfer-Encoding: chunked
!Content-Length
--- response_body eval
"id,first_name,last_name,company,title,email,public_identifier,profile_url,status,current_step,created_at,note\r\n"
. "d0900000-0000-0000-0000-000000000001,'=SUM(A1),\"O\"\"Neil\",\"Acme, Inc.\",\"Line1\nLine2\",'+1\@x.test,q1,,pending,0,2026-01-01T00:00:00.000Z,\"x,y\"\r\n"
. "d0900000-0000-0000-0000-000000000002,'\@cmd,,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'-2,,q2,,pending,0,2026-01-02T00:00:00.000Z,'=1+1\r\n"



=== TEST 4: another tenant's campaign is a 404 envelope, before any byte
--- request eval
"GET /api/v1/campaigns/$::campaign_b/leads/export"
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"code":"NOT_FOUND","message":"campaign not found","details":{}}



=== TEST 5: the events export streams the campaign's events, oldest first
--- request eval
"GET /api/v1/campaigns/$::report/events/export"
--- response_headers
Transfer-Encoding: chunked
--- response_body_like eval
qr{^id,type,occurred_at,lead_id,public_identifier,profile_url,account_id,external_id,meta\r\n(?:[0-9a-f-]{36},connection_request_sent,[^\r]*\r\n){3}(?:[0-9a-f-]{36},connection_accepted,[^\r]*\r\n){2}[0-9a-f-]{36},message_sent,[^\r]*\r\n[0-9a-f-]{36},message_received,[^\r]*\r\n\z}



=== TEST 6: a bad query is a 400 envelope
--- request eval
"GET /api/v1/campaigns/$::big/events/export?format=xlsx"
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"invalid query parameters","details":{"format":"must be csv"}}



=== TEST 7: the variants and real-time views export as CSV too
--- request eval
["GET /api/v1/analytics/export?view=variants&id=$::report",
 "GET /api/v1/analytics/export?view=real-time"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr{^step_index,variant,text,sent,accepted,acceptance_rate,replied,reply_rate\r\n\z},
 qr{^field,value\r\n(?:[^\r]*\r\n)*now,\d{4}-\d\d-\d\dT[^\r]*\r\n(?:[^\r]*\r\n)*\z}]



=== TEST 8: the XLSX report: one sheet per view, the JSON endpoints' values
--- init
my $c = $main::report;
my $res = HTTP::Tiny->new(timeout => 30)->get(
    main::url("/api/v1/campaigns/$c/analytics/report.xlsx"),
    { headers => { Authorization => $main::viewer_value } });
Test::More::is($res->{status}, 200, "report status");
my $x = main::read_xlsx($res->{content});
Test::More::is_deeply($x->{names}, ['summary', 'timeseries', 'funnel', 'timings',
                        'replies by step', 'accounts'], "sheet names");
my ($summary, $series, $funnel, $timings, $by_step, $accounts) =
    @{ $x->{sheets} };

my $fields = sub {
    my ($rows) = @_;
    my ($head, @body) = @$rows;
    Test::More::is_deeply($head, ['field', 'value'], "field sheet header");
    return { map { $_->[0] => main::num($_->[1]) } @body };
};

my $j = main::get_json("/api/v1/campaigns/$c/analytics/summary");
Test::More::is_deeply($fields->($summary), main::flatten($j), "summary sheet");
Test::More::cmp_ok(scalar keys %{ main::flatten($j) }, '>', 20, "summary has fields");

$j = main::get_json("/api/v1/campaigns/$c/analytics/timeseries");
my @cols = qw(day invites acceptances messages replies);
Test::More::is_deeply($series, [\@cols, @{ main::table($j->{series}, @cols) }],
          "timeseries sheet: 30 days");
Test::More::is(scalar @$series, 31, "timeseries rows");

$j = main::get_json("/api/v1/analytics/campaigns/$c/funnel");
Test::More::is($j->{stages}[3]{leads}, 1, "one lead replied");
my %timing = map { $_ => delete $j->{$_} }
             qw(time_to_acceptance time_to_first_reply);
my $steps = delete $j->{replies_by_step};
Test::More::is_deeply($fields->($funnel), main::flatten($j), "funnel sheet");
Test::More::is_deeply($fields->($timings), main::flatten(\%timing), "timings sheet");
Test::More::is_deeply($by_step, [['step', 'leads'],
                     @{ main::table($steps, qw(step leads)) }],
          "replies by step sheet");

$j = main::get_json("/api/v1/analytics/clients/$main::client_a/comparative");
@cols = qw(kind id name invites acceptances messages replies
           acceptance_rate reply_rate);
Test::More::is_deeply($accounts, [\@cols, @{ main::table([map {
              { kind => 'accounts', id => $_->{account_id}, %$_ } }
              @{ $j->{accounts} }], @cols) }], "accounts sheet");
--- request eval
"GET /api/v1/campaigns/$::report/analytics/report.xlsx"
--- response_headers
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
Content-Disposition: attachment; filename="report.xlsx"
--- response_body_like: ^PK
--- no_error_log
[error]



=== TEST 9: another tenant's report is a 404
--- request eval
"GET /api/v1/campaigns/$::campaign_b/analytics/report.xlsx"
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"code": "NOT_FOUND", "details": {}, "message": "campaign not found"}
