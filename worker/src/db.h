#ifndef LIAUTO_DB_H
#define LIAUTO_DB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "loop.h"

/*
 * The worker's database connection: connected asynchronously on the event
 * loop (PQconnectStartParams/PQconnectPoll, bounded by a timeout), LISTENing
 * on one channel, watched with poll() for notifications and for loss, and
 * reconnected with exponential backoff and jitter whenever it breaks.
 */

typedef struct db_s  db_t;

/* Called once the connection is up and LISTENing (after every reconnect). */
typedef void (*db_connected_pt)(db_t *db, void *data);

/* Called for every NOTIFY received on the channel. */
typedef void (*db_notify_pt)(const char *channel, const char *payload,
    int sender_pid, void *data);

typedef struct {
    const char       *conninfo;          /* libpq conninfo or URI */
    const char       *listen_channel;
    unsigned          reconnect_max_ms;
    db_connected_pt   on_connected;
    db_notify_pt      on_notify;
    void             *data;
} db_options_t;

db_t *db_create(loop_t *loop, const db_options_t *options);

/* Starts the first connection attempt; retries until db_destroy(). */
void db_start(db_t *db);

/*
 * Runs one parameterized query if connected. Returns the result (the
 * caller PQclear()s it) or NULL after logging why: not connected, an SQL
 * error, or a lost connection (then a reconnect is already under way).
 */
PGresult *db_exec_params(db_t *db, const char *what, const char *sql,
    int nparams, const Oid *types, const char *const *values);

void db_destroy(db_t *db);

/* A blocking connection with a timeout, for one-shot commands. */
PGconn *db_connect_blocking(const char *conninfo, char *err, size_t errlen);

/* A libpq message on one line, without the trailing newline. */
void db_one_line(const char *message, char *buf, size_t len);

#endif
