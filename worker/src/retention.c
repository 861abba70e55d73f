#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "retention.h"

#define PG_OID_INT4   23
#define PG_OID_JSONB  3802

#define RETENTION_START_SQL                                                 \
    "SELECT liauto.retention_start($1, $2, $3)"
#define RETENTION_BATCH_SQL                                                 \
    "SELECT liauto.retention_batch($1, $2)"

/* the next batch of a run that found a full one: right after other work */
#define RETENTION_NEXT_MS  10

struct retention_s {
    loop_t                 *loop;
    db_t                   *db;
    loop_timer_t            timer;
    uint64_t                interval_ms;
    int                     running;        /* this worker's run goes on */
    json_int_t              total;
    char                    period[16];
    char                    batch[16];
    char                    keep[256];
};


/*
 * Counts of one batch ({"emails": 3, ...}): added to the run's total;
 * 1 when one of them filled the batch (more may be left), 0 when not.
 */
static int
retention_count(retention_t *r, const char *text)
{
    int          more;
    json_t      *counts, *n;
    const char  *kind;

    counts = json_loads(text, 0, NULL);
    more = 0;

    json_object_foreach(counts, kind, n) {
        r->total += json_integer_value(n);
        more |= json_integer_value(n) >= atoll(r->batch);
    }

    json_decref(counts);
    return more;
}


static void
retention_tick(loop_timer_t *timer, void *data)
{
    int               more;
    retention_t      *r = data;
    PGresult         *res;
    const char       *values[3];
    static const Oid  types[3] = { PG_OID_INT4, PG_OID_JSONB, PG_OID_INT4 };

    (void) timer;

    if (r->running) {
        values[0] = r->keep;
        values[1] = r->batch;
        res = db_exec_params(r->db, "retention batch", RETENTION_BATCH_SQL,
                             2, types + 1, values);

    } else {
        values[0] = r->period;
        values[1] = r->keep;
        values[2] = r->batch;
        res = db_exec_params(r->db, "retention start", RETENTION_START_SQL,
                             3, types, values);
    }

    /* not connected or an SQL error (logged): the next period tries */
    if (res == NULL || PQgetisnull(res, 0, 0)) {
        if (res != NULL) {
            log_debug("retention: this period's run is another worker's");
        }
        PQclear(res);
        r->running = 0;
        loop_timer_start(r->loop, &r->timer, r->interval_ms, 0,
                         retention_tick, r);
        return;
    }

    if (!r->running) {
        r->running = 1;
        r->total = 0;
    }

    more = retention_count(r, PQgetvalue(res, 0, 0));
    log_debug("retention batch: %s", PQgetvalue(res, 0, 0));
    PQclear(res);

    if (more) {
        loop_timer_start(r->loop, &r->timer, RETENTION_NEXT_MS, 0,
                         retention_tick, r);
        return;
    }

    log_info("retention: %lld old row(s) deleted (keep days %s)",
             (long long) r->total, r->keep);
    r->running = 0;
    loop_timer_start(r->loop, &r->timer, r->interval_ms, 0, retention_tick,
                     r);
}


retention_t *
retention_create(loop_t *loop, db_t *db, const liauto_config_t *cf)
{
    retention_t  *r;

    r = calloc(1, sizeof(retention_t));
    if (r == NULL) {
        return NULL;
    }

    r->loop = loop;
    r->db = db;
    r->interval_ms = (uint64_t) cf->retention_interval * 1000;
    snprintf(r->period, sizeof(r->period), "%d", cf->retention_interval);
    snprintf(r->batch, sizeof(r->batch), "%d", cf->retention_batch);
    snprintf(r->keep, sizeof(r->keep),
             "{\"emails\": %d, \"webhook_deliveries\": %d, "
             "\"webhook_events\": %d, \"inbox_events\": %d}",
             cf->retention_email_days, cf->retention_delivery_days,
             cf->retention_webhook_event_days,
             cf->retention_inbox_event_days);

    /* the first check soon after start, then once per period */
    loop_timer_start(loop, &r->timer, 1000, 0, retention_tick, r);
    return r;
}


void
retention_destroy(retention_t *r)
{
    loop_timer_stop(&r->timer);
    free(r);
}
