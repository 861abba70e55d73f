#ifndef LIAUTO_WEBHOOK_H
#define LIAUTO_WEBHOOK_H

#include <stddef.h>
#include <time.h>

#include "http.h"
#include "loop.h"
#include "nets.h"

/*
 * Outbound webhooks for integrators: POSTs one delivery (the body frozen
 * in liauto.webhook_deliveries) to a subscriber's URL, asynchronously on
 * the worker's loop through http.c, signed so the receiver can check it
 * came from us, unchanged and recently:
 *
 *   Liauto-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
 *
 * where the HMAC key is the subscription's secret (the whole "whsec_..."
 * string, as bytes) and the message is "<t>.<body>" (the raw body bytes).
 * A receiver recomputes it, compares in constant time and refuses a t
 * more than 5 minutes away from its clock. t is the wall clock at the
 * attempt (time()), not the engine's clock (liauto.now()), which tests
 * move: only the receiver's clock can judge it. Also sent: Liauto-Event (the
 * event type), Liauto-Delivery (this delivery's id; the event's own id is
 * "id" in the body, the same for a replay) and Content-Type.
 *
 * webhook_classify():
 *
 * | answer                                  | outcome   |
 * |-----------------------------------------|-----------|
 * | 2xx                                     | DELIVERED |
 * | 410 Gone (the receiver dropped the URL) | FAILED    |
 * | any other status, no answer, timeout    | RETRY     |
 * |   (Retry-After kept)                    |           |
 * | the URL's host resolves only to         | FAILED    |
 * |   internal addresses (see below)        |           |
 *
 * SSRF guard: the socket is opened only to an address that is not
 * loopback, private, link-local, multicast, unspecified or reserved
 * (nets_internal()), unless the allow-list (LIAUTO_WEBHOOK_ALLOW_NETS)
 * holds it. The check is on the address curl connects to, after its own
 * resolution, so a name that resolves to a public address when the
 * subscription is made and to an internal one later (DNS rebinding) is
 * still refused; redirects are not followed, proxies not used.
 */

typedef enum {
    WEBHOOK_DELIVERED = 0,
    WEBHOOK_RETRY,
    WEBHOOK_FAILED
} webhook_outcome_t;

typedef struct {
    webhook_outcome_t  outcome;
    long               status;          /* HTTP status, 0: none */
    char               reason[256];     /* not DELIVERED: what happened */
    long               retry_after_ms;  /* from Retry-After, -1: none */
} webhook_verdict_t;

void webhook_classify(const http_response_t *res, webhook_verdict_t *v);

/* The Liauto-Signature value; -1 when out of memory or too small. */
int webhook_signature(const char *secret, time_t t, const char *body,
    char *out, size_t len);

typedef struct {
    const char  *id;                   /* the delivery's */
    const char  *url;
    const char  *secret;
    const char  *event_type;
    const char  *body;
} webhook_delivery_t;

typedef void (*webhook_done_pt)(const webhook_verdict_t *v, void *data);

/* Owned by the caller (embedded in its item), untouched after done. */
typedef struct {
    webhook_done_pt   done;
    void             *data;

    /* set by webhook_deliver(): the allow-list, an address refused */
    const nets_t     *allow;
    char              refused[160];
} webhook_call_t;

typedef struct webhook_s  webhook_t;

/* allow: LIAUTO_WEBHOOK_ALLOW_NETS, NULL when invalid (told in err) */
webhook_t *webhook_create(loop_t *loop, long timeout_ms,
    const char *allow, char *err, size_t len);

/* Drops deliveries in flight without calling them back. */
void webhook_destroy(webhook_t *w);

/* 0: started (call->done is called from the loop); -1: out of memory. */
int webhook_deliver(webhook_t *w, const webhook_delivery_t *d,
    webhook_call_t *call);

#endif
