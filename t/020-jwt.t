# Access token verification in the module, seen through the
# $liauto_jwt_* variables (no database involved): the alg allow-list
# (none, HS/RS confusion), signatures, exp/nbf/iat with leeway, iss/aud,
# the claims an API caller needs, the Authorization header's shape, and
# the configuration directives.  Tokens are forged here with Perl core
# modules and the openssl CLI, independently of libjwt.
use Test::Nginx::Socket 'no_plan';

use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);

repeat_each(2);
no_shuffle();
no_root_location();

our $dir = tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_JWT_DIR} = $dir;

# the file has whitespace around the secret: the module trims it
our $secret = 'liauto-test-secret-0123456789abcdef';
write_file('hs.key', "  $secret\n\n");
write_file('other.key', 'another-secret-of-enough-length-0123456789');
write_file('short.key', "short-secret\n");
openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $dir/rsa.pem");
openssl("pkey -in $dir/rsa.pem -pubout -out $dir/rsa.pub");
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $dir/ec.pem");
openssl("pkey -in $dir/ec.pem -pubout -out $dir/ec.pub");
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out $dir/p384.pem");
openssl("pkey -in $dir/p384.pem -pubout -out $dir/p384.pub");

sub write_file {
    my ($name, $data) = @_;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
    print $fh $data;
    close $fh;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

sub openssl {
    system("openssl $_[0] 2>/dev/null") == 0 or die "openssl $_[0] failed";
}

sub b64 { encode_base64url($_[0]) }

sub json { JSON::PP->new->canonical->encode($_[0]) }

# the claims of a valid agent token; undef values are left out
sub claims {
    my %c = (sub => 'user-1', role => 'agent', client_id => 'client-1',
             iss => 'liauto-test', aud => 'liauto-api',
             iat => time, exp => time + 600, @_);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return \%c;
}

sub signing_input {
    my ($alg, $claims) = @_;
    return b64(json({ alg => $alg, typ => 'JWT' })) . '.' . b64(json($claims));
}

sub hs256 {
    my ($claims, $key) = @_;
    my $input = signing_input('HS256', $claims);
    return "$input." . b64(hmac_sha256($input, $key // $::secret));
}

sub pem_sign {
    my ($input, $key) = @_;
    write_file('input', $input);
    openssl("dgst -sha256 -sign $dir/$key -out $dir/sig $dir/input");
    return read_file("$dir/sig");
}

sub rs256 {
    my ($claims) = @_;
    my $input = signing_input('RS256', $claims);
    return "$input." . b64(pem_sign($input, 'rsa.pem'));
}

# JWS wants r || s (32 bytes each), openssl writes an ASN.1 SEQUENCE
sub es256 {
    my ($claims) = @_;
    my $input = signing_input('ES256', $claims);
    my $der = pem_sign($input, 'ec.pem');
    my ($rlen) = unpack('x3 C', $der);
    my $r = substr($der, 4, $rlen);
    my $slen = unpack('C', substr($der, 5 + $rlen, 1));
    my $s = substr($der, 6 + $rlen, $slen);
    my $raw = join '', map { ("\x00" x (32 - length $_)) . $_ }
                    map { s/^\x00+//r } $r, $s;
    return "$input." . b64($raw);
}

sub bearer { "Authorization: Bearer $_[0]" }

our $http_config = <<'_EOC_';
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/hs.key;
    liauto_jwt_issuer liauto-test;
    liauto_jwt_audience liauto-api;
    large_client_header_buffers 4 16k;
_EOC_

our $config = <<'_EOC_';
    location = /t {
        return 200 "$liauto_jwt_sub|$liauto_jwt_role|$liauto_jwt_client_id|$liauto_jwt_error";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->must_die) {
        $block->set_value("http_config", $::http_config)
            unless defined $block->http_config;
        $block->set_value("config", $::config) unless defined $block->config;
        $block->set_value("request", "GET /t") unless defined $block->request;
        $block->set_value("no_error_log", "[error]")
            unless defined $block->no_error_log;
    }
});

run_tests();

__DATA__

=== TEST 1: a valid HS256 token exposes its claims
--- more_headers eval: main::bearer(main::hs256(main::claims()))
--- response_body chomp
user-1|agent|client-1|



=== TEST 2: expired beyond the leeway
--- more_headers eval: main::bearer(main::hs256(main::claims(exp => time - 120)))
--- response_body chomp
|||token has expired
--- error_log
liauto jwt: token refused: token has expired



=== TEST 3: expired within the default 30 s leeway is still valid
--- more_headers eval: main::bearer(main::hs256(main::claims(exp => time - 10)))
--- response_body chomp
user-1|agent|client-1|



=== TEST 4: liauto_jwt_leeway 0 refuses the same token
--- http_config eval: $::http_config . "liauto_jwt_leeway 0;"
--- more_headers eval: main::bearer(main::hs256(main::claims(exp => time - 10)))
--- response_body chomp
|||token has expired



=== TEST 5: nbf in the future beyond the leeway
--- more_headers eval: main::bearer(main::hs256(main::claims(nbf => time + 120)))
--- response_body chomp
|||token is not valid yet



=== TEST 6: nbf in the future within the leeway is accepted
--- more_headers eval: main::bearer(main::hs256(main::claims(nbf => time + 10)))
--- response_body chomp
user-1|agent|client-1|



=== TEST 7: iat in the future beyond the leeway
--- more_headers eval: main::bearer(main::hs256(main::claims(iat => time + 120)))
--- response_body chomp
|||token was issued in the future



=== TEST 8: no exp at all
--- more_headers eval: main::bearer(main::hs256(main::claims(exp => undef)))
--- response_body chomp
|||token has no numeric exp claim



=== TEST 9: exp that is a string
--- more_headers eval: main::bearer(main::hs256(main::claims(exp => "" . (time + 600))))
--- response_body chomp
|||token has no numeric exp claim



=== TEST 10: tampered payload (role raised to admin, signature kept)
--- more_headers eval
my ($h, $p, $s) = split /\./, main::hs256(main::claims());
main::bearer(CORE::join('.', $h, main::b64(main::json(main::claims(role => 'admin'))), $s))
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 11: signed with another key
--- more_headers eval: main::bearer(main::hs256(main::claims(), 'another-secret-of-enough-length-0123456789'))
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 12: alg none without a signature
--- more_headers eval
main::bearer(main::b64(main::json({ alg => 'none', typ => 'JWT' })) . '.'
             . main::b64(main::json(main::claims(role => 'admin'))) . '.')
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 13: alg none carrying a valid HMAC signature
--- more_headers eval
my $input = main::b64(main::json({ alg => 'none', typ => 'JWT' })) . '.'
            . main::b64(main::json(main::claims(role => 'admin')));
main::bearer("$input." . main::b64(Digest::SHA::hmac_sha256($input, $::secret)))
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 14: HS512 signed with the right secret is not the configured alg
--- more_headers eval
my $input = main::signing_input('HS512', main::claims());
main::bearer("$input." . main::b64(Digest::SHA::hmac_sha512($input, $::secret)))
--- response_body chomp
|||token algorithm is not allowed



=== TEST 15: an RS256 token when HS256 is configured
--- more_headers eval: main::bearer(main::rs256(main::claims()))
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 16: RS256 configured: a valid RS256 token
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
--- more_headers eval: main::bearer(main::rs256(main::claims(role => 'viewer')))
--- response_body chomp
user-1|viewer|client-1|



=== TEST 17: RS256 configured: HS256 signed with the public key PEM (confusion)
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
--- more_headers eval: main::bearer(main::hs256(main::claims(), main::read_file("$::dir/rsa.pub")))
--- response_body chomp
|||token algorithm is not allowed



=== TEST 18: ES256 configured: a valid ES256 token
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/ec.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/ec.pub;
--- more_headers eval: main::bearer(main::es256(main::claims()))
--- response_body chomp
user-1|agent|client-1|



=== TEST 19: ES256 configured: an RS256 token
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/ec.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/ec.pub;
--- more_headers eval: main::bearer(main::rs256(main::claims()))
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 20: no Authorization header
--- response_body chomp
|||missing Authorization header



=== TEST 21: another scheme
--- more_headers
Authorization: Basic dXNlcjpwYXNz
--- response_body chomp
|||Authorization header is not a Bearer token



=== TEST 22: the scheme is case-insensitive
--- more_headers eval: "Authorization: bEARER " . main::hs256(main::claims())
--- response_body chomp
user-1|agent|client-1|



=== TEST 23: garbage after Bearer
--- more_headers
Authorization: Bearer abc.def$ghi
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 24: Bearer and nothing else
--- more_headers
Authorization: Bearer
--- response_body chomp
|||Bearer token is empty



=== TEST 25: a 9 KB token is refused before parsing
--- more_headers eval: main::bearer(main::hs256(main::claims(pad => 'x' x 9000)))
--- response_body chomp
|||Bearer token is longer than 8192 bytes



=== TEST 26: wrong issuer
--- more_headers eval: main::bearer(main::hs256(main::claims(iss => 'someone-else')))
--- response_body chomp
|||token issuer is not accepted



=== TEST 27: no issuer while one is configured
--- more_headers eval: main::bearer(main::hs256(main::claims(iss => undef)))
--- response_body chomp
|||token issuer is not accepted



=== TEST 28: wrong audience
--- more_headers eval: main::bearer(main::hs256(main::claims(aud => 'another-api')))
--- response_body chomp
|||token audience is not accepted



=== TEST 29: an audience array that names ours
--- more_headers eval: main::bearer(main::hs256(main::claims(aud => ['another-api', 'liauto-api'])))
--- response_body chomp
user-1|agent|client-1|



=== TEST 30: an audience array without ours
--- more_headers eval: main::bearer(main::hs256(main::claims(aud => ['another-api', 'x'])))
--- response_body chomp
|||token audience is not accepted



=== TEST 31: no issuer or audience configured: neither is required
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/hs.key;
--- more_headers eval: main::bearer(main::hs256(main::claims(iss => undef, aud => undef)))
--- response_body chomp
user-1|agent|client-1|



=== TEST 32: no sub
--- more_headers eval: main::bearer(main::hs256(main::claims(sub => undef)))
--- response_body chomp
|||token has no sub claim



=== TEST 33: a role that is not ours
--- more_headers eval: main::bearer(main::hs256(main::claims(role => 'root')))
--- response_body chomp
|||token role is not admin, agent or viewer



=== TEST 34: an agent without client_id
--- more_headers eval: main::bearer(main::hs256(main::claims(client_id => undef)))
--- response_body chomp
|||token of an agent or viewer has no client_id claim



=== TEST 35: an admin without client_id is valid
--- more_headers eval: main::bearer(main::hs256(main::claims(role => 'admin', client_id => undef)))
--- response_body chomp
user-1|admin||



=== TEST 36: the token is decoded once for all the variables of a request
--- more_headers eval: main::bearer(main::hs256(main::claims()))
--- response_body chomp
user-1|agent|client-1|
--- grep_error_log eval: qr/liauto jwt: token \w+/
--- grep_error_log_out
liauto jwt: token accepted



=== TEST 37: the variables work in the rewrite phase (if)
--- config
    location = /t {
        if ($liauto_jwt_role != "admin") {
            return 403 "forbidden: $liauto_jwt_error";
        }
        return 200 "hello $liauto_jwt_sub";
    }
--- more_headers eval: main::bearer(main::hs256(main::claims(role => 'admin')))
--- response_body chomp
hello user-1



=== TEST 38: the same location without a token
--- config
    location = /t {
        if ($liauto_jwt_role != "admin") {
            return 403 "forbidden: $liauto_jwt_error";
        }
        return 200 "hello $liauto_jwt_sub";
    }
--- error_code: 403
--- response_body chomp
forbidden: missing Authorization header



=== TEST 39: a server without a key refuses every token
--- http_config
--- more_headers eval: main::bearer(main::hs256(main::claims()))
--- response_body chomp
|||token verification is not configured



=== TEST 40: a server's key pair replaces the http level's secret as a whole
--- config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
    location = /t {
        return 200 "$liauto_jwt_sub|$liauto_jwt_role|$liauto_jwt_client_id|$liauto_jwt_error";
    }
--- more_headers eval: main::bearer(main::hs256(main::claims()))
--- response_body chomp
|||token is malformed or its signature is invalid



=== TEST 41: the same server accepts RS256, and inherits iss/aud checks
--- config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
    location = /t {
        return 200 "$liauto_jwt_sub|$liauto_jwt_role|$liauto_jwt_client_id|$liauto_jwt_error";
    }
--- more_headers eval: main::bearer(main::rs256(main::claims(aud => 'another-api')))
--- response_body chomp
|||token audience is not accepted



=== TEST 42: config: the key file does not exist
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/missing.key;
--- config
--- must_die
--- error_log eval
qr/"liauto_jwt_key_file" cannot open "\S+\/missing.key"/



=== TEST 43: config: an HS256 secret shorter than 32 bytes
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/short.key;
--- config
--- must_die
--- error_log eval
qr/"liauto_jwt_key_file" file "\S+\/short.key" holds a secret of 12 bytes, HS256 needs at least 32/



=== TEST 44: config: a private key without its public key
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
--- config
--- must_die
--- error_log
"liauto_jwt_private_key_file" needs "liauto_jwt_public_key_file"



=== TEST 45: config: a leeway over 5 minutes
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/hs.key;
    liauto_jwt_leeway 10m;
--- config
--- must_die
--- error_log
"liauto_jwt_leeway" directive must be between 0 and 300 seconds



=== TEST 46: config: a secret and a key pair at once
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/hs.key;
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
--- config
--- must_die
--- error_log
"liauto_jwt_key_file" (HS256) and "liauto_jwt_private_key_file"/"liauto_jwt_public_key_file" exclude each other



=== TEST 47: config: a public key of another pair
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/ec.pub;
--- config
--- must_die
--- error_log
"liauto_jwt_public_key_file" is not the public key of "liauto_jwt_private_key_file"



=== TEST 48: config: an EC key on P-384
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/p384.pem;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/p384.pub;
--- config
--- must_die
--- error_log
holds an EC key on curve "secp384r1", ES256 needs P-256 (prime256v1)



=== TEST 49: config: a public key where the private key belongs
--- http_config
    liauto_jwt_private_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
    liauto_jwt_public_key_file $TEST_NGINX_JWT_DIR/rsa.pub;
--- config
--- must_die
--- error_log
"liauto_jwt_private_key_file" holds no unencrypted PEM private key



=== TEST 50: config: a ttl of 0
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/hs.key;
    liauto_jwt_ttl 0;
--- config
--- must_die
--- error_log
"liauto_jwt_ttl" directive must be between 1 and 86400 seconds



=== TEST 51: config: the key file given twice
--- http_config
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/hs.key;
    liauto_jwt_key_file $TEST_NGINX_JWT_DIR/other.key;
--- config
--- must_die
--- error_log
"liauto_jwt_key_file" directive is duplicate



=== TEST 52: a token accepted once: its signature under another payload is still refused (the per-worker cache compares whole tokens)
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
my $token = main::hs256(main::claims());
my ($h, $p, $s) = split /\./, $token;
[main::bearer($token),
 main::bearer(CORE::join('.', $h, main::b64(main::json(main::claims(role => 'admin'))), $s)),
 main::bearer($token)]
--- response_body eval
["user-1|agent|client-1|",
 "|||token is malformed or its signature is invalid",
 "user-1|agent|client-1|"]



=== TEST 53: an admin token without client_id, accepted again from the cache
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
my $token = main::hs256(main::claims(role => 'admin', client_id => undef));
[main::bearer($token), main::bearer($token)]
--- response_body eval
["user-1|admin||", "user-1|admin||"]



=== TEST 54: a cached token is not accepted by a server with another key
--- http_config eval
$::http_config . "server { listen 127.0.0.1:\$TEST_NGINX_RAND_PORT_1; liauto_jwt_key_file \$TEST_NGINX_JWT_DIR/other.key; location = /t { return 200 \"\$liauto_jwt_sub|\$liauto_jwt_error\"; } }"
--- config
    location = /t {
        return 200 "$liauto_jwt_sub|$liauto_jwt_role|$liauto_jwt_client_id|$liauto_jwt_error";
    }
    location = /other {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/t;
        proxy_set_header Authorization $http_authorization;
    }
--- request eval
["GET /t", "GET /other"]
--- more_headers eval
my $token = main::hs256(main::claims());
[main::bearer($token), main::bearer($token)]
--- response_body eval
["user-1|agent|client-1|",
 "|token is malformed or its signature is invalid"]
