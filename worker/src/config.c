#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "errbuf.h"

/*
 * Keys are table-driven: adding one (UNIPILE_DSN, RESEND_API_KEY, ...) is a
 * field in liauto_config_t plus one row here.
 */

typedef enum {
    CONF_STRING,
    CONF_CONNINFO,
    CONF_SECONDS,
    CONF_MILLISECONDS,
    CONF_DAYS,
    CONF_ROWS,
    CONF_LOG_LEVEL
} conf_type_t;

typedef struct {
    const char   *name;
    conf_type_t   type;
    size_t        offset;
    const char   *default_value;   /* NULL: none, or computed later */
    unsigned      flags;
} conf_key_t;

#define CONF_REQUIRED  0x01
#define CONF_SECRET    0x02            /* never logged: may hold a password */

#define CONF_SECONDS_MAX  86400

static const conf_key_t conf_keys[] = {
    { "LIAUTO_DATABASE_URL", CONF_CONNINFO,
      offsetof(liauto_config_t, database_url), NULL,
      CONF_REQUIRED | CONF_SECRET },
    { "LIAUTO_MIGRATIONS_DIR", CONF_STRING,
      offsetof(liauto_config_t, migrations_dir), NULL, 0 },
    { "LIAUTO_WORKER_ID", CONF_STRING,
      offsetof(liauto_config_t, worker_id), NULL, 0 },
    { "LIAUTO_HEARTBEAT_INTERVAL", CONF_SECONDS,
      offsetof(liauto_config_t, heartbeat_interval), "5", 0 },
    { "LIAUTO_LOG_LEVEL", CONF_LOG_LEVEL,
      offsetof(liauto_config_t, log_level), "info", 0 },
    { "LIAUTO_RECONNECT_MAX", CONF_SECONDS,
      offsetof(liauto_config_t, reconnect_max), "30", 0 },
    { "UNIPILE_DSN", CONF_STRING,
      offsetof(liauto_config_t, unipile_dsn), NULL, 0 },
    { "UNIPILE_API_KEY", CONF_STRING,
      offsetof(liauto_config_t, unipile_api_key), NULL, CONF_SECRET },
    { "UNIPILE_TIMEOUT", CONF_SECONDS,
      offsetof(liauto_config_t, unipile_timeout), "30", 0 },
    { "LIAUTO_ENGINE_TICK_MS", CONF_MILLISECONDS,
      offsetof(liauto_config_t, engine_tick_ms), "1000", 0 },
    { "LIAUTO_LEASE_SECONDS", CONF_SECONDS,
      offsetof(liauto_config_t, lease_seconds), "120", 0 },

    /* notify.c: emails (off without a Resend key), outbound webhooks */
    { "RESEND_API_KEY", CONF_STRING,
      offsetof(liauto_config_t, resend_api_key), NULL, CONF_SECRET },
    { "RESEND_BASE_URL", CONF_STRING,
      offsetof(liauto_config_t, resend_base_url), "https://api.resend.com",
      0 },
    { "RESEND_TIMEOUT", CONF_SECONDS,
      offsetof(liauto_config_t, resend_timeout), "30", 0 },
    { "LIAUTO_NOTIFY_FROM", CONF_STRING,
      offsetof(liauto_config_t, notify_from),
      "liauto <notifications@liauto.invalid>", 0 },
    { "LIAUTO_WEBHOOK_TIMEOUT", CONF_SECONDS,
      offsetof(liauto_config_t, webhook_timeout), "15", 0 },
    /* SSRF guard exceptions: "127.0.0.0/8,::1" (tests, the simulator) */
    { "LIAUTO_WEBHOOK_ALLOW_NETS", CONF_STRING,
      offsetof(liauto_config_t, webhook_allow_nets), NULL, 0 },
    { "LIAUTO_ACCOUNT_RECHECK_SECONDS", CONF_SECONDS,
      offsetof(liauto_config_t, account_recheck_seconds), "300", 0 },
    /* the polling fallback for missed webhooks (webhooks.c) */
    { "LIAUTO_POLL_INTERVAL", CONF_SECONDS,
      offsetof(liauto_config_t, poll_interval), "300", 0 },
    { "LIAUTO_POLL_LOOKBACK", CONF_SECONDS,
      offsetof(liauto_config_t, poll_lookback), "7200", 0 },
    /* registering Unipile's webhooks (admin manage_webhooks runs) */
    { "LIAUTO_WEBHOOK_URL", CONF_STRING,
      offsetof(liauto_config_t, webhook_url), NULL, 0 },
    { "LIAUTO_WEBHOOK_SECRET", CONF_STRING,
      offsetof(liauto_config_t, webhook_secret), NULL, CONF_SECRET },
    /* retention (retention.c, 0038): how long logs are kept */
    { "LIAUTO_RETENTION_INTERVAL", CONF_SECONDS,
      offsetof(liauto_config_t, retention_interval), "3600", 0 },
    { "LIAUTO_RETENTION_BATCH", CONF_ROWS,
      offsetof(liauto_config_t, retention_batch), "5000", 0 },
    { "LIAUTO_RETENTION_EMAIL_DAYS", CONF_DAYS,
      offsetof(liauto_config_t, retention_email_days), "90", 0 },
    { "LIAUTO_RETENTION_DELIVERY_DAYS", CONF_DAYS,
      offsetof(liauto_config_t, retention_delivery_days), "90", 0 },
    { "LIAUTO_RETENTION_WEBHOOK_EVENT_DAYS", CONF_DAYS,
      offsetof(liauto_config_t, retention_webhook_event_days), "30", 0 },
    { "LIAUTO_RETENTION_INBOX_EVENT_DAYS", CONF_DAYS,
      offsetof(liauto_config_t, retention_inbox_event_days), "7", 0 },
};

