package Liauto::Token;

# Access tokens for the tests, made the way the module makes them (HS256
# with t/data/jwt-hs256.key) or deliberately wrong.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP;

use Exporter 'import';
our @EXPORT_OK = qw(test_key hs256 bearer);

my $json = JSON::PP->new->canonical;

sub test_key {
    my $root = $ENV{TEST_NGINX_LIAUTO_ROOT} || '.';
    open my $fh, '<', "$root/t/data/jwt-hs256.key" or die "jwt key: $!";
    local $/;
    my $key = <$fh>;
    $key =~ s/\s+\z//;
    return $key;
}

# hs256({sub => .., role => .., client_id => ..}, key => .., header => {..})
# exp defaults to now + 15 min, iat to now.
sub hs256 {
    my ($claims, %opt) = @_;
    my $now = time;
    my %c = (iat => $now, exp => $now + 900, %$claims);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    my $header = $opt{header} || { alg => 'HS256', typ => 'JWT' };
    my $input = encode_base64url($json->encode($header)) . '.'
              . encode_base64url($json->encode(\%c));
    my $key = exists $opt{key} ? $opt{key} : test_key();
    return "$input." . encode_base64url(hmac_sha256($input, $key));
}

sub bearer { return "Authorization: Bearer " . hs256(@_) }

1;
