#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"

typedef struct {
    int        calls;
    long       status;
    CURLcode   code;
    int        request_sent;
    uint64_t   at;
} answer_t;

typedef struct {
    int        fired;
    answer_t  *answer;
    int        answered_before;
} tick_t;


static void
record(const http_response_t *res, void *data)
{
    answer_t  *a = data;

    a->calls++;
    a->status = res->status;
    a->code = res->curl_code;
    a->request_sent = res->request_sent;
    a->at = loop_now_ms();
}


static void
tick(loop_timer_t *timer, void *data)
{
    tick_t  *t = data;

    (void) timer;
    t->fired = 1;
    t->answered_before = t->answer->calls;
}


/* A socket that accepts connections (in the backlog) and never answers. */
static int
silent_server(int *port)
{
    int                 fd;
    socklen_t           len = sizeof(struct sockaddr_in);
    struct sockaddr_in  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(fd, 8) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
    {
        return -1;
    }

    *port = ntohs(sa.sin_port);
    return fd;
}


static void
run_until_answered(loop_t *loop, answer_t *a, uint64_t deadline_ms)
{
    uint64_t  end = loop_now_ms() + deadline_ms;

    while (a->calls == 0 && loop_now_ms() < end) {
        loop_run_once(loop, 50);
    }
}


static void
test_timeout_after_sending(void)
{
    int              fd, port;
    char             url[64];
    tick_t           t;
    loop_t          *loop = loop_create();
    http_t          *http = http_create(loop);
    answer_t         a;
    uint64_t         start;
    loop_timer_t     timer;
    http_request_t  *req;

    memset(&a, 0, sizeof(a));
    memset(&t, 0, sizeof(t));
    memset(&timer, 0, sizeof(timer));
    t.answer = &a;

    fd = silent_server(&port);
    CHECK(fd >= 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);

    req = http_request_create("POST", url, 300);
    CHECK(http_request_json(req, "{\"a\":1}") == 0);
    start = loop_now_ms();
    CHECK_INT_EQ(http_start(http, req, record, &a), 0);
    CHECK_INT_EQ(http_pending(http), 1);

    /* The loop keeps running other work while the request waits. */
    loop_timer_start(loop, &timer, 50, 0, tick, &t);
    run_until_answered(loop, &a, 3000);

    CHECK(t.fired && t.answered_before == 0);
    CHECK_INT_EQ(a.calls, 1);
    CHECK_INT_EQ(a.code, CURLE_OPERATION_TIMEDOUT);
    CHECK_INT_EQ(a.status, 0);
    CHECK_INT_EQ(a.request_sent, 1);
    CHECK(a.at - start >= 300 && a.at - start < 2000);
    CHECK_INT_EQ(http_pending(http), 0);

    http_destroy(http);
    loop_destroy(loop);
    close(fd);
}


static void
test_refused_before_sending(void)
{
    int              fd, port;
    char             url[64];
    loop_t          *loop = loop_create();
    http_t          *http = http_create(loop);
    answer_t         a;
    http_request_t  *req;

    memset(&a, 0, sizeof(a));

    /* A port that was just free and is closed again. */
    fd = silent_server(&port);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);

    req = http_request_create("GET", url, 1000);
    CHECK_INT_EQ(http_start(http, req, record, &a), 0);
    run_until_answered(loop, &a, 3000);

    CHECK_INT_EQ(a.calls, 1);
    CHECK_INT_EQ(a.code, CURLE_COULDNT_CONNECT);
    CHECK_INT_EQ(a.request_sent, 0);

    http_destroy(http);
    loop_destroy(loop);
}


static void
test_destroy_in_flight(void)
{
    int              fd, port, i;
    char             url[64];
    loop_t          *loop = loop_create();
    http_t          *http = http_create(loop);
    answer_t         a;

    memset(&a, 0, sizeof(a));
    fd = silent_server(&port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);

    CHECK_INT_EQ(http_start(http, http_request_create("GET", url, 5000),
                            record, &a), 0);
    CHECK_INT_EQ(http_start(http, http_request_create("GET", url, 5000),
                            record, &a), 0);
    for (i = 0; i < 5; i++) {
        loop_run_once(loop, 20);
    }
    CHECK_INT_EQ(http_pending(http), 2);

    /* Unfinished requests are dropped without a callback. */
    http_destroy(http);
    CHECK_INT_EQ(a.calls, 0);

    loop_destroy(loop);
    close(fd);
}


void
test_http(void)
{
    test_timeout_after_sending();
    test_refused_before_sending();
    test_destroy_in_flight();
}