#define CONF_NKEYS  (sizeof(conf_keys) / sizeof(conf_keys[0]))


static int
is_string(const conf_key_t *key)
{
    return key->type == CONF_STRING || key->type == CONF_CONNINFO;
}


static const conf_key_t *
find_key(const char *name)
{
    size_t  i;

    for (i = 0; i < CONF_NKEYS; i++) {
        if (strcmp(conf_keys[i].name, name) == 0) {
            return &conf_keys[i];
        }
    }

    return NULL;
}


/* a whole number of seconds, milliseconds, days or rows, 1..86400 */
static int
parse_whole(const char *value, int *out)
{
    long   n;
    char  *end;

    errno = 0;
    n = strtol(value, &end, 10);

    if (errno != 0 || end == value || *end != '\0'
        || n < 1 || n > CONF_SECONDS_MAX)
    {
        return -1;
    }

    *out = (int) n;
    return 0;
}


/*
 * libpq treats a value with "=" or a postgres:// prefix as a connection
 * string and anything else as a database name: only the former can be
 * malformed, and that is better said now than in every reconnect attempt.
 */
static int
check_conninfo(const char *value, const char *origin, const char *key,
    char *err, size_t errlen)
{
    char              *message = NULL;
    PQconninfoOption  *options;

    if (strchr(value, '=') == NULL
        && strncmp(value, "postgresql://", 13) != 0
        && strncmp(value, "postgres://", 11) != 0)
    {
        return 0;
    }

    options = PQconninfoParse(value, &message);
    if (options == NULL) {
        errbuf_set(err, errlen, "%s: %s: invalid connection string: %s",
                   origin, key, message != NULL ? strtok(message, "\n")
                                                : "out of memory");
        PQfreemem(message);
        return -1;
    }

    PQconninfoFree(options);
    return 0;
}


/*
 * Stores one value; "origin" (a file:line or "environment") goes into the
 * error message so the user knows where to look.
 */
static int
set_value(liauto_config_t *cf, const conf_key_t *key, const char *value,
    const char *origin, char *err, size_t errlen)
{
    char  *field = (char *) cf + key->offset;
    char  *copy;

    switch (key->type) {

    case CONF_CONNINFO:
        if (check_conninfo(value, origin, key->name, err, errlen) != 0) {
            return -1;
        }
        /* fall through */

    case CONF_STRING:
        copy = strdup(value);
        if (copy == NULL) {
            errbuf_set(err, errlen, "%s: out of memory", key->name);
            return -1;
        }
        free(*(char **) field);
        *(char **) field = copy;
        return 0;

    case CONF_SECONDS:
    case CONF_MILLISECONDS:
    case CONF_DAYS:
    case CONF_ROWS:
        if (parse_whole(value, (int *) field) != 0) {
            errbuf_set(err, errlen, "%s: %s: invalid number \"%s\" "
                       "(expected whole %s, 1..%d)",
                       origin, key->name, value,
                       key->type == CONF_SECONDS ? "seconds"
                       : key->type == CONF_MILLISECONDS ? "milliseconds"
                       : key->type == CONF_DAYS ? "days" : "rows",
                       CONF_SECONDS_MAX);
            return -1;
        }
        return 0;

    case CONF_LOG_LEVEL:
        if (log_parse_level(value, (log_level_t *) field) != 0) {
            errbuf_set(err, errlen, "%s: %s: invalid level \"%s\" "
                       "(expected error, warn, info or debug)",
                       origin, key->name, value);
            return -1;
        }
        return 0;
    }

    return -1;
}


static char *
trim(char *s)
{
    char  *end;

    while (*s == ' ' || *s == '\t') {
        s++;
    }

    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'
                       || end[-1] == '\n' || end[-1] == '\r'))
    {
        *--end = '\0';
    }

    return s;
}


static int
parse_line(liauto_config_t *cf, char *line, const char *origin,
    char *err, size_t errlen)
{
    char              *eq, *name;
    const conf_key_t  *key;

    line = trim(line);
    if (*line == '\0' || *line == '#') {
        return 0;
    }

    eq = strchr(line, '=');
    if (eq == NULL) {
        errbuf_set(err, errlen, "%s: expected KEY=VALUE, got \"%s\"",
                   origin, line);
        return -1;
    }

    *eq = '\0';
    name = trim(line);

    key = find_key(name);
    if (key == NULL) {
        errbuf_set(err, errlen, "%s: unknown key \"%s\"", origin, name);
        return -1;
    }

    return set_value(cf, key, trim(eq + 1), origin, err, errlen);
}


