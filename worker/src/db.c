#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "db.h"
#include "errbuf.h"
#include "log.h"

#define DB_CONNECT_TIMEOUT_MS   10000
#define DB_CONNECT_TIMEOUT_S    "10"
#define DB_BACKOFF_BASE_MS      500
#define DB_MESSAGE_MAX          1024

typedef enum {
    DB_WAITING,          /* for the retry timer */
    DB_CONNECTING,
    DB_READY
} db_state_t;

struct db_s {
    loop_t         *loop;
    db_options_t    options;
    db_state_t      state;
    PGconn         *conn;
    loop_io_t       io;
    loop_timer_t    timer;        /* connect timeout or retry delay */
    loop_timer_t    drain;        /* notifications read during a query */
    unsigned        attempt;      /* failed attempts since the last success */
};

static void db_connect(db_t *db);
static void db_schedule_drain(db_t *db);
static void db_socket_event(loop_io_t *io, int fd, unsigned events,
    void *data);


/*
 * Our defaults come before "dbname" (the user's conninfo, expanded), so
 * anything the user sets there wins. connect_timeout only bounds blocking
 * connects; the loop's timer bounds asynchronous ones. Keepalives let a
 * silently dropped connection be noticed in about a minute, not hours.
 */
typedef struct {
    const char  *keyword;
    const char  *value;
} db_param_t;

static const db_param_t  db_defaults[] = {
    { "connect_timeout", DB_CONNECT_TIMEOUT_S },
    { "fallback_application_name", "liauto-worker" },
    { "client_encoding", "UTF8" },
    { "keepalives_idle", "30" },
    { "keepalives_interval", "10" },
    { "keepalives_count", "3" },
};

#define DB_NDEFAULTS  (sizeof(db_defaults) / sizeof(db_defaults[0]))

typedef struct {
    const char  *keywords[DB_NDEFAULTS + 2];
    const char  *values[DB_NDEFAULTS + 2];
} db_params_t;


static void
db_params(db_params_t *p, const char *conninfo)
{
    size_t  i;

    for (i = 0; i < DB_NDEFAULTS; i++) {
        p->keywords[i] = db_defaults[i].keyword;
        p->values[i] = db_defaults[i].value;
    }

    p->keywords[i] = "dbname";
    p->values[i] = conninfo;
    p->keywords[i + 1] = NULL;
    p->values[i + 1] = NULL;
}


void
db_one_line(const char *message, char *buf, size_t len)
{
    char        *out = buf, *end = buf + len - 1;
    const char  *in;

    /* libpq's messages span lines with tab-indented continuations. */
    for (in = message != NULL ? message : ""; *in != '\0' && out < end; in++)
    {
        if (*in == '\n' || *in == '\t' || *in == ' ') {
            if (out > buf && out[-1] != ' ') {
                *out++ = ' ';
            }
            continue;
        }
        *out++ = *in;
    }

    while (out > buf && out[-1] == ' ') {
        out--;
    }
    *out = '\0';
}


/* Server notices and warnings go to our log, not libpq's bare stderr. */
static void
db_log_notice(void *arg, const PGresult *res)
{
    char         line[DB_MESSAGE_MAX];
    const char  *severity;

    (void) arg;

    severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    db_one_line(PQresultErrorMessage(res), line, sizeof(line));

    if (severity != NULL
        && (strcmp(severity, "NOTICE") == 0 || strcmp(severity, "INFO") == 0
            || strcmp(severity, "LOG") == 0 || strncmp(severity, "DEBUG", 5)
               == 0))
    {
        log_info("server: %s", line);

    } else {
        log_warn("server: %s", line);
    }
}


PGconn *
db_connect_blocking(const char *conninfo, char *err, size_t errlen)
{
    char          line[DB_MESSAGE_MAX];
    PGconn       *conn;
    db_params_t   params;

    db_params(&params, conninfo);
    conn = PQconnectdbParams(params.keywords, params.values, 1);

    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        db_one_line(conn != NULL ? PQerrorMessage(conn) : "out of memory",
                    line, sizeof(line));
        errbuf_set(err, errlen, "cannot connect to the database: %s", line);
        PQfinish(conn);
        return NULL;
    }

    PQsetNoticeReceiver(conn, db_log_notice, NULL);
    return conn;
}


