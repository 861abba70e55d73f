#ifndef LIAUTO_RESEND_H
#define LIAUTO_RESEND_H

#include <jansson.h>

#include "http.h"
#include "loop.h"

/*
 * The Resend client (POST <RESEND_BASE_URL>/emails), asynchronous on the
 * worker's loop through http.c. Every send carries an Idempotency-Key the
 * caller derives from what is sent, so sending the same email again (a
 * retry, or another worker after a crash) never delivers a second copy:
 * Resend answers with the first email's id for 24 hours.
 *
 * One HTTP request per call, no retries here: the caller keeps the email
 * in its outbox and retries with backoff. (curl itself repeats a request
 * whose reused keep-alive connection died unanswered; under the key that
 * is harmless, so sends are not forced onto fresh connections.)
 * resend_classify() maps the answer:
 *
 * | answer                                        | outcome |
 * |-----------------------------------------------|---------|
 * | 2xx with an "id"                              | SENT    |
 * | 2xx without a readable id                     | RETRY   |
 * | 429 (rate_limit_exceeded, daily/monthly       | RETRY   |
 * |   quota; Retry-After kept)                    |         |
 * | 409 concurrent_idempotent_requests (the same  | RETRY   |
 * |   key is still being processed)               |         |
 * | 5xx (application_error, service_unavailable)  | RETRY   |
 * | no connection, timeout, dropped answer (safe: | RETRY   |
 * |   the key makes a second request harmless)    |         |
 * | any other 4xx (validation_error, invalid_     | FAILED  |
 * |   api_key, missing_required_field, invalid_   |         |
 * |   idempotent_request, ...): Resend's name and |         |
 * |   message are the reason                      |         |
 * | anything else (1xx, 3xx)                      | FAILED  |
 */

typedef enum {
    RESEND_SENT = 0,
    RESEND_RETRY,
    RESEND_FAILED
} resend_outcome_t;

typedef struct {
    resend_outcome_t   outcome;
    long               status;          /* HTTP status, 0: none */
    char               id[64];          /* SENT: Resend's email id */
    char               reason[384];     /* not SENT: what went wrong */
    long               retry_after_ms;  /* from Retry-After, -1: none */
} resend_verdict_t;

void resend_classify(const http_response_t *res, resend_verdict_t *v);

const char *resend_outcome_name(resend_outcome_t outcome);

typedef struct {
    const char  *from;
    json_t      *to;                   /* array of addresses (borrowed) */
    const char  *subject;
    const char  *html;
    const char  *text;
    const char  *idempotency_key;
} resend_email_t;

/* The verdict is valid only during the callback. */
typedef void (*resend_done_pt)(const resend_verdict_t *v, void *data);

/* Owned by the caller (embedded in its item), untouched after done. */
typedef struct {
    resend_done_pt   done;
    void            *data;
} resend_call_t;

typedef struct {
    const char  *base_url;             /* RESEND_BASE_URL */
    const char  *api_key;              /* RESEND_API_KEY */
    long         timeout_ms;
} resend_options_t;

typedef struct resend_s  resend_t;

resend_t *resend_create(loop_t *loop, const resend_options_t *options);

/* Drops sends in flight without calling them back. */
void resend_destroy(resend_t *r);

/* 0: started (call->done is called from the loop); -1: out of memory. */
int resend_send(resend_t *r, const resend_email_t *email,
    resend_call_t *call);

#endif
