#!/usr/bin/perl
# The contract suite's verdict (./build.sh test, suite "contract"): reads
# the recorder's log (t/contract/recorder.conf.in: one JSON line per
# exchange with prism's sl-violations header) and openapi/openapi.yaml.
# Fails on any response violation of an operation marked
# x-liauto-status: implemented.
#
# Request violations are counted apart: the tests send malformed requests
# on purpose (bad JSON, bad ids, no token).  The status of the answer to
# such a request may be one the operation does not list (prism forwards a
# body without Content-Type as text, and the module's 415 is in no
# operation's responses): listed, not failed; its body must still match.
# Requests off the spec nginx answered 2xx are listed for review (e.g.
# webhook deliveries without Content-Type, which the module parses as
# JSON, as Unipile sends them).
#
# usage: check.pl <recorder log> <openapi.yaml>
use strict;
use warnings;
use JSON::PP qw(decode_json);
use YAML::XS qw(LoadFile);

my ($log, $spec_file) = @ARGV;
die "usage: $0 <recorder log> <openapi.yaml>\n" unless $spec_file;
my $spec = LoadFile($spec_file);

# path templates as patterns, the most literal first: /leads/export
# before /leads/{id}
my @ops;
for my $path (keys %{ $spec->{paths} }) {
    (my $re = quotemeta $path) =~ s/\\\{[^}]*\\\}/[^\/]+/g;
    while (my ($method, $op) = each %{ $spec->{paths}{$path} }) {
        next unless ref $op eq 'HASH' && $op->{responses};
        push @ops, { method => uc $method, path => $path, re => qr/^$re$/,
                     status => $op->{'x-liauto-status'} // 'none' };
    }
}
@ops = sort { ($a->{path} =~ tr/{//) <=> ($b->{path} =~ tr/{//)
              or length $b->{path} <=> length $a->{path} } @ops;

sub operation {
    my ($method, $uri) = @_;
    $uri =~ s/\?.*//;
    for my $op (@ops) {
        return $op if $op->{method} eq $method && $uri =~ $op->{re};
    }
    return undef;
}

my (%count, %covered, @fail, @review, @excused);
open my $fh, '<', $log or die "$log: $!\n";
while (my $line = <$fh>) {
    my $x = decode_json($line);
    # refused by the recorder itself (a malformed raw request): prism
    # never saw it
    next if $x->{upstream} eq '' || $x->{upstream} eq '-';
    my $op = operation($x->{method}, $x->{uri});
    $count{exchanges}++;
    unless ($op) {
        $count{unknown}++;
        next;
    }
    my $implemented = $op->{status} eq 'implemented';
    $count{planned}++ unless $implemented;
    $covered{"$op->{method} $op->{path}"}++;
    my $violations = $x->{violations} eq '' ? []
                   : decode_json($x->{violations});
    my $bad_request = grep { $_->{location}[0] eq 'request' } @$violations;
    for my $v (@$violations) {
        my $msg = sprintf "%s %s -> %s: %s %s", $op->{method}, $op->{path},
            $x->{status}, join('.', @{ $v->{location} }), $v->{message};
        if ($v->{location}[0] eq 'request') {
            $count{request}++;
            push @review, $msg if $implemented && $x->{status} =~ /^2/;
        } elsif ($bad_request
                 && $v->{message} =~ /^Unable to match the returned status/) {
            $count{excused}++;
            push @excused, $msg;
        } else {
            $count{response}++;
            push @fail, $msg if $implemented;
        }
    }
}

printf "contract: %d exchanges through prism, %d operations of the spec "
     . "(%d of other paths, %d of planned operations); %d response "
     . "violations; %d request violations, %d of them answered 2xx; %d "
     . "responses off the spec to requests off the spec\n",
    $count{exchanges} // 0, scalar keys %covered, $count{unknown} // 0,
    $count{planned} // 0, $count{response} // 0, $count{request} // 0,
    scalar @review, $count{excused} // 0;
# one line per operation, status and message, with how many times
sub lines {
    my ($tag, @msgs) = @_;
    my %n;
    $n{$_}++ for @msgs;
    print "  $tag $_ (x$n{$_})\n" for sort keys %n;
}
lines('FAIL', @fail);
lines('(request off the spec, answered 2xx)', @review);
lines('(status of an answer to a request off the spec)', @excused);
print "  covered: $_ ($covered{$_})\n" for sort keys %covered;
die "contract: no exchange went through prism\n" unless $count{exchanges};
exit(@fail ? 1 : 0);
