#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

/* An answer larger than this is not Unipile's: refuse to buffer it. */
#define HTTP_MAX_BODY     (16 * 1024 * 1024)
#define HTTP_CONNECT_MAX  10000

struct http_s {
    loop_t          *loop;
    CURLM           *multi;
    loop_timer_t     timer;
    http_request_t  *active;          /* started, not yet answered */
    unsigned         npending;
};

struct http_request_s {
    CURL               *easy;
    struct curl_slist  *headers;
    curl_mime          *mime;
    char               *body;
    size_t              body_len;
    size_t              body_cap;
    int                 too_large;
    char                error[CURL_ERROR_SIZE];

    http_t             *http;
    http_request_t     *next;
    http_request_t     *prev;
    http_done_pt        done;
    void               *data;
};

/* One per socket curl asks us to watch (CURLMOPT_SOCKETFUNCTION). */
typedef struct {
    loop_io_t   io;
    http_t     *http;
} http_socket_t;


static void
check_finished(http_t *http)
{
    int              left;
    long             status = 0, request_size = 0;
    CURLMsg         *msg;
    curl_off_t       retry_after = -1;
    http_request_t  *req;
    http_response_t  res;

    while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);

        memset(&res, 0, sizeof(res));
        res.curl_code = msg->data.result;
        if (req->too_large) {
            snprintf(req->error, sizeof(req->error),
                     "answer larger than %d bytes", HTTP_MAX_BODY);
        }
        res.curl_error = res.curl_code == CURLE_OK ? "" : req->error;
        if (res.curl_code != CURLE_OK && req->error[0] == '\0') {
            res.curl_error = curl_easy_strerror(res.curl_code);
        }

        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(req->easy, CURLINFO_REQUEST_SIZE, &request_size);
        curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after);
        curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME, &res.elapsed_s);

        res.status = status;
        res.request_sent = request_size > 0;
        res.retry_after_s = retry_after > 0 ? (long) retry_after : -1;
        res.body = req->body != NULL ? req->body : "";
        res.body_len = req->body_len;

        curl_multi_remove_handle(http->multi, req->easy);
        if (req->prev != NULL) {
            req->prev->next = req->next;
        } else {
            http->active = req->next;
        }
        if (req->next != NULL) {
            req->next->prev = req->prev;
        }
        http->npending--;

        req->done(&res, req->data);
        http_request_free(req);
    }
}


static void
socket_ready(loop_io_t *io, int fd, unsigned events, void *data)
{
    int        running, mask = 0;
    http_t    *http = data;

    (void) io;

    if (events & LOOP_READ) {
        mask |= CURL_CSELECT_IN;
    }
    if (events & LOOP_WRITE) {
        mask |= CURL_CSELECT_OUT;
    }
    if (events & LOOP_ERROR) {
        mask |= CURL_CSELECT_ERR;
    }

    curl_multi_socket_action(http->multi, fd, mask, &running);
    check_finished(http);
}


static void
timer_fired(loop_timer_t *timer, void *data)
{
    int      running;
    http_t  *http = data;

    (void) timer;

    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_finished(http);
}


static int
socket_changed(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
    unsigned        interest;
    http_t         *http = userp;
    http_socket_t  *sock = socketp;

    (void) easy;

    if (what == CURL_POLL_REMOVE) {
        if (sock != NULL) {
            loop_io_stop(&sock->io);
            free(sock);
            curl_multi_assign(http->multi, fd, NULL);
        }
        return 0;
    }

    interest = ((what & CURL_POLL_IN) ? LOOP_READ : 0)
               | ((what & CURL_POLL_OUT) ? LOOP_WRITE : 0);

    if (sock == NULL) {
        sock = calloc(1, sizeof(http_socket_t));
        if (sock == NULL) {
            log_error("http: out of memory for a socket watcher");
            return -1;
        }
        sock->http = http;
        curl_multi_assign(http->multi, fd, sock);
        loop_io_start(http->loop, &sock->io, fd, interest, socket_ready,
                      http);
        return 0;
    }

    loop_io_set(&sock->io, interest);
    return 0;
}


/* curl must not be re-entered from here: the loop timer calls it later. */
static int
timeout_changed(CURLM *multi, long timeout_ms, void *userp)
{
    http_t  *http = userp;

    (void) multi;

    if (timeout_ms < 0) {
        loop_timer_stop(&http->timer);
        return 0;
    }

    loop_timer_start(http->loop, &http->timer, (uint64_t) timeout_ms, 0,
                     timer_fired, http);
    return 0;
}


