#ifndef LIAUTO_RETENTION_H
#define LIAUTO_RETENTION_H

#include "config.h"
#include "db.h"
#include "loop.h"

/*
 * Retention (migration 0038): once per LIAUTO_RETENTION_INTERVAL, one
 * worker of all (engine.try_lead_job) deletes the delivery logs and raw
 * payloads older than their LIAUTO_RETENTION_*_DAYS: emails sent or
 * failed, webhook deliveries delivered or failed, processed webhook
 * events, inbox stream events, expired idempotency keys. One batch of at
 * most LIAUTO_RETENTION_BATCH rows per kind per transaction, one batch per
 * loop turn, so a large backlog neither holds long locks nor keeps the
 * worker from its other work.
 */

typedef struct retention_s  retention_t;

retention_t *retention_create(loop_t *loop, db_t *db,
    const liauto_config_t *cf);

void retention_destroy(retention_t *r);

#endif
