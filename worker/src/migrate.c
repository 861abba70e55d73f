#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "loop.h"
#include "migfiles.h"
#include "migrate.h"

/* An arbitrary, fixed advisory lock key: "liauto" in ASCII. */
#define MIGRATE_LOCK_KEY  "119199862453359"

/* Quietly: "already exists, skipping" on every run is noise. */
#define MIGRATE_LEDGER_SQL                                                   \
    "SET client_min_messages = warning;"                                     \
    "CREATE TABLE IF NOT EXISTS public.schema_migrations ("                  \
    " version text PRIMARY KEY,"                                             \
    " name text NOT NULL,"                                                   \
    " checksum text NOT NULL,"                                               \
    " applied_at timestamptz NOT NULL DEFAULT now());"                       \
    "RESET client_min_messages"

#define MIGRATE_RECORD_SQL                                                   \
    "INSERT INTO public.schema_migrations (version, name, checksum)"         \
    " VALUES ($1, $2, $3)"

#define MIGRATE_MESSAGE_MAX  2048


/* Runs sql and checks its status; on failure logs what was attempted. */
static int
exec_expect(PGconn *conn, const char *sql, ExecStatusType expected,
    const char *what, PGresult **result)
{
    char       line[MIGRATE_MESSAGE_MAX];
    PGresult  *res;

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != expected) {
        db_one_line(PQresultErrorMessage(res), line, sizeof(line));
        log_error("%s failed: %s", what, line);
        PQclear(res);
        return -1;
    }

    if (result != NULL) {
        *result = res;
    } else {
        PQclear(res);
    }

    return 0;
}


static int
take_lock(PGconn *conn)
{
    int        free_now;
    PGresult  *res;

    if (exec_expect(conn, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY
                    ")", PGRES_TUPLES_OK, "taking the migration lock",
                    &res) != 0)
    {
        return -1;
    }

    free_now = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);

    if (free_now) {
        return 0;
    }

    log_info("another migrator holds the migration lock; waiting for it");

    return exec_expect(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
                       PGRES_TUPLES_OK, "waiting for the migration lock",
                       NULL);
}


/*
 * Every applied migration must still have its file, under the same name
 * and with the same bytes: history that changed under a database is a
 * mistake to stop on, not to paper over.
 */
static int
verify_applied(const migration_list_t *files, PGresult *applied,
    const char *dir)
{
    int                 i, problems = 0;
    const char         *version, *name, *checksum;
    const migration_t  *m;

    for (i = 0; i < PQntuples(applied); i++) {
        version = PQgetvalue(applied, i, 0);
        name = PQgetvalue(applied, i, 1);
        checksum = PQgetvalue(applied, i, 2);

        m = migration_find(files, version);

        if (m == NULL) {
            log_error("applied migration %s is missing from %s", name, dir);
            problems++;

        } else if (strcmp(m->name, name) != 0) {
            log_error("applied migration %s was renamed to %s", name,
                      m->name);
            problems++;

        } else if (strcmp(m->checksum, checksum) != 0) {
            log_error("applied migration %s was changed after it was "
                      "applied: recorded checksum %s, file checksum %s",
                      name, checksum, m->checksum);
            problems++;
        }
    }

    if (problems > 0) {
        log_error("refusing to migrate: %d applied migration(s) differ from "
                  "their files; restore them and add a new migration "
                  "instead", problems);
        return -1;
    }

    return 0;
}


