#include <signal.h>
#include <string.h>

#include "accounts.h"
#include "db.h"
#include "engine.h"
#include "heartbeat.h"
#include "retention.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "replies.h"
#include "run.h"
#include "version.h"
#include "webhooks.h"
#include "withdraw.h"

#define WORKER_CHANNEL  "liauto_worker"

typedef struct {
    loop_t       *loop;
    db_t         *db;
    heartbeat_t  *heartbeat;
    retention_t  *retention;
    engine_t     *engine;        /* NULL: Unipile not configured */
    replies_t    *replies;       /* inbox replies, with the engine */
    withdraw_t   *withdraw;      /* auto-withdraw, with the engine */
    accounts_t   *accounts;      /* account re-checks, with the engine */
    notify_t     *notify;        /* emails and outbound webhooks */
    webhooks_t   *webhooks;      /* reply detection and its fallbacks */
} worker_t;


static void
worker_on_stop_signal(loop_t *loop, int signo, void *data)
{
    (void) data;

    log_info("received SIG%s: shutting down", sigabbrev_np(signo));
    loop_stop(loop);
}


static void
worker_on_reload_signal(loop_t *loop, int signo, void *data)
{
    (void) loop;
    (void) data;

    log_warn("received SIG%s: configuration reload is not supported "
             "(it is read once at start); restart the worker to apply "
             "changes", sigabbrev_np(signo));
}


/* Every (re)connect announces the worker at once, not one interval later. */
static void
worker_on_connected(db_t *db, void *data)
{
    worker_t  *w = data;

    (void) db;
    heartbeat_write(w->heartbeat, "running");
    webhooks_connected(w->webhooks);
}


/*
 * The wake-up hook: a NOTIFY on liauto_worker means there is work for the
 * engine; liauto_webhooks (deliveries, fallback runs) goes to webhooks.c.
 */
static void
worker_on_wake(const char *channel, const char *payload, int sender_pid,
    void *data)
{
    worker_t  *w = data;

    if (webhooks_notify(w->webhooks, channel, payload)) {
        return;
    }

    log_debug("wake-up on \"%s\" from backend %d, payload \"%s\"",
              channel, sender_pid, payload);

    if (w->engine != NULL) {
        engine_wake(w->engine);
    }

    if (w->replies != NULL) {
        replies_wake(w->replies);
    }

    if (w->withdraw != NULL) {
        withdraw_wake(w->withdraw);
    }

    if (w->notify != NULL) {
        notify_wake(w->notify);
    }
}


static int
worker_watch_signals(worker_t *w)
{
    signal(SIGPIPE, SIG_IGN);

    if (loop_signal(w->loop, SIGTERM, worker_on_stop_signal, w) != 0
        || loop_signal(w->loop, SIGINT, worker_on_stop_signal, w) != 0
        || loop_signal(w->loop, SIGHUP, worker_on_reload_signal, w) != 0)
    {
        return -1;
    }

    return 0;
}


static int
worker_start(worker_t *w, const liauto_config_t *cf)
{
    db_options_t  options;

    w->loop = loop_create();
    if (w->loop == NULL || worker_watch_signals(w) != 0) {
        return -1;
    }

    memset(&options, 0, sizeof(options));
    options.conninfo = cf->database_url;
    options.listen_channel = WORKER_CHANNEL;
    options.reconnect_max_ms = (unsigned) cf->reconnect_max * 1000;
    options.on_connected = worker_on_connected;
    options.on_notify = worker_on_wake;
    options.data = w;

    w->db = db_create(w->loop, &options);
    if (w->db == NULL) {
        return -1;
    }

    w->heartbeat = heartbeat_create(w->loop, w->db, cf);
    if (w->heartbeat == NULL) {
        return -1;
    }

    /* without Unipile the worker still heartbeats and migrates */
    w->engine = engine_create(w->loop, w->db, cf);

    /* replies, withdrawals and account re-checks use the engine's client */
    if (w->engine != NULL) {
        w->replies = replies_create(w->loop, w->db, cf,
                                    engine_unipile(w->engine));
        w->withdraw = withdraw_create(w->loop, w->db, cf,
                                      engine_unipile(w->engine));
        w->accounts = accounts_create(w->loop, w->db, cf,
                                      engine_unipile(w->engine));
        if (w->replies == NULL || w->withdraw == NULL
            || w->accounts == NULL)
        {
            return -1;
        }
    }
    w->notify = notify_create(w->loop, w->db, cf);
    w->retention = retention_create(w->loop, w->db, cf);
    if (w->notify == NULL || w->retention == NULL) {
        return -1;
    }

    /* replies and acceptances: deliveries and the fallbacks (DESIGN §6) */
    w->webhooks = webhooks_create(w->loop, w->db, cf);
    if (w->webhooks == NULL) {
        return -1;
    }

    db_start(w->db);
    return 0;
}


static void
worker_stop(worker_t *w)
{
    if (w->retention != NULL) {
        retention_destroy(w->retention);
    }

    if (w->webhooks != NULL) {
        webhooks_destroy(w->webhooks);
    }

    /* before the engine: its client holds their calls */
    if (w->replies != NULL) {
        replies_destroy(w->replies);
    }

    if (w->withdraw != NULL) {
        withdraw_destroy(w->withdraw);
    }

    if (w->accounts != NULL) {
        accounts_destroy(w->accounts);
    }

    if (w->engine != NULL) {
        engine_destroy(w->engine);
    }

    if (w->notify != NULL) {
        notify_destroy(w->notify);
    }

    if (w->heartbeat != NULL) {
        heartbeat_write(w->heartbeat, "stopped");
        heartbeat_destroy(w->heartbeat);
    }

    if (w->db != NULL) {
        db_destroy(w->db);
    }

    if (w->loop != NULL) {
        loop_destroy(w->loop);
    }
}


int
worker_run(const liauto_config_t *cf)
{
    int       rc;
    worker_t  w;

    memset(&w, 0, sizeof(w));
    config_log(cf);
    log_info("%s %s starting as worker \"%s\"", LIAUTO_WORKER_NAME,
             LIAUTO_WORKER_VERSION, cf->worker_id);

    rc = worker_start(&w, cf);
    if (rc != 0) {
        log_error("cannot start: out of memory or no signal handling");

    } else {
        rc = loop_run(w.loop);
    }

    worker_stop(&w);

    if (rc != 0) {
        log_error("stopped on an error");
        return 1;
    }

    log_info("shutdown complete");
    return 0;
}
