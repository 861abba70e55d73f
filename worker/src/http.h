#ifndef LIAUTO_HTTP_H
#define LIAUTO_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "loop.h"

/*
 * Asynchronous HTTP on the worker's event loop: one libcurl multi handle
 * whose sockets and timeout are loop watchers and a loop timer
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION), so no call here ever
 * blocks the loop. A request is built, started, and answered exactly once
 * through its completion callback, after which it is freed.
 */

typedef struct http_s          http_t;
typedef struct http_request_s  http_request_t;

typedef struct {
    long         status;         /* HTTP status, 0 when none arrived */
    const char  *body;           /* NUL-terminated, never NULL */
    size_t       body_len;
    CURLcode     curl_code;      /* CURLE_OK when a whole answer arrived */
    const char  *curl_error;     /* "" when curl_code is CURLE_OK */

    /*
     * Whether curl wrote (part of) the request to the server. A failure
     * before that cannot have had an effect; after it, the server may
     * have acted without our knowing.
     */
    int          request_sent;

    long         retry_after_s;  /* Retry-After in seconds, -1: absent */
    double       elapsed_s;
} http_response_t;

/* The response and its strings are valid only during the callback. */
typedef void (*http_done_pt)(const http_response_t *res, void *data);

http_t *http_create(loop_t *loop);

/* Drops unfinished requests without calling their callbacks; never call
 * it from inside one. */
void http_destroy(http_t *http);

/* method: "GET", "POST", "DELETE", ... */
http_request_t *http_request_create(const char *method, const char *url,
    long timeout_ms);

/* "Name: value"; returns -1 when out of memory. */
int http_request_header(http_request_t *req, const char *header);

/* A JSON body (copied), with its Content-Type. */
int http_request_json(http_request_t *req, const char *json);

/* Appends one multipart/form-data field; a name may repeat. */
int http_request_form(http_request_t *req, const char *name,
    const char *value);

/*
 * For a request that changes something: curl silently re-sends a request
 * whose reused keep-alive connection died without an answer, though the
 * server may have acted on the first copy. On a fresh connection it never
 * does, so the caller sees the failure and decides.
 */
void http_request_no_replay(http_request_t *req);

/*
 * Every socket the request connects goes through open (CURLOPT_
 * OPENSOCKETFUNCTION, with the address curl resolved): it returns a
 * socket, or CURL_SOCKET_BAD to refuse that address. No proxy from the
 * environment, no redirect: the connection is to the URL's own host.
 */
void http_request_guard(http_request_t *req, curl_opensocket_callback open,
    void *data);

/* Never used again after a failed start. */
void http_request_free(http_request_t *req);

/*
 * Hands the request to the multi handle; done is called from the loop
 * (never from inside this call). Returns -1 (and frees req) on failure.
 */
int http_start(http_t *http, http_request_t *req, http_done_pt done,
    void *data);

/* Requests started and not yet answered. */
unsigned http_pending(const http_t *http);

#endif