static int
is_applied(PGresult *applied, const char *version)
{
    int  i;

    for (i = 0; i < PQntuples(applied); i++) {
        if (strcmp(PQgetvalue(applied, i, 0), version) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
append_field(char *buf, size_t size, const char *label, const char *value)
{
    size_t  len = strlen(buf);

    if (value != NULL) {
        snprintf(buf + len, size - len, "%s%s", label, value);
    }
}


static void
log_migration_error(const migration_t *m, PGresult *res)
{
    char         message[MIGRATE_MESSAGE_MAX] = "", at[64] = "";
    const char  *position, *primary;

    /* The position counts characters from the start of the file. */
    position = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    if (position != NULL) {
        snprintf(at, sizeof(at), " at line %ld",
                 migration_line_at(m->sql, atol(position)));
    }

    primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (primary == NULL) {
        append_field(message, sizeof(message), "",
                     PQresultErrorMessage(res));

    } else {
        append_field(message, sizeof(message), "",
                     PQresultErrorField(res, PG_DIAG_SEVERITY));
        append_field(message, sizeof(message), ": ", primary);
        append_field(message, sizeof(message), " DETAIL: ",
                     PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
        append_field(message, sizeof(message), " HINT: ",
                     PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
        append_field(message, sizeof(message), " CONTEXT: ",
                     PQresultErrorField(res, PG_DIAG_CONTEXT));
    }

    db_one_line(message, message, sizeof(message));
    log_error("migration %s failed%s: %s; rolled back", m->name, at,
              message);
}


static int
record_migration(PGconn *conn, const migration_t *m)
{
    char         line[MIGRATE_MESSAGE_MAX];
    PGresult    *res;
    const char  *values[3];

    values[0] = m->version;
    values[1] = m->name;
    values[2] = m->checksum;

    res = PQexecParams(conn, MIGRATE_RECORD_SQL, 3, NULL, values, NULL, NULL,
                       0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_one_line(PQresultErrorMessage(res), line, sizeof(line));
        log_error("recording migration %s failed: %s; rolled back",
                  m->name, line);
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}


static int
apply_one(PGconn *conn, const migration_t *m)
{
    uint64_t   started = loop_now_ms();
    PGresult  *res;

    if (exec_expect(conn, "BEGIN", PGRES_COMMAND_OK, "BEGIN", NULL) != 0) {
        return -1;
    }

    /* PQexec runs every statement of the file in one round trip. */
    res = PQexec(conn, m->sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK
        && PQresultStatus(res) != PGRES_EMPTY_QUERY)
    {
        log_migration_error(m, res);
        PQclear(res);
        goto failed;
    }

    PQclear(res);

    if (record_migration(conn, m) != 0
        || exec_expect(conn, "COMMIT", PGRES_COMMAND_OK, "COMMIT", NULL)
           != 0)
    {
        goto failed;
    }

    log_info("applied %s in %llu ms", m->name,
             (unsigned long long) (loop_now_ms() - started));
    return 0;

failed:

    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}


static int
apply_pending(PGconn *conn, const migration_list_t *files, PGresult *applied)
{
    size_t  i, count = 0;

    for (i = 0; i < files->n; i++) {
        if (is_applied(applied, files->items[i].version)) {
            continue;
        }

        if (apply_one(conn, &files->items[i]) != 0) {
            if (count > 0) {
                log_error("%zu migration(s) applied before this failure "
                          "stay committed", count);
            }
            return -1;
        }

        count++;
    }

    if (count == 0) {
        log_info("database is up to date (%zu migration(s), latest %s)",
                 files->n, files->n > 0 ? files->items[files->n - 1].name
                                        : "none");
    } else {
        log_info("migrated: %zu applied, database now at %s", count,
                 files->items[files->n - 1].name);
    }

    return 0;
}


static int
migrate_database(PGconn *conn, const migration_list_t *files,
    const char *dir)
{
    int        rc;
    PGresult  *applied;

    if (take_lock(conn) != 0
        || exec_expect(conn, MIGRATE_LEDGER_SQL, PGRES_COMMAND_OK,
                       "creating public.schema_migrations", NULL) != 0
        || exec_expect(conn, "SELECT version, name, checksum"
                       " FROM public.schema_migrations ORDER BY version",
                       PGRES_TUPLES_OK, "reading public.schema_migrations",
                       &applied) != 0)
    {
        return -1;
    }

    rc = verify_applied(files, applied, dir);
    if (rc == 0) {
        rc = apply_pending(conn, files, applied);
    }

    PQclear(applied);
    return rc;
}


int
migrate_run(const liauto_config_t *cf)
{
    int               rc;
    char              err[MIGRATE_MESSAGE_MAX];
    PGconn           *conn;
    migration_list_t  files;

    if (migration_list_load(&files, cf->migrations_dir, err, sizeof(err))
        != 0)
    {
        log_error("%s", err);
        return 1;
    }

    log_info("found %zu migration file(s) in %s", files.n,
             cf->migrations_dir);

    conn = db_connect_blocking(cf->database_url, err, sizeof(err));
    if (conn == NULL) {
        log_error("%s", err);
        migration_list_free(&files);
        return 1;
    }

    rc = migrate_database(conn, &files, cf->migrations_dir);

    /* Closing the session releases the advisory lock. */
    PQfinish(conn);
    migration_list_free(&files);

    return rc == 0 ? 0 : 1;
}
