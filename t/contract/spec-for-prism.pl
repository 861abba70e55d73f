#!/usr/bin/perl
# openapi/openapi.yaml as prism reads it right: prism 5 validates with
# JSON Schema draft-07 rules and ignores 2020-12's `prefixItems`, so
# `prefixItems: [A], items: B` (A first, then B) would check every item
# against B.  Rewritten to draft-07's tuple form `items: [A],
# additionalItems: B`, which means the same.  Writes JSON to stdout.
#
# usage: spec-for-prism.pl openapi/openapi.yaml > spec.json
use strict;
use warnings;
use JSON::PP;
use YAML::XS qw(LoadFile);

sub rewrite {
    my ($node) = @_;
    if (ref $node eq 'HASH') {
        if (my $prefix = delete $node->{prefixItems}) {
            $node->{additionalItems} = delete $node->{items}
                if exists $node->{items};
            $node->{items} = $prefix;
        }
        rewrite($_) for values %$node;
    } elsif (ref $node eq 'ARRAY') {
        rewrite($_) for @$node;
    }
}

# true/false stay JSON booleans (additionalProperties: false)
$YAML::XS::Boolean = 'JSON::PP';
my $spec = LoadFile($ARGV[0] // die "usage: $0 openapi.yaml\n");
rewrite($spec);
print JSON::PP->new->utf8->canonical->encode($spec);
