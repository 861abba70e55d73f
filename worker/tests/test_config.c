#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

static const char *const  keys[] = {
    "LIAUTO_DATABASE_URL", "LIAUTO_MIGRATIONS_DIR", "LIAUTO_WORKER_ID",
    "LIAUTO_HEARTBEAT_INTERVAL", "LIAUTO_LOG_LEVEL", "LIAUTO_RECONNECT_MAX",
    "UNIPILE_DSN", "UNIPILE_API_KEY", "UNIPILE_TIMEOUT"
};

static char  path[] = "/tmp/liauto-config-test-XXXXXX";


static void
clear_environment(void)
{
    size_t  i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        unsetenv(keys[i]);
    }
}


static void
write_file(const char *text)
{
    FILE  *f = fopen(path, "w");

    fputs(text, f);
    fclose(f);
}


/* Loads `text` as a config file; returns config_load()'s result. */
static int
load_text(liauto_config_t *cf, const char *text, char *err, size_t errlen)
{
    write_file(text);
    err[0] = '\0';
    return config_load(cf, path, err, errlen);
}


static void
test_file_and_defaults(void)
{
    char             err[512], pid[32];
    liauto_config_t  cf;

    CHECK_INT_EQ(load_text(&cf,
                           "# liauto worker\n"
                           "\n"
                           "  LIAUTO_DATABASE_URL = host=db dbname=liauto  \n"
                           "LIAUTO_HEARTBEAT_INTERVAL=3\r\n"
                           "   # indented comment\n"
                           "LIAUTO_LOG_LEVEL=debug\n",
                           err, sizeof(err)), 0);
    CHECK_STR_EQ(err, "");
    CHECK_STR_EQ(cf.database_url, "host=db dbname=liauto");
    CHECK_INT_EQ(cf.heartbeat_interval, 3);
    CHECK_INT_EQ(cf.log_level, LOG_LEVEL_DEBUG);

    /* Defaults for what the file leaves out. */
    CHECK_INT_EQ(cf.reconnect_max, 30);
    CHECK_STR_CONTAINS(cf.migrations_dir, "/../sql/migrations");
    snprintf(pid, sizeof(pid), ":%d", (int) getpid());
    CHECK_STR_CONTAINS(cf.worker_id, pid);
    config_free(&cf);

    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n", err,
                           sizeof(err)), 0);
    CHECK_INT_EQ(cf.heartbeat_interval, 5);
    CHECK_INT_EQ(cf.log_level, LOG_LEVEL_INFO);
    /* Unipile is optional (migrate needs none); its timeout has a default. */
    CHECK(cf.unipile_dsn == NULL && cf.unipile_api_key == NULL);
    CHECK_INT_EQ(cf.unipile_timeout, 30);
    config_free(&cf);

    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n"
                           "UNIPILE_DSN=api1.unipile.com:13111\n"
                           "UNIPILE_API_KEY=k3y\n"
                           "UNIPILE_TIMEOUT=12\n", err, sizeof(err)), 0);
    CHECK_STR_EQ(cf.unipile_dsn, "api1.unipile.com:13111");
    CHECK_STR_EQ(cf.unipile_api_key, "k3y");
    CHECK_INT_EQ(cf.unipile_timeout, 12);
    config_free(&cf);

    /* Resend: off without a key, Resend's own URL by default */
    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n", err,
                           sizeof(err)), 0);
    CHECK(cf.resend_api_key == NULL);
    CHECK_STR_EQ(cf.resend_base_url, "https://api.resend.com");
    CHECK_INT_EQ(cf.resend_timeout, 30);
    CHECK_STR_CONTAINS(cf.notify_from, "<notifications@");
    config_free(&cf);

    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n"
                           "RESEND_API_KEY=re_123\n"
                           "RESEND_BASE_URL=http://127.0.0.1:8091\n"
                           "LIAUTO_NOTIFY_FROM=Ops <ops@agency.test>\n",
                           err, sizeof(err)), 0);
    CHECK_STR_EQ(cf.resend_api_key, "re_123");
    CHECK_STR_EQ(cf.resend_base_url, "http://127.0.0.1:8091");
    CHECK_STR_EQ(cf.notify_from, "Ops <ops@agency.test>");
    config_free(&cf);

    /* the engine's tick and lease: defaults, then set */
    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n", err,
                           sizeof(err)), 0);
    CHECK_INT_EQ(cf.engine_tick_ms, 1000);
    CHECK_INT_EQ(cf.lease_seconds, 120);
    config_free(&cf);

    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n"
                           "LIAUTO_ENGINE_TICK_MS=100\n"
                           "LIAUTO_LEASE_SECONDS=30\n", err, sizeof(err)),
                 0);
    CHECK_INT_EQ(cf.engine_tick_ms, 100);
    CHECK_INT_EQ(cf.lease_seconds, 30);
    config_free(&cf);

    CHECK_INT_EQ(load_text(&cf, "LIAUTO_DATABASE_URL=liauto\n"
                           "LIAUTO_ENGINE_TICK_MS=0\n", err, sizeof(err)),
                 -1);
    CHECK_STR_CONTAINS(err, "LIAUTO_ENGINE_TICK_MS: invalid number \"0\" "
                       "(expected whole milliseconds");
}


