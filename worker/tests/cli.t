# The command line: usage errors exit 2, configuration errors exit 1 and
# say where. No database needed.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use Test::More;

build_worker();

my ($rc, $out);

($rc, $out) = run_worker({}, '--help');
is($rc, 0, '--help exits 0');
like($out, qr/usage: liauto-worker \[-c FILE\] COMMAND.*migrate.*run.*version/s,
     '--help shows the commands');

($rc, $out) = run_worker({}, 'version');
is($rc, 0, 'version exits 0');
like($out, qr/^liauto-worker \d+\.\d+\.\d+$/m, 'version prints it');

for my $case ([[], qr/missing COMMAND/],
              [['launch'], qr/unknown command "launch"/],
              [['--bogus', 'run'], qr/unknown option "--bogus"/],
              [['run', 'now'], qr/unexpected argument "now"/],
              [['run', '-c'], qr/option -c needs a FILE/]) {
    my ($args, $expected) = @$case;
    ($rc, $out) = run_worker({}, @$args);
    is($rc, 2, "'@$args': usage error exits 2");
    like($out, $expected, "'@$args': says what is wrong");
}

my $dir = tempdir(CLEANUP => 1);
write_file("$dir/bad.conf", "LIAUTO_DATABASE_URL=dbname=x\n"
                            . "# fine\nLIAUTO_DATABSE_URL=typo\n");
($rc, $out) = run_worker({}, '-c', "$dir/bad.conf", 'migrate');
is($rc, 1, 'unknown key in the config file exits 1');
like($out, qr/\Q$dir\E\/bad\.conf:3: unknown key "LIAUTO_DATABSE_URL"/,
     '... naming the file, line and key');

write_file("$dir/good.conf", "LIAUTO_DATABASE_URL=dbname=x\n"
                             . "LIAUTO_HEARTBEAT_INTERVAL=3\n");
($rc, $out) = run_worker({ LIAUTO_HEARTBEAT_INTERVAL => 'often' },
                         '--config', "$dir/good.conf", 'run');
is($rc, 1, 'an invalid number in the environment exits 1');
like($out, qr/environment: LIAUTO_HEARTBEAT_INTERVAL: invalid number "often"/,
     '... naming the key');

($rc, $out) = run_worker({}, 'run');
is($rc, 1, 'no database URL exits 1');
like($out, qr/LIAUTO_DATABASE_URL is required/, '... and says so');

done_testing();
