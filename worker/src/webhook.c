#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webhook.h"

#define WEBHOOK_HEADER_MAX  512

struct webhook_s {
    http_t  *http;
    long     timeout_ms;
    nets_t  *allow;
};


void
webhook_classify(const http_response_t *res, webhook_verdict_t *v)
{
    memset(v, 0, sizeof(*v));
    v->status = res->status;
    v->retry_after_ms = res->retry_after_s >= 0 ? res->retry_after_s * 1000
                                                : -1;

    if (res->curl_code != CURLE_OK) {
        v->outcome = WEBHOOK_RETRY;
        snprintf(v->reason, sizeof(v->reason), "no answer from the "
                 "receiver: %s", res->curl_error);

    } else if (res->status >= 200 && res->status < 300) {
        v->outcome = WEBHOOK_DELIVERED;

    } else if (res->status == 410) {
        v->outcome = WEBHOOK_FAILED;
        snprintf(v->reason, sizeof(v->reason), "the receiver answered "
                 "410 Gone: it no longer takes these events");

    } else {
        v->outcome = WEBHOOK_RETRY;
        snprintf(v->reason, sizeof(v->reason), "the receiver answered "
                 "HTTP %ld: %.120s", res->status, res->body);
    }
}


int
webhook_signature(const char *secret, time_t t, const char *body,
    char *out, size_t len)
{
    int            n;
    char           stamp[24];
    size_t         stamp_len, body_len;
    unsigned int   i, mac_len;
    unsigned char  mac[EVP_MAX_MD_SIZE], *message;

    stamp_len = (size_t) snprintf(stamp, sizeof(stamp), "%lld.",
                                  (long long) t);
    body_len = strlen(body);

    message = malloc(stamp_len + body_len);
    if (message == NULL) {
        return -1;
    }
    memcpy(message, stamp, stamp_len);
    memcpy(message + stamp_len, body, body_len);

    if (HMAC(EVP_sha256(), secret, (int) strlen(secret), message,
             stamp_len + body_len, mac, &mac_len) == NULL)
    {
        free(message);
        return -1;
    }
    free(message);

    n = snprintf(out, len, "t=%lld,v1=", (long long) t);
    if (n < 0 || (size_t) n + mac_len * 2 + 1 > len) {
        return -1;
    }

    for (i = 0; i < mac_len; i++) {
        snprintf(out + n + i * 2, 3, "%02x", mac[i]);
    }

    return 0;
}


webhook_t *
webhook_create(loop_t *loop, long timeout_ms, const char *allow, char *err,
    size_t len)
{
    webhook_t  *w;

    w = calloc(1, sizeof(webhook_t));
    if (w == NULL) {
        snprintf(err, len, "out of memory");
        return NULL;
    }

    w->allow = nets_parse(allow, err, len);
    if (w->allow == NULL) {
        free(w);
        return NULL;
    }

    w->http = http_create(loop);
    if (w->http == NULL) {
        nets_free(w->allow);
        free(w);
        snprintf(err, len, "out of memory");
        return NULL;
    }

    w->timeout_ms = timeout_ms;
    return w;
}


void
webhook_destroy(webhook_t *w)
{
    http_destroy(w->http);
    nets_free(w->allow);
    free(w);
}


static void
delivery_answered(const http_response_t *res, void *data)
{
    webhook_call_t     *call = data;
    webhook_verdict_t   v;

    webhook_classify(res, &v);

    /* curl only says it could not connect: say why, and do not retry */
    if (res->curl_code == CURLE_COULDNT_CONNECT
        && call->refused[0] != '\0')
    {
        v.outcome = WEBHOOK_FAILED;
        snprintf(v.reason, sizeof(v.reason), "refused: %s", call->refused);
    }

    call->done(&v, call->data);
}


/*
 * CURLOPT_OPENSOCKETFUNCTION: a socket only to an address that is not
 * internal or is allowed; what was refused is kept for the verdict.
 */
static curl_socket_t
delivery_socket(void *data, curlsocktype purpose, struct curl_sockaddr *a)
{
    char             text[64];
    const char      *kind;
    webhook_call_t  *call = data;

    (void) purpose;

    kind = nets_internal(&a->addr);

    if (kind != NULL && !nets_contains(call->allow, &a->addr)) {
        snprintf(call->refused, sizeof(call->refused), "the URL's host "
                 "resolves to %s, a %s address (LIAUTO_WEBHOOK_ALLOW_NETS "
                 "does not allow it)",
                 a->family == AF_INET || a->family == AF_INET6
                 ? nets_format(&a->addr, text, sizeof(text)) : "?", kind);
        return CURL_SOCKET_BAD;
    }

    return socket(a->family, a->socktype, a->protocol);
}


/* "Name: value" into buf; -1 when it does not fit. */
static int
header_line(char *buf, size_t len, const char *name, const char *value)
{
    int  n = snprintf(buf, len, "%s: %s", name, value);

    return n < 0 || (size_t) n >= len ? -1 : 0;
}


int
webhook_deliver(webhook_t *w, const webhook_delivery_t *d,
    webhook_call_t *call)
{
    char             signature[128], line[WEBHOOK_HEADER_MAX];
    http_request_t  *req;

    if (webhook_signature(d->secret, time(NULL), d->body, signature,
                          sizeof(signature)) != 0)
    {
        return -1;
    }

    req = http_request_create("POST", d->url, w->timeout_ms);
    if (req == NULL) {
        return -1;
    }

    call->allow = w->allow;
    call->refused[0] = '\0';
    http_request_guard(req, delivery_socket, call);

    if (header_line(line, sizeof(line), "Liauto-Signature", signature) != 0
        || http_request_header(req, line) != 0
        || header_line(line, sizeof(line), "Liauto-Event", d->event_type)
           != 0
        || http_request_header(req, line) != 0
        || header_line(line, sizeof(line), "Liauto-Delivery", d->id) != 0
        || http_request_header(req, line) != 0
        || http_request_header(req, "User-Agent: liauto-webhooks") != 0
        || http_request_json(req, d->body) != 0)
    {
        http_request_free(req);
        return -1;
    }

    /* http_start() frees the request when it cannot start it */
    return http_start(w->http, req, delivery_answered, call);
}
