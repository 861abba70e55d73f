#ifndef LIAUTO_UNIPILE_H
#define LIAUTO_UNIPILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "loop.h"

/*
 * The Unipile API v1 client (LinkedIn), asynchronous on the worker's loop
 * through http.c. Base URL https://<UNIPILE_DSN>/api/v1 (a DSN may also be
 * a full http(s) URL; a loopback host:port means the simulator, over
 * http), header X-API-KEY, accept: application/json.
 *
 * Every operation ends in exactly one callback with a unipile_result_t
 * whose outcome says what the engine must do. The mapping, from
 * unipile_classify() (status, error "type" with or without the "errors/"
 * prefix, transport failure):
 *
 * | answer                                   | outcome          |
 * |------------------------------------------|------------------|
 * | 2xx with a readable body                 | SENT             |
 * | 2xx unreadable: read / send              | RETRY / UNKNOWN  |
 * | 429 too_many_requests (Retry-After kept) | ACCOUNT_COOLOFF  |
 * | 401 any type (disconnected_account,      | ACCOUNT_BLOCKED  |
 * |   expired_credentials, missing_creds...) |                  |
 * | 403 account_restricted, feature_not_...  | ACCOUNT_BLOCKED  |
 * |   (every 403 but the two below)          |                  |
 * | 403 account_mismatch,                    | FINAL_LEAD       |
 * |   resource_access_restricted             |                  |
 * | 422 invalid_account, payment_error       | ACCOUNT_BLOCKED  |
 * | 422 cannot_resend_yet, limit_exceeded,   | FINAL_LIMIT      |
 * |   connection_limit_reached,              |                  |
 * |   insufficient_credits                   |                  |
 * | 422 any other type (already_invited_     | FINAL_LEAD       |
 * |   recently, already_connected,           |                  |
 * |   cannot_invite_attendee, no_connection_ |                  |
 * |   with_recipient, invalid_recipient,     |                  |
 * |   blocked_recipient, user_unreachable,   |                  |
 * |   cannot_resend_within_24hrs, ...)       |                  |
 * | 400 any (too_many_characters, invalid_   | FINAL_LEAD       |
 * |   parameters...), 404, 415, other 4xx    |                  |
 * | 404 of get_account (no lead involved)    | ACCOUNT_BLOCKED  |
 * | 501 (feature missing)                    | FINAL_LEAD       |
 * | 504 request_timeout: read / send         | RETRY / UNKNOWN  |
 * | other 5xx (500, 502, 503)                | RETRY            |
 * | no connection, DNS, timeout or error     | RETRY            |
 * |   before the request was written         |                  |
 * | timeout / dropped connection after the   | RETRY (read)     |
 * |   request was written                    | UNKNOWN (send)   |
 *
 * "Send" operations change LinkedIn (invite, start_chat, send_message);
 * the rest are reads. A send always goes out on a fresh connection, so
 * that curl never replays it by itself (http_request_no_replay()).
 *
 * The client itself retries RETRY outcomes up to max_attempts times with
 * exponential backoff and jitter (backoff.c); a RETRY that reaches the
 * callback has used them all. UNKNOWN is never retried here: the engine
 * reconciles first (unipile_find_sent_invitation(), the chat's messages). ACCOUNT_COOLOFF carries retry_after_ms from
 * Retry-After when the answer had one (Unipile v1 documents none), else
 * -1: the engine picks the account's cool-off.
 */

typedef enum {
    UNIPILE_SENT = 0,
    UNIPILE_RETRY,
    UNIPILE_ACCOUNT_COOLOFF,
    UNIPILE_ACCOUNT_BLOCKED,
    UNIPILE_FINAL_LEAD,
    UNIPILE_FINAL_LIMIT,
    UNIPILE_UNKNOWN
} unipile_outcome_t;

typedef struct {
    unipile_outcome_t   outcome;
    const char         *reason;        /* static, human, never NULL */
    char                type[64];      /* error type without "errors/" */
    char                detail[256];   /* title/detail or curl's error */
    long                status;        /* HTTP status, 0: none */
    long                retry_after_ms;
} unipile_verdict_t;

/* is_send: the request changes LinkedIn (see above). */
void unipile_classify(const http_response_t *res, int is_send,
    unipile_verdict_t *v);

const char *unipile_outcome_name(unipile_outcome_t outcome);

/* Items of the list answers, read tolerantly; strings borrowed. */

typedef struct {
    const char  *provider_id;
    const char  *public_identifier;
    const char  *member_urn;
    const char  *first_name;
    const char  *last_name;
    int          is_relationship;
    const char  *invitation_type;      /* "SENT", "RECEIVED"; NULL: none */
    const char  *invitation_status;    /* "PENDING", "IGNORED", ... */
} unipile_profile_t;

typedef struct {
    const char  *id;
    const char  *chat_id;
    const char  *sender_id;
    const char  *text;
    const char  *timestamp;
    int          is_sender;            /* from 0/1 or false/true */
    size_t       nattachments;         /* from an array or one object */
} unipile_message_t;

typedef struct {
    const char  *id;
    const char  *attendee_provider_id;
    const char  *timestamp;
} unipile_chat_t;

typedef struct {
    const char  *id;
    const char  *invited_user_id;
    const char  *invited_user_public_id;
    const char  *parsed_datetime;
} unipile_invitation_t;

