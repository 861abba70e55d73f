#include "db.h"
#include "harness.h"


void
test_db_text(void)
{
    char  buf[128], small[8];

    /* libpq's two-line message with a tab-indented continuation. */
    db_one_line("server closed the connection unexpectedly\n"
                "\tThis probably means the server terminated abnormally\n",
                buf, sizeof(buf));
    CHECK_STR_EQ(buf, "server closed the connection unexpectedly This "
                      "probably means the server terminated abnormally");

    db_one_line("  FATAL:  too many\n\n", buf, sizeof(buf));
    CHECK_STR_EQ(buf, "FATAL: too many");

    db_one_line(NULL, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "");

    db_one_line("abcdefghijkl", small, sizeof(small));
    CHECK_STR_EQ(small, "abcdefg");

    /* In place, as the migrator uses it. */
    snprintf(buf, sizeof(buf), "a\nb\t\tc\n");
    db_one_line(buf, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "a b c");
}
