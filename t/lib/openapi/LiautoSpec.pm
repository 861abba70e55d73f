package LiautoSpec;

# openapi/openapi.yaml for the tests: its operations, and a validator of
# response bodies against the spec's schemas.
#
#   use FindBin;
#   use lib "$FindBin::Bin/lib/openapi";
#   use LiautoSpec qw(validate_response response_conforms);
#
#   my @errors = validate_response('GET', '/api/v1/campaigns/{id}', 200,
#                                  $body_bytes);
#   response_conforms('GET', "/api/v1/campaigns/$id", 200, $body_bytes,
#                     $test_name, $content_type);
#
# The path is a template of the spec or a request URI (query string
# ignored); the errors say "<METHOD> <template> <status>: <pointer>: ...".
# The Content-Type, when given, must be one the spec lists for that
# response (parameters such as charset ignored).
#
# The validator is our own, small and strict: Debian's JSON::Validator
# (5.14, bookworm) knows JSON Schema only up to draft 2019-09, fetches the
# meta-schema from the network on resolve(), reports a null property under
# oneOf as "not allowed" and ignores unevaluatedProperties across allOf.
# This one covers exactly the keywords the spec uses and reports any other
# keyword as an error rather than passing it silently.

use strict;
use warnings;

use B ();
use Exporter 'import';
use File::Basename ();
use File::Spec ();
use JSON::PP ();
use Scalar::Util qw(blessed);
use YAML::XS ();

our @EXPORT_OK = qw(load_spec spec_operations path_template validate_schema
                    validate_response response_conforms);

our $SPEC_FILE = File::Spec->catfile(
    File::Basename::dirname(File::Spec->rel2abs(__FILE__)),
    File::Spec->updir, File::Spec->updir, File::Spec->updir,
    'openapi', 'openapi.yaml');

my %loaded;

sub load_spec {
    my $file = shift // $SPEC_FILE;

    # true/false as JSON::PP booleans, so "additionalProperties: false" is
    # a false value and examples compare like JSON
    local $YAML::XS::Boolean = 'JSON::PP';
    return $loaded{$file} //= YAML::XS::LoadFile($file);
}

our @METHODS = qw(get put post delete options head patch trace);

# ([METHOD, path template, operation object], ...) in file order of paths
sub spec_operations {
    my $spec = shift // load_spec();
    my @ops;

    for my $path (sort keys %{ $spec->{paths} }) {
        my $item = $spec->{paths}{$path};
        for my $m (@METHODS) {
            push @ops, [uc $m, $path, $item->{$m}] if $item->{$m};
        }
    }
    return @ops;
}

# --------------------------------------------------------------- responses

# $path: a template of the spec ('/api/v1/leads/{id}') or a request URI
# ('/api/v1/leads/9a8b...?limit=2'), matched to the template that has the
# most literal segments.
sub path_template {
    my $path = shift;
    my $paths = load_spec()->{paths};

    $path =~ s/\?.*//s;
    return $path if $paths->{$path};

    my ($best, $best_literals) = (undef, -1);
    for my $template (keys %$paths) {
        my @want = split m{/}, $template, -1;
        my @got = split m{/}, $path, -1;
        next if @want != @got;
        my $literals = 0;
        for my $i (0 .. $#want) {
            if ($want[$i] =~ /^\{[^}]+\}$/) {
                next if length $got[$i];
            } elsif ($want[$i] eq $got[$i]) {
                $literals++;
                next;
            }
            $literals = -1;
            last;
        }
        ($best, $best_literals) = ($template, $literals)
            if $literals > $best_literals;
    }
    return $best;
}

sub validate_response {
    my ($method, $path, $status, $body, $content_type) = @_;
    my $spec = load_spec();
    my $template = path_template($path) // $path;
    my $where = "$method $template $status";

    my $item = $spec->{paths}{$template}
        or return ("$where: no path $template in the spec");
    my $op = $item->{lc $method}
        or return ("$where: no operation $method $template in the spec");

    my $responses = $op->{responses};
    my $response = $responses->{$status}
        // $responses->{substr($status, 0, 1) . 'XX'}
        // $responses->{default}
        or return ("$where: status $status is not documented");
    $response = _deref($spec, $response);

    my $content = $response->{content};
    if (!$content) {
        return () if !defined $body || $body eq '';
        return ("$where: the spec says no body, got "
                . length($body) . ' bytes');
    }

    # the media type, when the caller passes the Content-Type it got
    if (defined $content_type) {
        (my $type = lc $content_type) =~ s/\s*;.*//s;
        return ("$where: Content-Type $type, the spec says "
                . join(' or ', sort keys %$content))
            if !$content->{$type};
        return () if $type ne 'application/json';
    }

    # text/csv, text/html, application/yaml: bodies the schema cannot
    # describe beyond "a string"
    my $media = $content->{'application/json'} or return ();

    my $data = eval { JSON::PP->new->utf8->allow_nonref->decode($body) };
    if (!defined $data && $@) {
        (my $why = $@) =~ s/ at \S+ line \d+\.\n//;
        return ("$where: the body is not JSON: $why");
    }

    return map { "$where: $_" } validate_schema($media->{schema}, $data);
}

