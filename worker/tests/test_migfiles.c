#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "migfiles.h"


static void
test_parse_name(void)
{
    size_t       i;
    char         version[MIGRATION_VERSION_LEN + 1];
    const char  *bad[] = {
        "1_core.sql", "00001_core.sql", "abcd_core.sql", "0001-core.sql",
        "0001_Core.sql", "0001_.sql", "0001_core.SQL", "0001_co re.sql",
        "0001_core-2.sql", "0001core.sql", "0001_core.sql.bak", ".sql"
    };

    CHECK_INT_EQ(migration_parse_name("0001_core_schema.sql", version), 0);
    CHECK_STR_EQ(version, "0001");
    CHECK_INT_EQ(migration_parse_name("0420_v2.sql", version), 0);
    CHECK_STR_EQ(version, "0420");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        HARNESS_RECORD(migration_parse_name(bad[i], version) == -1,
                       "\"%s\" must be rejected", bad[i]);
    }
}


static void
test_sorting(void)
{
    char              err[512];
    char             *names[] = {
        "0010_late.sql", "README.md", "0002_second.sql", "0001_first.sql"
    };
    migration_list_t  list;

    CHECK_INT_EQ(migration_list_from_names(&list, names, 4, err, sizeof(err)),
                 0);
    CHECK_INT_EQ(list.n, 3);
    if (list.n == 3) {
        CHECK_STR_EQ(list.items[0].name, "0001_first.sql");
        CHECK_STR_EQ(list.items[1].name, "0002_second.sql");
        CHECK_STR_EQ(list.items[2].name, "0010_late.sql");
        CHECK_STR_EQ(list.items[2].version, "0010");
    }

    CHECK(migration_find(&list, "0002") == &list.items[1]);
    CHECK(migration_find(&list, "0003") == NULL);
    migration_list_free(&list);
}


static void
test_name_errors(void)
{
    char              err[512];
    char             *duplicate[] = {
        "0001_a.sql", "0002_b.sql", "0001_c.sql"
    };
    char             *invalid[] = { "0001_a.sql", "seed.sql" };
    migration_list_t  list;

    CHECK_INT_EQ(migration_list_from_names(&list, duplicate, 3, err,
                                           sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "duplicate migration version 0001: "
                       "\"0001_a.sql\" and \"0001_c.sql\"");
    CHECK(list.items == NULL && list.n == 0);

    CHECK_INT_EQ(migration_list_from_names(&list, invalid, 2, err,
                                           sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "invalid migration file name \"seed.sql\"");
}


static void
write_file(const char *dir, const char *name, const char *text)
{
    char   path[512];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}


static void
remove_files(const char *dir, const char *const *names, size_t n)
{
    size_t  i;
    char    path[512];

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}


static void
test_load_directory(void)
{
    char               dir[] = "/tmp/liauto-migfiles-test-XXXXXX";
    char               err[512], hex[SHA256_HEX_LEN + 1];
    const char        *names[] = {
        "0002_two.sql", "0001_one.sql", "notes.txt", "0003_Bad.sql"
    };
    migration_list_t   list;

    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }

    write_file(dir, names[0], "CREATE TABLE two ();\n");
    write_file(dir, names[1], "CREATE TABLE one ();\n");
    write_file(dir, names[2], "not a migration\n");

    CHECK_INT_EQ(migration_list_load(&list, dir, err, sizeof(err)), 0);
    CHECK_INT_EQ(list.n, 2);
    if (list.n == 2) {
        CHECK_STR_EQ(list.items[0].name, "0001_one.sql");
        CHECK_STR_EQ(list.items[0].sql, "CREATE TABLE one ();\n");
        sha256_hex("CREATE TABLE one ();\n", 21, hex);
        CHECK_STR_EQ(list.items[0].checksum, hex);
        CHECK_INT_EQ(list.items[1].len, 21);
    }
    migration_list_free(&list);

    write_file(dir, names[3], "SELECT 1;\n");
    CHECK_INT_EQ(migration_list_load(&list, dir, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "\"0003_Bad.sql\"");

    remove_files(dir, names, 4);

    CHECK_INT_EQ(migration_list_load(&list, dir, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "cannot open migrations directory");
}


static void
test_line_at(void)
{
    const char  *sql = "SELECT 1;\nSELEC 2;\n\nFOO;";

    CHECK_INT_EQ(migration_line_at(sql, 1), 1);
    CHECK_INT_EQ(migration_line_at(sql, 10), 1);     /* the newline */
    CHECK_INT_EQ(migration_line_at(sql, 11), 2);     /* "SELEC" */
    CHECK_INT_EQ(migration_line_at(sql, 21), 4);     /* "FOO" */

    /* Positions count characters, not bytes. */
    CHECK_INT_EQ(migration_line_at("-- \xc3\xa9t\xc3\xa9\nBAD", 8), 2);
    CHECK_INT_EQ(migration_line_at("-- \xc3\xa9t\xc3\xa9\nBAD", 7), 1);
}


void
test_migfiles(void)
{
    test_parse_name();
    test_sorting();
    test_name_errors();
    test_load_directory();
    test_line_at();
}
