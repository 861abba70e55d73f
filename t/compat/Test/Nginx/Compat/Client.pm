package Test::Nginx::Compat::Client;

# The HTTP side of the compat runner: turns "--- request" style sections
# into raw HTTP/1.1 requests (Host, Connection and Content-Length added
# the way the real Test::Nginx adds them), sends them over a plain socket
# with an inactivity timeout and parses the responses (chunked decoding,
# leftovers of pipelined responses).

use strict;
use warnings;

use Exporter 'import';
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX qw(EAGAIN EWOULDBLOCK EINTR);
use Test::More ();
use Time::HiRes qw(sleep);

use Test::Nginx::Compat::Settings;
use Test::Nginx::Compat::Server qw(nginx_child_gone);

our @EXPORT = qw(requests_of_block send_request parse_response);

sub parse_more_headers {
    my $text = shift;

    my ($out, $is_chunked) = ('', 0);

    for my $line (split /\n+/, $text) {
        next if $line =~ /^\s*#/;

        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $is_chunked = 1
            if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }

    return ($out, $is_chunked);
}

sub more_headers_for {
    my ($block, $idx) = @_;

    my $more = $block->more_headers || '';

    if (ref $more eq 'ARRAY') {
        $more = $more->[$idx];
        bail_out("--- more_headers lacks data for the request #$idx")
            unless defined $more;
    }

    return parse_more_headers($more);
}

# "METHOD [URI [VERSION]]" on the first line, the rest is the body.
sub build_request {
    my ($name, $text, $more_headers, $is_chunked, $conn) = @_;

    my ($first, $content) = split /\n/, $text // '', 2;

    bail_out("$name - Request line should be non-empty")
        unless defined $first && length $first;

    my ($method, $uri, $version) =
        $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");

    $uri //= '/';
    $version //= 'HTTP/1.1';
    $content //= '';

    my $len_header = '';
    if (!$is_chunked && $content ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        $content =~ s/^\s+|\s+$//gs;
        $len_header = 'Content-Length: ' . length($content) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $Cfg{server_name}\r\n"
        if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n"
        if $more_headers !~ /(?:^|\n)Connection/msi;

    return "$method $uri $version\r\n$headers$more_headers$len_header\r\n"
           . $content;
}

sub request_pieces {
    my ($value, $head_text) = @_;

    my @pieces = map { ref $_ ? {%$_} : { value => $_ } }
                 ref $value ? @$value : ($value);
    my $all = join '', map { $_->{value} // '' } @pieces;

    return { pieces => \@pieces, head => $all =~ /^\s*HEAD\s+/ ? 1 : 0 };
}

sub pipelined_request {
    my ($block) = @_;

    my $name = $block->name;
    my $reqs = $block->pipelined_requests;

    bail_out("$name - invalid entries in --- pipelined_requests")
        unless ref $reqs eq 'ARRAY';

    my $all = '';
    for my $i (0 .. $#$reqs) {
        my $text = expand_env_in_text($reqs->[$i], $name, {});
        my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
        $all .= build_request($name, $text, more_headers_for($block, $i),
                              $conn);
    }

    return request_pieces($all);
}

# Returns the list of requests to send for a block, each a hash of
# pieces (sent with optional delays in between) and a HEAD flag.
sub requests_of_block {
    my ($block) = @_;

    my $name = $block->name;

    return request_pieces(scalar($block->raw_request))
        if defined $block->raw_request;

    return pipelined_request($block) if $block->pipelined_requests;

    my $request = $block->request;

    if (!ref $request) {
        1 while defined $request && $request =~ s/^\s*#[^\n]+\s+|^\s+//gs;
        return request_pieces(build_request($name, $request,
                                            more_headers_for($block, 0),
                                            'close'));
    }

    bail_out("$name - invalid ---request : MUST be string or array of "
             . "requests") unless ref $request eq 'ARRAY';

    my @list;
    for my $i (0 .. $#$request) {
        # Packets with delays (arrays inside the array) are not supported.
        bail_out("$name - request packets (nested arrays) are not "
                 . "supported by the compat runner") if ref $request->[$i];
        push @list, request_pieces(build_request(
            $name, $request->[$i], more_headers_for($block, $i), 'close'));
    }

    return @list;
}

sub connect_server {
    my ($name, $timeout, $port) = @_;

    $port //= $Cfg{client_port};
    my $where = "$Cfg{server_addr}:$port";

    for my $try (1 .. 50) {
        my $sock = IO::Socket::INET->new(PeerAddr => $Cfg{server_addr},
                                         PeerPort => $port,
                                         Proto    => 'tcp',
                                         Timeout  => $timeout);
        return $sock if $sock;

        my $err = $!;
        if (nginx_child_gone()) {
            Test::More::fail("$name - Can't connect to $where: $err "
                             . "(aborted)\n");
            return undef;
        }

        my $wait = ($Cfg{sleep} + $Cfg{sleep} * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - Can't connect to $where: $err\n"
             . "\tRetry connecting after $wait sec\n" if $wait >= 0.6;
        sleep $wait;
    }

    Test::More::fail("$name - Can't connect to $where: $! (aborted)\n");
    return undef;
}

# Sends one request (its pieces in order) and reads until the server
# closes the connection. A silence longer than $timeout fails the test
# unless the block has "--- abort".
sub send_request {
    my ($req, $block, $timeout) = @_;

    my $name = $block->name;
    # A raw request tests the wire (chunk and packet boundaries) that a
    # proxy on TEST_NGINX_CLIENT_PORT (the contract suite's prism) would
    # re-encode: it goes to nginx itself.
    my $sock = connect_server($name, $timeout,
                              defined $block->raw_request
                              ? $Cfg{server_port} : undef)
        or return undef;
    my @pieces = @{ $req->{pieces} };
    my $buf = (shift @pieces)->{value} // '';
    my $resp = '';
    my $writing = 1;
    my $delay = $block->raw_request_middle_delay;

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);

    while (1) {
        my $rsel = IO::Select->new($sock);
        my $wsel = IO::Select->new($writing ? $sock : ());

        $! = 0;
        my ($r, $w) = IO::Select->select($rsel, $wsel, undef, $timeout);

        if (!$r && !$w) {
            next if $! == EINTR;
            close $sock;
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name\n");
            } else {
                sleep 0.005;
            }
            last;
        }

        if ($w && @$w) {
            my $n = syswrite $sock, $buf;

            if (defined $n) {
                substr($buf, 0, $n) = '';

            } elsif ($! != EAGAIN && $! != EWOULDBLOCK) {
                # The server may answer and close before reading all of
                # the request; keep reading what it sent.
                warn "write failed: $!\n";
                $writing = 0;
            }

            if ($writing && $buf eq '') {
                if (my $next = shift @pieces) {
                    my $wait = $next->{delay_before} // $delay;
                    sleep $wait if $wait;
                    $buf = $next->{value} // '';

                } else {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        shutdown $sock, $how =~ /^$/ ? 1 : $how;
                    }
                }
            }
        }

        next unless $r && @$r;

        my $n = sysread $sock, my $chunk, 4096;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK;
            warn "WARNING: $name - HTTP response read failure: $!";
            last;
        }
        last if $n == 0;
        $resp .= $chunk;
    }

    close $sock;
    return $resp;
}