db_t *
db_create(loop_t *loop, const db_options_t *options)
{
    db_t  *db;

    db = calloc(1, sizeof(db_t));
    if (db == NULL) {
        return NULL;
    }

    db->loop = loop;
    db->options = *options;
    db->state = DB_WAITING;
    return db;
}


static void
db_close(db_t *db)
{
    loop_io_stop(&db->io);
    loop_timer_stop(&db->timer);
    loop_timer_stop(&db->drain);
    PQfinish(db->conn);
    db->conn = NULL;
    db->state = DB_WAITING;
}


void
db_destroy(db_t *db)
{
    db_close(db);
    free(db);
}


static void
db_retry_timer(loop_timer_t *timer, void *data)
{
    (void) timer;
    db_connect(data);
}


static void
db_retry_later(db_t *db, const char *reason)
{
    uint64_t  delay;

    db_close(db);

    delay = backoff_delay_ms(db->attempt, DB_BACKOFF_BASE_MS,
                             db->options.reconnect_max_ms, backoff_random());
    db->attempt++;

    log_warn("cannot connect to the database (attempt %u): %s; "
             "retrying in %llu ms", db->attempt, reason,
             (unsigned long long) delay);

    loop_timer_start(db->loop, &db->timer, delay, 0, db_retry_timer, db);
}


static void
db_connect_failed(db_t *db)
{
    char  line[DB_MESSAGE_MAX];

    db_one_line(db->conn != NULL ? PQerrorMessage(db->conn)
                                 : "out of memory",
                line, sizeof(line));
    db_retry_later(db, line);
}


static void
db_watch(db_t *db, unsigned interest)
{
    int  fd = PQsocket(db->conn);

    /* libpq may open a new socket while connecting (next host, SSL or
     * GSS fallback), so the descriptor is checked every time. */
    if (db->io.loop != NULL && db->io.fd == fd) {
        loop_io_set(&db->io, interest);
        return;
    }

    loop_io_start(db->loop, &db->io, fd, interest, db_socket_event, db);
}


static void
db_connect_timed_out(loop_timer_t *timer, void *data)
{
    (void) timer;
    db_retry_later(data, "timed out after " DB_CONNECT_TIMEOUT_S " s");
}


static void
db_connect(db_t *db)
{
    db_params_t  params;

    db_params(&params, db->options.conninfo);
    db->conn = PQconnectStartParams(params.keywords, params.values, 1);

    if (db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD) {
        db_connect_failed(db);
        return;
    }

    db->state = DB_CONNECTING;
    loop_timer_start(db->loop, &db->timer, DB_CONNECT_TIMEOUT_MS, 0,
                     db_connect_timed_out, db);

    /* libpq: before the first PQconnectPoll() wait as if it had returned
     * PGRES_POLLING_WRITING. */
    db_watch(db, LOOP_WRITE);
}


void
db_start(db_t *db)
{
    db_connect(db);
}


static int
db_listen(db_t *db)
{
    int        rc;
    char      *channel, sql[256];
    PGresult  *res;

    channel = PQescapeIdentifier(db->conn, db->options.listen_channel,
                                 strlen(db->options.listen_channel));
    if (channel == NULL) {
        return -1;
    }

    snprintf(sql, sizeof(sql), "LISTEN %s", channel);
    PQfreemem(channel);

    res = PQexec(db->conn, sql);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(res);

    return rc;
}


