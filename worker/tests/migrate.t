# `liauto-worker migrate` against a real PostgreSQL (run under pg_virtualenv:
# `cd /work/main && pg_virtualenv -v 15 prove worker/tests/`).

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use Test::More;

build_worker();

my $ledger_sql = "SELECT version || ' ' || name || ' ' || checksum || ' '"
               . " || applied_at FROM public.schema_migrations ORDER BY 1";

sub migrate {
    my ($db, $dir) = @_;
    my %env = (LIAUTO_DATABASE_URL => "dbname=$db");
    $env{LIAUTO_MIGRATIONS_DIR} = $dir if defined $dir;
    return run_worker(\%env, 'migrate');
}

sub table_exists {
    my ($db, $table) = @_;
    return psql($db, "SELECT to_regclass('$table') IS NOT NULL") eq 't';
}

my %files = (
    '0001_first.sql'  => "CREATE TABLE t_one (id int PRIMARY KEY);\n",
    '0002_second.sql' => "CREATE TABLE t_two (id int);\n"
                       . "INSERT INTO t_two VALUES (1), (2);\n",
);

subtest 'applies migrations in order, each recorded with its checksum' => sub {
    my $dir = tempdir(CLEANUP => 1);
    write_file("$dir/$_", $files{$_}) for keys %files;
    write_file("$dir/README.md", "not a migration\n");
    my $db = scratch_db('apply');

    my ($rc, $out) = migrate($db, $dir);
    is($rc, 0, 'exit 0') or diag($out);
    like($out, qr/applied 0001_first\.sql in \d+ ms.*\n.*applied 0002_second\.sql in \d+ ms/,
         'one line per applied migration, in version order, with its time');
    ok(table_exists($db, 't_one') && table_exists($db, 't_two'),
       'both migrations ran');
    is(psql($db, 'SELECT count(*) FROM t_two'), 2, 'data statements ran');
    is(psql($db, "SELECT string_agg(version || ':' || name || ':' || checksum,"
                 . " ',' ORDER BY version) FROM public.schema_migrations"),
       join(',', map { substr($_, 0, 4) . ":$_:" . sha256_hex($files{$_}) }
                 sort keys %files),
       'ledger: version, file name and SHA-256 of the file bytes');

    my $before = psql($db, $ledger_sql);
    ($rc, $out) = migrate($db, $dir);
    is($rc, 0, 'second run exits 0') or diag($out);
    like($out, qr/up to date/, 'second run says "up to date"');
    unlike($out, qr/applied 0/, 'second run applies nothing');
    is(psql($db, $ledger_sql), $before, 'ledger unchanged');
};

subtest 'an edited applied migration is refused, nothing else applied' => sub {
    my $dir = tempdir(CLEANUP => 1);
    write_file("$dir/$_", $files{$_}) for keys %files;
    my $db = scratch_db('edited');
    my ($rc, $out) = migrate($db, $dir);
    is($rc, 0, 'initial migration') or diag($out);
    my $before = psql($db, $ledger_sql);

    my $edited = $files{'0001_first.sql'} . "-- a later edit\n";
    write_file("$dir/0001_first.sql", $edited);
    write_file("$dir/0003_third.sql", "CREATE TABLE t_three (id int);\n");

    ($rc, $out) = migrate($db, $dir);
    is($rc, 1, 'exit 1');
    like($out, qr/0001_first\.sql was changed/, 'names the edited file');
    like($out, qr/recorded checksum \Q${\ sha256_hex($files{'0001_first.sql'})}\E/,
         'shows the recorded checksum');
    like($out, qr/file checksum \Q${\ sha256_hex($edited)}\E/,
         'shows the file checksum');
    ok(!table_exists($db, 't_three'), 'the pending migration was not applied');
    is(psql($db, $ledger_sql), $before, 'ledger unchanged');

    write_file("$dir/0001_first.sql", $files{'0001_first.sql'});
    unlink("$dir/0002_second.sql");
    ($rc, $out) = migrate($db, $dir);
    is($rc, 1, 'a removed applied migration: exit 1');
    like($out, qr/applied migration 0002_second\.sql is missing/,
         'names the missing file');
    ok(!table_exists($db, 't_three'), 'still nothing applied');
};