# A Test::More assertion around validate_response, printing the errors.
sub response_conforms {
    my ($method, $path, $status, $body, $name, $content_type) = @_;
    my @errors = validate_response($method, $path, $status, $body,
                                   $content_type);
    my $tb = Test::More->builder;

    $name //= "$method $path $status conforms to openapi.yaml";
    $tb->ok(!@errors, $name) or $tb->diag(join "\n", @errors);
    return !@errors;
}

# ----------------------------------------------------------------- schemas

sub validate_schema {
    my ($schema, $data) = @_;
    my @errors;

    _check(load_spec(), $schema, $data, '', \@errors);
    return @errors;
}

# keywords that describe and never constrain
my %ANNOTATIONS = map { $_ => 1 } qw(title description default example
    examples readOnly writeOnly deprecated $comment discriminator xml
    externalDocs);

my %VALIDATORS = (
    '$ref'                => \&_kw_ref,
    type                  => sub { },     # checked first, in _check
    enum                  => \&_kw_enum,
    const                 => \&_kw_const,
    format                => \&_kw_format,
    pattern               => \&_kw_pattern,
    minLength             => \&_kw_min_length,
    maxLength             => \&_kw_max_length,
    minimum               => \&_kw_minimum,
    maximum               => \&_kw_maximum,
    required              => \&_kw_required,
    properties            => \&_kw_properties,
    additionalProperties  => \&_kw_additional_properties,
    minProperties         => \&_kw_min_properties,
    prefixItems           => \&_kw_prefix_items,
    items                 => \&_kw_items,
    minItems              => \&_kw_min_items,
    maxItems              => \&_kw_max_items,
    uniqueItems           => \&_kw_unique_items,
    allOf                 => \&_kw_all_of,
    anyOf                 => \&_kw_any_of,
    oneOf                 => \&_kw_one_of,
    not                   => \&_kw_not,
    unevaluatedProperties => sub { },     # last, in _check
);

# Checks $data against $schema, pushing "<JSON pointer>: <what>" onto
# $errors; returns the object property names it evaluated (the input of
# unevaluatedProperties).
sub _check {
    my ($root, $schema, $data, $at, $errors) = @_;
    my %seen;
    my $cx = { root => $root, at => $at, errors => $errors, seen => \%seen,
               type => _json_type($data) };

    if (_is_bool($schema)) {
        push @$errors, _at($at) . ': no value is allowed here' if !$schema;
        return \%seen;
    }

    if (defined $schema->{type} && !_type_ok($schema->{type}, $cx->{type})) {
        my $want = ref $schema->{type} ? join(' or ', @{ $schema->{type} })
                                       : $schema->{type};
        push @$errors, _at($at) . ": expected $want, got $cx->{type}";
        return \%seen;
    }

    for my $kw (sort keys %$schema) {
        next if $ANNOTATIONS{$kw} || $kw =~ /^x-/;
        my $v = $VALIDATORS{$kw};
        if (!$v) {
            push @$errors, _at($at) . ": the validator does not know the"
                                    . " schema keyword '$kw'";
            next;
        }
        $v->($cx, $schema->{$kw}, $data, $schema);
    }

    if (exists $schema->{unevaluatedProperties} && $cx->{type} eq 'object') {
        for my $name (sort keys %$data) {
            next if $seen{$name};
            _sub($cx, $schema->{unevaluatedProperties}, $data->{$name},
                 $name, 'unevaluated property');
        }
    }

    return \%seen;
}

sub _sub {
    my ($cx, $schema, $data, $step, $what) = @_;

    if (_is_bool($schema) && !$schema) {
        push @{ $cx->{errors} },
             _at("$cx->{at}/" . _escape($step)) . ": $what not allowed";
        return {};
    }
    return _check($cx->{root}, $schema, $data,
                  "$cx->{at}/" . _escape($step), $cx->{errors});
}