static void
db_connected(db_t *db)
{
    loop_timer_stop(&db->timer);
    PQsetNoticeReceiver(db->conn, db_log_notice, NULL);

    if (db_listen(db) != 0) {
        db_connect_failed(db);
        return;
    }

    db->state = DB_READY;
    db->attempt = 0;
    db_watch(db, LOOP_READ);
    db_schedule_drain(db);

    log_info("connected to the database (server %d, backend pid %d), "
             "listening on \"%s\"", PQserverVersion(db->conn),
             PQbackendPID(db->conn), db->options.listen_channel);

    if (db->options.on_connected != NULL) {
        db->options.on_connected(db, db->options.data);
    }
}


static void
db_connection_lost(db_t *db, const char *reason)
{
    log_error("database connection lost: %s; reconnecting", reason);

    db_close(db);

    /* Reconnect from the loop, not from inside the caller's stack. */
    loop_timer_start(db->loop, &db->timer, 0, 0, db_retry_timer, db);
}


/* Returns 1 (after scheduling a reconnect) if the connection broke. */
static int
db_check_lost(db_t *db, const char *what)
{
    char  line[DB_MESSAGE_MAX], reason[DB_MESSAGE_MAX + 128];

    if (PQstatus(db->conn) != CONNECTION_BAD) {
        return 0;
    }

    db_one_line(PQerrorMessage(db->conn), line, sizeof(line));
    snprintf(reason, sizeof(reason), "%s: %s", what, line);
    db_connection_lost(db, reason);
    return 1;
}


static void
db_read_notifications(db_t *db)
{
    char       line[DB_MESSAGE_MAX];
    PGnotify  *n;

    /* Whatever made reading fail, the socket stays readable: treat it as
     * lost rather than spin. */
    if (PQconsumeInput(db->conn) == 0) {
        db_one_line(PQerrorMessage(db->conn), line, sizeof(line));
        db_connection_lost(db, line);
        return;
    }

    /* A callback may lose the connection; check before every read. */
    while (db->state == DB_READY && (n = PQnotifies(db->conn)) != NULL) {
        if (db->options.on_notify != NULL) {
            db->options.on_notify(n->relname, n->extra, n->be_pid,
                                  db->options.data);
        }
        PQfreemem(n);
    }
}


static void
db_drain_timer(loop_timer_t *timer, void *data)
{
    db_t  *db = data;

    (void) timer;

    if (db->state == DB_READY) {
        db_read_notifications(db);
    }
}


/*
 * A blocking query reads whatever the server sent meanwhile, NOTIFYs
 * included, so the socket will not wake us for them: deliver them from
 * the loop right after, outside the caller's stack.
 */
static void
db_schedule_drain(db_t *db)
{
    if (!loop_timer_active(&db->drain)) {
        loop_timer_start(db->loop, &db->drain, 0, 0, db_drain_timer, db);
    }
}


PGresult *
db_exec_params(db_t *db, const char *what, const char *sql, int nparams,
    const Oid *types, const char *const *values)
{
    char       line[DB_MESSAGE_MAX];
    PGresult  *res;

    if (db->state != DB_READY) {
        log_debug("%s skipped: not connected to the database", what);
        return NULL;
    }

    res = PQexecParams(db->conn, sql, nparams, types, values, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK
        || PQresultStatus(res) == PGRES_COMMAND_OK)
    {
        db_schedule_drain(db);
        return res;
    }

    if (!db_check_lost(db, what)) {
        db_one_line(PQresultErrorMessage(res), line, sizeof(line));
        log_error("%s failed: %s", what, line);
        db_schedule_drain(db);
    }

    PQclear(res);
    return NULL;
}


static void
db_socket_event(loop_io_t *io, int fd, unsigned events, void *data)
{
    db_t  *db = data;

    (void) io;
    (void) fd;
    (void) events;

    if (db->state == DB_READY) {
        db_read_notifications(db);
        return;
    }

    switch (PQconnectPoll(db->conn)) {

    case PGRES_POLLING_READING:
        db_watch(db, LOOP_READ);
        break;

    case PGRES_POLLING_WRITING:
        db_watch(db, LOOP_WRITE);
        break;

    case PGRES_POLLING_OK:
        db_connected(db);
        break;

    default:
        db_connect_failed(db);
        break;
    }
}
