# The C unit tests (`make test`) as part of `prove worker/tests/`.

use strict;
use warnings;

use FindBin;
use Test::More;

my $out = `make -s -C '$FindBin::Bin/..' test 2>&1`;
is($? >> 8, 0, 'make test exits 0') or diag($out);
like($out, qr/^(\d+) passed, 0 failed$/m, 'every C unit test passed');
my ($passed) = $out =~ /^(\d+) passed/m;
cmp_ok($passed // 0, '>', 100, 'the suites actually ran');

done_testing();