static int
load_file(liauto_config_t *cf, const char *path, char *err, size_t errlen)
{
    int     rc = 0;
    FILE   *f;
    char    origin[PATH_MAX + 32];
    char   *line = NULL;
    size_t  cap = 0;
    long    lineno = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        errbuf_set(err, errlen, "cannot open config file \"%s\": %s",
                   path, strerror(errno));
        return -1;
    }

    while (rc == 0 && getline(&line, &cap, f) != -1) {
        lineno++;
        snprintf(origin, sizeof(origin), "%s:%ld", path, lineno);
        rc = parse_line(cf, line, origin, err, errlen);
    }

    if (rc == 0 && ferror(f)) {
        errbuf_set(err, errlen, "cannot read config file \"%s\": %s",
                   path, strerror(errno));
        rc = -1;
    }

    free(line);
    fclose(f);
    return rc;
}


static int
load_environment(liauto_config_t *cf, char *err, size_t errlen)
{
    size_t       i;
    const char  *value;

    for (i = 0; i < CONF_NKEYS; i++) {
        value = getenv(conf_keys[i].name);
        if (value != NULL
            && set_value(cf, &conf_keys[i], value, "environment",
                         err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
load_defaults(liauto_config_t *cf, char *err, size_t errlen)
{
    size_t  i;

    for (i = 0; i < CONF_NKEYS; i++) {
        if (conf_keys[i].default_value != NULL
            && set_value(cf, &conf_keys[i], conf_keys[i].default_value,
                         "default", err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* <dir of the executable>/../sql/migrations: the repository layout. */
static char *
default_migrations_dir(void)
{
    char     exe[PATH_MAX], *slash, *dir, *real;
    ssize_t  n;
    size_t   len;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0) {
        return strdup("sql/migrations");
    }

    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash != NULL) {
        *slash = '\0';
    }

    len = strlen(exe) + sizeof("/../sql/migrations");
    dir = malloc(len);
    if (dir == NULL) {
        return NULL;
    }
    snprintf(dir, len, "%s/../sql/migrations", exe);

    /* Logs read better without "..", when the directory exists. */
    real = realpath(dir, NULL);
    if (real != NULL) {
        free(dir);
        dir = real;
    }

    return dir;
}


static char *
default_worker_id(void)
{
    char  host[256], id[300];

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "unknown");
    }

    host[sizeof(host) - 1] = '\0';
    snprintf(id, sizeof(id), "%s:%d", host, (int) getpid());

    return strdup(id);
}


static int
finish(liauto_config_t *cf, char *err, size_t errlen)
{
    size_t  i;
    char   *value;

    if (cf->migrations_dir == NULL) {
        cf->migrations_dir = default_migrations_dir();
    }

    if (cf->worker_id == NULL) {
        cf->worker_id = default_worker_id();
    }

    if (cf->migrations_dir == NULL || cf->worker_id == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < CONF_NKEYS; i++) {
        if (!(conf_keys[i].flags & CONF_REQUIRED)
            || !is_string(&conf_keys[i]))
        {
            continue;
        }

        value = *(char **) ((char *) cf + conf_keys[i].offset);
        if (value == NULL || *value == '\0') {
            errbuf_set(err, errlen, "%s is required (set it in the "
                       "environment or the config file)", conf_keys[i].name);
            return -1;
        }
    }

    return 0;
}


int
config_load(liauto_config_t *cf, const char *path, char *err, size_t errlen)
{
    memset(cf, 0, sizeof(*cf));

    if (load_defaults(cf, err, errlen) != 0
        || (path != NULL && load_file(cf, path, err, errlen) != 0)
        || load_environment(cf, err, errlen) != 0
        || finish(cf, err, errlen) != 0)
    {
        config_free(cf);
        return -1;
    }

    return 0;
}


void
config_free(liauto_config_t *cf)
{
    size_t  i;
    char  **field;

    for (i = 0; i < CONF_NKEYS; i++) {
        if (is_string(&conf_keys[i])) {
            field = (char **) ((char *) cf + conf_keys[i].offset);
            free(*field);
            *field = NULL;
        }
    }
}


void
config_log(const liauto_config_t *cf)
{
    size_t       i;
    char         number[16];
    const char  *field, *value;

    for (i = 0; i < CONF_NKEYS; i++) {
        field = (const char *) cf + conf_keys[i].offset;

        switch (conf_keys[i].type) {
        case CONF_STRING:
        case CONF_CONNINFO:
            value = *(char *const *) field;
            break;
        case CONF_SECONDS:
        case CONF_MILLISECONDS:
        case CONF_DAYS:
        case CONF_ROWS:
            snprintf(number, sizeof(number), "%d", *(const int *) field);
            value = number;
            break;
        default:
            value = log_level_name(*(const log_level_t *) field);
            break;
        }

        if ((conf_keys[i].flags & CONF_SECRET) && value != NULL) {
            value = "(set, not shown)";
        }

        log_info("config: %s=%s", conf_keys[i].name,
                 value != NULL ? value : "(unset)");
    }
}