sub _fail {
    my ($cx, $msg) = @_;
    push @{ $cx->{errors} }, _at($cx->{at}) . ": $msg";
}

sub _kw_ref {
    my ($cx, $ref, $data) = @_;
    my $target = _resolve($cx->{root}, $ref);
    my $seen = _check($cx->{root}, $target, $data, $cx->{at}, $cx->{errors});
    $cx->{seen}{$_} = 1 for keys %$seen;
}

sub _kw_enum {
    my ($cx, $enum, $data) = @_;
    my $got = _canon($data);
    return if grep { _canon($_) eq $got } @$enum;
    _fail($cx, "$got is not one of " . join(', ', map { _canon($_) } @$enum));
}

sub _kw_const {
    my ($cx, $const, $data) = @_;
    _fail($cx, _canon($data) . ' is not ' . _canon($const))
        if _canon($data) ne _canon($const);
}

my %FORMATS = (
    'date-time' => qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?
                      (?:Z|[+-]\d\d:\d\d)$/xi,
    date        => qr/^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/,
    uuid        => qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}
                      -[0-9a-f]{12}$/xi,
    email       => qr/^[^@\s]+@[^@\s]+$/,
);

sub _kw_format {
    my ($cx, $format, $data) = @_;
    return if $cx->{type} ne 'string';
    my $re = $FORMATS{$format}
        or return _fail($cx, "unknown format '$format'");
    _fail($cx, _canon($data) . " is not a $format") if $data !~ $re;
}

sub _kw_pattern {
    my ($cx, $pattern, $data) = @_;
    return if $cx->{type} ne 'string';
    _fail($cx, _canon($data) . " does not match /$pattern/")
        if $data !~ /$pattern/;
}

sub _kw_min_length {
    my ($cx, $n, $data) = @_;
    _fail($cx, "shorter than $n characters")
        if $cx->{type} eq 'string' && length($data) < $n;
}

sub _kw_max_length {
    my ($cx, $n, $data) = @_;
    _fail($cx, "longer than $n characters")
        if $cx->{type} eq 'string' && length($data) > $n;
}

sub _kw_minimum {
    my ($cx, $n, $data) = @_;
    _fail($cx, "less than $n") if _is_number($cx) && $data < $n;
}

sub _kw_maximum {
    my ($cx, $n, $data) = @_;
    _fail($cx, "greater than $n") if _is_number($cx) && $data > $n;
}

sub _kw_required {
    my ($cx, $required, $data) = @_;
    return if $cx->{type} ne 'object';
    for my $name (@$required) {
        push @{ $cx->{errors} },
             _at("$cx->{at}/" . _escape($name)) . ': required, missing'
            if !exists $data->{$name};
    }
}

sub _kw_properties {
    my ($cx, $properties, $data) = @_;
    return if $cx->{type} ne 'object';
    for my $name (sort keys %$properties) {
        next if !exists $data->{$name};
        $cx->{seen}{$name} = 1;
        _sub($cx, $properties->{$name}, $data->{$name}, $name, 'property');
    }
}

sub _kw_additional_properties {
    my ($cx, $additional, $data, $schema) = @_;
    return if $cx->{type} ne 'object';
    my $declared = $schema->{properties} // {};
    for my $name (sort keys %$data) {
        next if exists $declared->{$name};
        $cx->{seen}{$name} = 1;
        _sub($cx, $additional, $data->{$name}, $name, 'undeclared property');
    }
}

sub _kw_min_properties {
    my ($cx, $n, $data) = @_;
    _fail($cx, "fewer than $n properties")
        if $cx->{type} eq 'object' && keys %$data < $n;
}

sub _kw_prefix_items {
    my ($cx, $prefix, $data) = @_;
    return if $cx->{type} ne 'array';
    for my $i (0 .. $#$prefix) {
        last if $i > $#$data;
        _sub($cx, $prefix->[$i], $data->[$i], $i, 'item');
    }
}

sub _kw_items {
    my ($cx, $items, $data, $schema) = @_;
    return if $cx->{type} ne 'array';
    my $first = $schema->{prefixItems} ? @{ $schema->{prefixItems} } : 0;
    for my $i ($first .. $#$data) {
        _sub($cx, $items, $data->[$i], $i, 'item');
    }
}

sub _kw_min_items {
    my ($cx, $n, $data) = @_;
    _fail($cx, "fewer than $n items")
        if $cx->{type} eq 'array' && @$data < $n;
}

sub _kw_max_items {
    my ($cx, $n, $data) = @_;
    _fail($cx, "more than $n items")
        if $cx->{type} eq 'array' && @$data > $n;
}