http_t *
http_create(loop_t *loop)
{
    http_t  *http;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("http: curl_global_init() failed");
        return NULL;
    }

    http = calloc(1, sizeof(http_t));
    if (http == NULL) {
        return NULL;
    }

    http->loop = loop;
    http->multi = curl_multi_init();
    if (http->multi == NULL) {
        free(http);
        return NULL;
    }

    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_changed);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timeout_changed);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);

    return http;
}


void
http_destroy(http_t *http)
{
    http_request_t  *req;

    while ((req = http->active) != NULL) {
        http->active = req->next;
        curl_multi_remove_handle(http->multi, req->easy);
        http_request_free(req);
    }

    /* Removing the handles has closed their sockets (CURL_POLL_REMOVE). */
    loop_timer_stop(&http->timer);
    curl_multi_cleanup(http->multi);
    free(http);
}


unsigned
http_pending(const http_t *http)
{
    return http->npending;
}


static size_t
body_append(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    size_t           n = size * nmemb, cap;
    char            *body;
    http_request_t  *req = userdata;

    if (req->body_len + n > HTTP_MAX_BODY) {
        req->too_large = 1;
        return 0;
    }

    if (req->body_len + n + 1 > req->body_cap) {
        cap = req->body_cap != 0 ? req->body_cap : 4096;
        while (cap < req->body_len + n + 1) {
            cap *= 2;
        }
        body = realloc(req->body, cap);
        if (body == NULL) {
            return 0;
        }
        req->body = body;
        req->body_cap = cap;
    }

    memcpy(req->body + req->body_len, ptr, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return n;
}


http_request_t *
http_request_create(const char *method, const char *url, long timeout_ms)
{
    http_request_t  *req;

    req = calloc(1, sizeof(http_request_t));
    if (req == NULL) {
        return NULL;
    }

    req->easy = curl_easy_init();
    if (req->easy == NULL) {
        free(req);
        return NULL;
    }

    curl_easy_setopt(req->easy, CURLOPT_URL, url);
    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
    curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->error);
    curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, body_append);
    curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < HTTP_CONNECT_MAX ? timeout_ms
                                                   : HTTP_CONNECT_MAX);
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(req->easy, CURLOPT_ACCEPT_ENCODING, "");

    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, method);
    }

    /* A 100-continue round trip only adds latency to small bodies. */
    if (http_request_header(req, "Expect:") != 0) {
        http_request_free(req);
        return NULL;
    }

    return req;
}


int
http_request_header(http_request_t *req, const char *header)
{
    struct curl_slist  *list;

    list = curl_slist_append(req->headers, header);
    if (list == NULL) {
        return -1;
    }

    req->headers = list;
    curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
    return 0;
}


int
http_request_json(http_request_t *req, const char *json)
{
    if (http_request_header(req, "Content-Type: application/json") != 0) {
        return -1;
    }

    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(json));
    return curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS, json)
           == CURLE_OK ? 0 : -1;
}


int
http_request_form(http_request_t *req, const char *name, const char *value)
{
    curl_mimepart  *part;

    if (req->mime == NULL) {
        req->mime = curl_mime_init(req->easy);
        if (req->mime == NULL) {
            return -1;
        }
        curl_easy_setopt(req->easy, CURLOPT_MIMEPOST, req->mime);
    }

    part = curl_mime_addpart(req->mime);
    if (part == NULL
        || curl_mime_name(part, name) != CURLE_OK
        || curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
    {
        return -1;
    }

    return 0;
}


void
http_request_no_replay(http_request_t *req)
{
    curl_easy_setopt(req->easy, CURLOPT_FRESH_CONNECT, 1L);
}


void
http_request_guard(http_request_t *req, curl_opensocket_callback open,
    void *data)
{
    curl_easy_setopt(req->easy, CURLOPT_OPENSOCKETFUNCTION, open);
    curl_easy_setopt(req->easy, CURLOPT_OPENSOCKETDATA, data);
    curl_easy_setopt(req->easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(req->easy, CURLOPT_FOLLOWLOCATION, 0L);
}


void
http_request_free(http_request_t *req)
{
    curl_easy_cleanup(req->easy);
    curl_mime_free(req->mime);
    curl_slist_free_all(req->headers);
    free(req->body);
    free(req);
}


int
http_start(http_t *http, http_request_t *req, http_done_pt done, void *data)
{
    CURLMcode  rc;

    req->http = http;
    req->done = done;
    req->data = data;

    rc = curl_multi_add_handle(http->multi, req->easy);
    if (rc != CURLM_OK) {
        log_error("http: cannot start a request: %s",
                  curl_multi_strerror(rc));
        http_request_free(req);
        return -1;
    }

    req->prev = NULL;
    req->next = http->active;
    if (http->active != NULL) {
        http->active->prev = req;
    }
    http->active = req;
    http->npending++;
    return 0;
}