static void
test_environment_overrides(void)
{
    char             err[512];
    liauto_config_t  cf;

    setenv("LIAUTO_DATABASE_URL", "postgresql://env@localhost/liauto", 1);
    setenv("LIAUTO_HEARTBEAT_INTERVAL", "7", 1);
    setenv("LIAUTO_WORKER_ID", "worker-a", 1);

    CHECK_INT_EQ(load_text(&cf,
                           "LIAUTO_DATABASE_URL=dbname=file\n"
                           "LIAUTO_HEARTBEAT_INTERVAL=3\n"
                           "LIAUTO_RECONNECT_MAX=9\n"
                           "LIAUTO_MIGRATIONS_DIR=/srv/migrations\n",
                           err, sizeof(err)), 0);
    CHECK_STR_EQ(cf.database_url, "postgresql://env@localhost/liauto");
    CHECK_INT_EQ(cf.heartbeat_interval, 7);
    CHECK_STR_EQ(cf.worker_id, "worker-a");
    CHECK_INT_EQ(cf.reconnect_max, 9);
    CHECK_STR_EQ(cf.migrations_dir, "/srv/migrations");
    config_free(&cf);

    /* No file at all: the environment alone is enough. */
    CHECK_INT_EQ(config_load(&cf, NULL, err, sizeof(err)), 0);
    CHECK_STR_EQ(cf.worker_id, "worker-a");
    config_free(&cf);

    /* A bad number in the environment names the key and its origin. */
    setenv("LIAUTO_RECONNECT_MAX", "soon", 1);
    CHECK_INT_EQ(config_load(&cf, NULL, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "environment: LIAUTO_RECONNECT_MAX: invalid "
                       "number \"soon\"");

    clear_environment();
}


static void
check_file_error(const char *text, const char *expected)
{
    char             err[512], full[600];
    liauto_config_t  cf;

    CHECK_INT_EQ(load_text(&cf, text, err, sizeof(err)), -1);
    snprintf(full, sizeof(full), "%s%s", path, expected);
    CHECK_STR_CONTAINS(err, full);
}


static void
test_file_errors(void)
{
    check_file_error("LIAUTO_DATABASE_URL=x\n# ok\nLIAUTO_NOPE=1\n",
                     ":3: unknown key \"LIAUTO_NOPE\"");
    check_file_error("LIAUTO_DATABASE_URL=x\njust words\n",
                     ":2: expected KEY=VALUE, got \"just words\"");
    check_file_error("LIAUTO_DATABASE_URL=x\nLIAUTO_HEARTBEAT_INTERVAL=abc\n",
                     ":2: LIAUTO_HEARTBEAT_INTERVAL: invalid number \"abc\"");
    check_file_error("LIAUTO_HEARTBEAT_INTERVAL=5s\n",
                     ":1: LIAUTO_HEARTBEAT_INTERVAL: invalid number \"5s\"");
    check_file_error("LIAUTO_RECONNECT_MAX=0\n",
                     ":1: LIAUTO_RECONNECT_MAX: invalid number \"0\"");
    check_file_error("LIAUTO_RECONNECT_MAX=-3\n",
                     ":1: LIAUTO_RECONNECT_MAX: invalid number \"-3\"");
    check_file_error("LIAUTO_RECONNECT_MAX=99999999999999999999\n",
                     ":1: LIAUTO_RECONNECT_MAX: invalid number");
    check_file_error("LIAUTO_HEARTBEAT_INTERVAL=\n",
                     ":1: LIAUTO_HEARTBEAT_INTERVAL: invalid number \"\"");
    check_file_error("LIAUTO_LOG_LEVEL=verbose\n",
                     ":1: LIAUTO_LOG_LEVEL: invalid level \"verbose\"");
    check_file_error("LIAUTO_DATABASE_URL=host=db nonsense=1\n",
                     ":1: LIAUTO_DATABASE_URL: invalid connection string");
}


static void
test_required_and_missing(void)
{
    char             err[512];
    liauto_config_t  cf;

    CHECK_INT_EQ(load_text(&cf, "LIAUTO_LOG_LEVEL=warn\n", err, sizeof(err)),
                 -1);
    CHECK_STR_CONTAINS(err, "LIAUTO_DATABASE_URL is required");

    CHECK_INT_EQ(config_load(&cf, "/nonexistent/liauto.conf", err,
                             sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "cannot open config file "
                       "\"/nonexistent/liauto.conf\"");
}


void
test_config(void)
{
    int  fd;

    clear_environment();

    fd = mkstemp(path);
    if (fd < 0) {
        CHECK(fd >= 0);
        return;
    }
    close(fd);

    test_file_and_defaults();
    test_environment_overrides();
    test_file_errors();
    test_required_and_missing();

    unlink(path);
}