sub fail_parse {
    Test::More::fail(shift);
    return;
}

sub decode_chunked {
    my ($name, $raw, $trailers) = @_;

    my ($decoded, $left) = ('', undef);

    while (1) {
        if (!@$trailers && $raw =~ /\G0[ \t]*\r\n\r\n/gc) {
            $left = $1 if $raw =~ /\G(.+)/gcs;
            return ($decoded, $left);
        }

        if (@$trailers && $raw =~ /\G0[ \t]*\r\n/gc) {
            for my $trailer (@$trailers) {
                return fail_parse("$name - invalid trailer data "
                                      . "received (expected $trailer).")
                    unless $raw =~ /\G\Q$trailer\E: [^\n]*\r\n/gc;
            }
            return fail_parse("$name - invalid chunked data received "
                                  . "(expected CRLF).")
                unless $raw =~ /\G\r\n/gc;
            $left = $1 if $raw =~ /\G(.+)/gcs;
            return ($decoded, $left);
        }

        if ($raw =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
            my $size = hex $1;
            my $pos = pos $raw;

            return fail_parse("$name - invalid chunked data received "
                                  . "(not enought octets for the data "
                                  . "section)")
                if length($raw) - $pos < $size;

            $decoded .= substr $raw, $pos, $size;
            pos($raw) = $pos + $size;

            return fail_parse("$name - invalid chunked data received "
                                  . "(expected CRLF).")
                unless $raw =~ /\G\r\n/gc;
            next;
        }

        return fail_parse("$name - invalid chunked body received: $1")
            if $raw =~ /\G(.+)/gcs;

        return fail_parse("$name - no last chunk found - $raw");
    }
}

# Returns the HTTP::Response, the raw header block and whatever followed
# the body (the next pipelined response).
sub parse_response {
    my ($name, $raw, $head) = @_;

    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;

    if ($code && $code !~ /^\d+$/) {
        undef $code;
        $res->code(undef);
    }

    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;

    if (defined $enc && $enc eq 'chunked') {
        my ($decoded, $rest) = decode_chunked($name, $res->content // '',
                                              [$res->header('Trailer')]);
        return unless defined $decoded;
        $res->content($decoded);
        $left = $rest;

    } elsif (defined $len && $len ne '' && $len >= 0) {
        my $body = $res->content;

        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $body, "\n" unless $head;

        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

1;