typedef struct {
    const char  *member_id;
    const char  *public_identifier;
    double       created_at_ms;
} unipile_relation_t;

/* Each returns -1 when the item lacks its id. */
int unipile_parse_profile(json_t *obj, unipile_profile_t *p);
int unipile_parse_message(json_t *obj, unipile_message_t *m);
int unipile_parse_chat(json_t *obj, unipile_chat_t *c);
int unipile_parse_invitation(json_t *obj, unipile_invitation_t *i);
int unipile_parse_relation(json_t *obj, unipile_relation_t *r);

/* The account's status: its first source's status, else "OK". */
const char *unipile_parse_account_status(json_t *obj);

typedef struct {
    unipile_verdict_t   verdict;
    unsigned            attempts;      /* HTTP requests made */
    json_t             *body;          /* the parsed answer, or NULL */

    /* Filled on SENT, by operation (borrowed from body): */
    unipile_profile_t   profile;       /* get_profile */
    const char         *invitation_id; /* invite, find_sent_invitation
                                          (NULL: none pending) */
    const char         *chat_id;       /* start_chat, find_chat_with
                                          (NULL: no such chat) */
    const char         *message_id;    /* start_chat, send_message */
    const char         *account_status;   /* get_account */
    json_t             *items;         /* lists: parse with the above */
    const char         *cursor;        /* lists: next page, NULL: last */
    unsigned            pages;         /* the find_ searches */
} unipile_result_t;

/* The result is valid only during the callback. */
typedef void (*unipile_done_pt)(const unipile_result_t *res, void *data);

typedef struct {
    const char  *dsn;                  /* UNIPILE_DSN */
    const char  *api_key;              /* UNIPILE_API_KEY */
    long         timeout_ms;           /* per request (UNIPILE_TIMEOUT) */
    unsigned     max_attempts;         /* RETRY outcomes, >= 1 */
    uint64_t     backoff_base_ms;
    uint64_t     backoff_cap_ms;
    unsigned     page_limit;           /* list items per page, 0: 100 */
} unipile_options_t;

typedef struct unipile_s  unipile_t;

/* Builds "<base>/api/v1" from a DSN; NULL when it is not usable. */
char *unipile_base_url(const char *dsn);

unipile_t *unipile_create(loop_t *loop, const unipile_options_t *options);

/* Drops calls in flight without calling them back; never call it from
 * inside a done callback. */
void unipile_destroy(unipile_t *u);

/*
 * Operations: 0 when started (done will be called from the loop), -1
 * when out of memory (done is not called). cursor NULL: first page.
 */
int unipile_get_profile(unipile_t *u, const char *account_id,
    const char *identifier, unipile_done_pt done, void *data);
int unipile_invite(unipile_t *u, const char *account_id,
    const char *provider_id, const char *note, unipile_done_pt done,
    void *data);
int unipile_list_sent_invitations(unipile_t *u, const char *account_id,
    const char *cursor, unipile_done_pt done, void *data);
int unipile_list_relations(unipile_t *u, const char *account_id,
    const char *cursor, unipile_done_pt done, void *data);
int unipile_list_chats(unipile_t *u, const char *account_id,
    const char *cursor, unipile_done_pt done, void *data);
int unipile_find_chat_with(unipile_t *u, const char *account_id,
    const char *provider_id, unipile_done_pt done, void *data);
/* The pending invitation to provider_id (invitation_id NULL: none), to
 * reconcile an UNKNOWN invite. */
int unipile_find_sent_invitation(unipile_t *u, const char *account_id,
    const char *provider_id, unipile_done_pt done, void *data);
int unipile_start_chat(unipile_t *u, const char *account_id,
    const char *provider_id, const char *text, unipile_done_pt done,
    void *data);
/* The same with linkedin[inmail]=true: an InMail, which needs no
 * connection (premium accounts, InMail credits). */
int unipile_start_inmail(unipile_t *u, const char *account_id,
    const char *provider_id, const char *text, unipile_done_pt done,
    void *data);
int unipile_send_message(unipile_t *u, const char *chat_id,
    const char *text, const char *account_id, unipile_done_pt done,
    void *data);
int unipile_list_chat_messages(unipile_t *u, const char *chat_id,
    const char *cursor, unipile_done_pt done, void *data);
/* after: ISO-8601 with milliseconds ("...T09:43:27.002Z") or NULL. */
int unipile_list_messages(unipile_t *u, const char *account_id,
    const char *after, const char *cursor, unipile_done_pt done,
    void *data);
int unipile_get_account(unipile_t *u, const char *account_id,
    unipile_done_pt done, void *data);
/* Withdraws one of the account's pending invitations; a 404 (FINAL_LEAD,
 * status 404) means it is not pending any more. */
int unipile_cancel_invitation(unipile_t *u, const char *account_id,
    const char *invitation_id, unipile_done_pt done, void *data);

/* Webhooks (workspace-wide): json is the whole POST /webhooks body. */
int unipile_list_webhooks(unipile_t *u, const char *cursor,
    unipile_done_pt done, void *data);
int unipile_create_webhook(unipile_t *u, const char *json,
    unipile_done_pt done, void *data);
int unipile_delete_webhook(unipile_t *u, const char *webhook_id,
    unipile_done_pt done, void *data);

#endif