sub _kw_unique_items {
    my ($cx, $unique, $data) = @_;
    return if !$unique || $cx->{type} ne 'array';
    my %count;
    _fail($cx, 'items are not unique')
        if grep { $count{ _canon($_) }++ } @$data;
}

sub _kw_all_of {
    my ($cx, $schemas, $data) = @_;
    for my $s (@$schemas) {
        my $seen = _check($cx->{root}, $s, $data, $cx->{at}, $cx->{errors});
        $cx->{seen}{$_} = 1 for keys %$seen;
    }
}

# runs each alternative on its own error list: ([errors, seen], ...)
sub _alternatives {
    my ($cx, $schemas, $data) = @_;
    return map {
        my @e;
        my $seen = _check($cx->{root}, $_, $data, $cx->{at}, \@e);
        [\@e, $seen];
    } @$schemas;
}

sub _kw_any_of {
    my ($cx, $schemas, $data) = @_;
    my @alt = _alternatives($cx, $schemas, $data);
    my @ok = grep { !@{ $_->[0] } } @alt;
    return _fail($cx, 'matches none of anyOf: ' . _why(@alt)) if !@ok;
    $cx->{seen}{$_} = 1 for map { keys %{ $_->[1] } } @ok;
}

sub _kw_one_of {
    my ($cx, $schemas, $data) = @_;
    my @alt = _alternatives($cx, $schemas, $data);
    my @ok = grep { !@{ $_->[0] } } @alt;
    return _fail($cx, 'matches none of oneOf: ' . _why(@alt)) if !@ok;
    return _fail($cx, 'matches ' . @ok . ' of oneOf, must match one')
        if @ok > 1;
    $cx->{seen}{$_} = 1 for keys %{ $ok[0][1] };
}

# annotations of a "not" subschema are never collected (JSON Schema 2020-12)
sub _kw_not {
    my ($cx, $schema, $data) = @_;
    my ($alt) = _alternatives($cx, [$schema], $data);
    _fail($cx, 'matches the schema under "not"') if !@{ $alt->[0] };
}

sub _why {
    my $i = 0;
    return join '; ', map { '[' . $i++ . '] ' . join(', ', @{ $_->[0] }) } @_;
}

# ----------------------------------------------------------------- helpers

sub _deref {
    my ($root, $node) = @_;
    $node = _resolve($root, $node->{'$ref'}) while ref $node eq 'HASH'
                                                 && $node->{'$ref'};
    return $node;
}

sub _resolve {
    my ($root, $ref) = @_;
    die "LiautoSpec: only local references are supported: $ref\n"
        if $ref !~ m{^#/};
    my $node = $root;
    for my $step (split m{/}, substr($ref, 2)) {
        $step =~ s/~1/\//g;
        $step =~ s/~0/~/g;
        die "LiautoSpec: dangling reference $ref\n"
            if ref $node ne 'HASH' || !exists $node->{$step};
        $node = $node->{$step};
    }
    return $node;
}

sub _is_bool {
    my $v = shift;
    return blessed($v) && ($v->isa('JSON::PP::Boolean')
                           || $v->isa('Types::Serialiser::Boolean'));
}

# The JSON type of a decoded value; a number is a scalar with a numeric
# and no string value, as JSON::PP's own encoder decides.
sub _json_type {
    my $v = shift;

    return 'null' if !defined $v;
    return 'boolean' if _is_bool($v);
    return 'object' if ref $v eq 'HASH';
    return 'array' if ref $v eq 'ARRAY';
    return 'unknown' if ref $v;

    my $flags = B::svref_2object(\$v)->FLAGS;
    if ($flags & (B::SVp_IOK | B::SVp_NOK) && !($flags & B::SVp_POK)) {
        return $v == int($v) ? 'integer' : 'number';
    }
    return 'string';
}

sub _type_ok {
    my ($want, $got) = @_;
    return scalar grep { $_ eq $got || ($_ eq 'number' && $got eq 'integer') }
                       ref $want ? @$want : ($want);
}

sub _is_number {
    my $cx = shift;
    return $cx->{type} eq 'integer' || $cx->{type} eq 'number';
}

my $canon_json = JSON::PP->new->canonical->allow_nonref->allow_blessed
                         ->convert_blessed;

sub _canon {
    my $v = shift;
    return $canon_json->encode($v);
}

sub _escape {
    my $step = shift;
    $step =~ s/~/~0/g;
    $step =~ s/\//~1/g;
    return $step;
}

sub _at {
    my $at = shift;
    return $at eq '' ? '/' : $at;
}

1;