subtest 'a failing migration rolls back and stops' => sub {
    my $dir = tempdir(CLEANUP => 1);
    write_file("$dir/0001_first.sql", $files{'0001_first.sql'});
    write_file("$dir/0002_broken.sql",
               "CREATE TABLE t_half (id int);\n"
               . "-- the next statement fails\n"
               . "INSERT INTO no_such_table VALUES (1);\n");
    write_file("$dir/0003_after.sql", "CREATE TABLE t_after (id int);\n");
    my $db = scratch_db('broken');

    my ($rc, $out) = migrate($db, $dir);
    is($rc, 1, 'exit 1');
    like($out, qr/migration\ 0002_broken\.sql\ failed\ at\ line\ 3:
                  \ ERROR:\ relation\ "no_such_table"\ does\ not\ exist/x,
         'names the file, the line and the server error');
    ok(table_exists($db, 't_one'), 'the migration before it stays applied');
    ok(!table_exists($db, 't_half'), "the failed migration's tables are absent");
    ok(!table_exists($db, 't_after'), 'later migrations are not attempted');
    is(psql($db, 'SELECT string_agg(version, \',\') FROM public.schema_migrations'),
       '0001', 'only the good migration is in the ledger');
};

subtest 'a runtime error is reported with the server detail' => sub {
    my $dir = tempdir(CLEANUP => 1);
    write_file("$dir/0001_first.sql", $files{'0001_first.sql'});
    write_file("$dir/0002_dupes.sql", "INSERT INTO t_one VALUES (1), (1);\n");
    my $db = scratch_db('detail');

    my ($rc, $out) = migrate($db, $dir);
    is($rc, 1, 'exit 1');
    like($out, qr/migration\ 0002_dupes\.sql\ failed:\ ERROR:\ duplicate
                  \ key\ value\ .*\ DETAIL:\ Key\ \(id\)=\(1\)\ already
                  \ exists\./x,
         'message and DETAIL, no line when the server gives no position');
    is(psql($db, 'SELECT count(*) FROM t_one'), 0, 'rolled back');
};

subtest 'bad file names and duplicate versions are refused' => sub {
    for my $case (['002_short.sql', qr/invalid migration file name "002_short\.sql"/],
                  ['0001_Upper.sql', qr/invalid migration file name "0001_Upper\.sql"/],
                  ['0001_again.sql', qr/duplicate migration version 0001/]) {
        my ($name, $expected) = @$case;
        my $dir = tempdir(CLEANUP => 1);
        write_file("$dir/0001_first.sql", $files{'0001_first.sql'});
        write_file("$dir/$name", "SELECT 1;\n");
        my $db = scratch_db('badname');

        my ($rc, $out) = migrate($db, $dir);
        is($rc, 1, "$name: exit 1");
        like($out, $expected, "$name: says why");
        ok(!table_exists($db, 'public.schema_migrations')
           && !table_exists($db, 't_one'), "$name: nothing touched");
    }
};

subtest 'two migrators at once: the advisory lock serializes them' => sub {
    my $dir = tempdir(CLEANUP => 1);
    write_file("$dir/0001_slow.sql",
               "SELECT pg_sleep(1);\nCREATE TABLE t_slow (id int);\n");
    my $db = scratch_db('race');

    my @outs = map { tempdir(CLEANUP => 1) . '/out' } 1 .. 2;
    my @pids = map {
        start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                       LIAUTO_MIGRATIONS_DIR => $dir }, $_, 'migrate')
    } @outs;
    my @status = map { waitpid($_, 0); $? >> 8 } @pids;

    is_deeply(\@status, [0, 0], 'both exit 0')
        or diag(slurp($outs[0]), slurp($outs[1]));
    my $all = slurp($outs[0]) . slurp($outs[1]);
    is(() = $all =~ /applied 0001_slow\.sql/g, 1, 'applied exactly once');
    like($all, qr/up to date/, 'the other one found it done');
    is(psql($db, 'SELECT count(*) FROM public.schema_migrations'), 1,
       'one ledger row');
};

subtest "the project's sql/migrations apply cleanly, twice" => sub {
    my @real = glob(repo_dir() . '/sql/migrations/*.sql');
    my $db = scratch_db('real');

    # No LIAUTO_MIGRATIONS_DIR: the default resolves next to the binary.
    my ($rc, $out) = migrate($db);
    is($rc, 0, 'first run exits 0') or diag($out);
    is(psql($db, 'SELECT count(*) FROM public.schema_migrations'),
       scalar(@real), 'every file in sql/migrations is recorded');

    ($rc, $out) = migrate($db);
    is($rc, 0, 'second run exits 0') or diag($out);
    like($out, qr/up to date/, 'second run is a no-op');
};

done_testing();
