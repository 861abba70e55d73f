#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "heartbeat.h"
#include "log.h"
#include "version.h"

/* Fixed type OIDs from PostgreSQL's pg_type catalog. */
#define PG_OID_TEXT  25
#define PG_OID_INT4  23

#define HEARTBEAT_SQL \
    "SELECT liauto.record_heartbeat($1, $2, $3, $4, $5)"

struct heartbeat_s {
    db_t                   *db;
    const liauto_config_t  *cf;
    loop_timer_t            timer;
    char                    hostname[256];
    char                    pid[16];
};


static void
heartbeat_tick(loop_timer_t *timer, void *data)
{
    (void) timer;
    heartbeat_write(data, "running");
}


heartbeat_t *
heartbeat_create(loop_t *loop, db_t *db, const liauto_config_t *cf)
{
    heartbeat_t  *hb;
    uint64_t      interval_ms;

    hb = calloc(1, sizeof(heartbeat_t));
    if (hb == NULL) {
        return NULL;
    }

    hb->db = db;
    hb->cf = cf;

    if (gethostname(hb->hostname, sizeof(hb->hostname)) != 0) {
        snprintf(hb->hostname, sizeof(hb->hostname), "unknown");
    }
    hb->hostname[sizeof(hb->hostname) - 1] = '\0';
    snprintf(hb->pid, sizeof(hb->pid), "%d", (int) getpid());

    interval_ms = (uint64_t) cf->heartbeat_interval * 1000;
    loop_timer_start(loop, &hb->timer, interval_ms, interval_ms,
                     heartbeat_tick, hb);
    return hb;
}


int
heartbeat_write(heartbeat_t *hb, const char *state)
{
    PGresult          *res;
    const char        *values[5];
    static const Oid   types[5] = {
        PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4, PG_OID_TEXT, PG_OID_TEXT
    };

    values[0] = hb->cf->worker_id;
    values[1] = hb->hostname;
    values[2] = hb->pid;
    values[3] = LIAUTO_WORKER_VERSION;
    values[4] = state;

    res = db_exec_params(hb->db, "heartbeat", HEARTBEAT_SQL, 5, types,
                         values);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);
    log_debug("heartbeat written (worker %s, state %s)", hb->cf->worker_id,
              state);
    return 0;
}


void
heartbeat_destroy(heartbeat_t *hb)
{
    loop_timer_stop(&hb->timer);
    free(hb);
}
