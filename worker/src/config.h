#ifndef LIAUTO_CONFIG_H
#define LIAUTO_CONFIG_H

#include <stddef.h>

#include "log.h"

/*
 * The worker's configuration, read once at start: the optional KEY=VALUE
 * file first, then environment variables of the same names on top.
 */

typedef struct {
    char         *database_url;
    char         *migrations_dir;
    char         *worker_id;
    int           heartbeat_interval;   /* seconds */
    log_level_t   log_level;
    int           reconnect_max;        /* seconds */
    char         *unipile_dsn;          /* host:port or http(s) URL */
    char         *unipile_api_key;
    int           unipile_timeout;      /* seconds, per request */
    int           engine_tick_ms;       /* sending loop period */
    int           lease_seconds;        /* claim lease */
    char         *resend_api_key;       /* NULL: no notifications */
    char         *resend_base_url;
    int           resend_timeout;       /* seconds, per request */
    char         *notify_from;          /* "Name <address>" */
    int           webhook_timeout;      /* seconds, per delivery */
    char         *webhook_allow_nets;   /* CIDRs outbound webhooks may
                                           reach though internal */
    int           account_recheck_seconds;  /* accounts out of ok */
    int           poll_interval;        /* seconds between message polls */
    int           poll_lookback;        /* seconds a poll looks back */
    char         *webhook_url;          /* our webhooks' base URL */
    char         *webhook_secret;       /* their Unipile-Auth header */
    int           retention_interval;   /* seconds: one run per period */
    int           retention_batch;      /* rows per kind per transaction */
    int           retention_email_days;
    int           retention_delivery_days;
    int           retention_webhook_event_days;
    int           retention_inbox_event_days;
} liauto_config_t;

/*
 * Fills *cf from the file at path (NULL: no file) and the environment.
 * On failure returns -1 with a message naming the key or the line in err;
 * *cf then owns nothing.
 */
int config_load(liauto_config_t *cf, const char *path, char *err,
    size_t errlen);
void config_free(liauto_config_t *cf);

/* Logs every setting (at info) so a log shows what the worker ran with. */
void config_log(const liauto_config_t *cf);

#endif
