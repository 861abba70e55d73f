#ifndef LIAUTO_HEARTBEAT_H
#define LIAUTO_HEARTBEAT_H

#include "config.h"
#include "db.h"
#include "loop.h"

/*
 * Heartbeats: liauto.record_heartbeat() every LIAUTO_HEARTBEAT_INTERVAL
 * seconds while connected, so the API can tell which workers are alive.
 */

typedef struct heartbeat_s  heartbeat_t;

/* Starts the repeating timer; beats are skipped while disconnected. */
heartbeat_t *heartbeat_create(loop_t *loop, db_t *db,
    const liauto_config_t *cf);

/* Writes one heartbeat now with the given state; -1 if not written. */
int heartbeat_write(heartbeat_t *hb, const char *state);

void heartbeat_destroy(heartbeat_t *hb);

#endif
