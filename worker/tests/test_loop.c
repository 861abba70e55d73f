#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "loop.h"

typedef struct {
    char      order[16];
    size_t    n;
    uint64_t  fired_at[16];
} trace_t;

typedef struct {
    trace_t   *trace;
    char       tag;
} tagged_t;


static void
record_timer(loop_timer_t *timer, void *data)
{
    tagged_t  *t = data;

    (void) timer;
    t->trace->fired_at[t->trace->n] = loop_now_ms();
    t->trace->order[t->trace->n++] = t->tag;
}


/* Runs rounds until cond holds or deadline_ms passes. */
#define RUN_UNTIL(loop, cond, deadline_ms)                                   \
    do {                                                                     \
        uint64_t  end_ = loop_now_ms() + (deadline_ms);                      \
        while (!(cond) && loop_now_ms() < end_) {                            \
            loop_run_once((loop), 50);                                       \
        }                                                                    \
    } while (0)


static void
test_timer_order(void)
{
    loop_t        *loop = loop_create();
    trace_t        trace;
    uint64_t       start;
    loop_timer_t   timers[5];
    tagged_t       tags[5];
    const char     names[] = "abcde";
    const int      after[] = { 30, 10, 20, 10, 40 };
    int            i;

    memset(&trace, 0, sizeof(trace));
    memset(timers, 0, sizeof(timers));
    start = loop_now_ms();

    for (i = 0; i < 5; i++) {
        tags[i].trace = &trace;
        tags[i].tag = names[i];
        loop_timer_start(loop, &timers[i], after[i], 0, record_timer,
                         &tags[i]);
    }

    /* A stopped timer never fires. */
    loop_timer_stop(&timers[4]);
    CHECK(!loop_timer_active(&timers[4]));

    RUN_UNTIL(loop, trace.n == 4, 1000);

    /* Equal deadlines fire in start order. */
    CHECK_STR_EQ(trace.order, "bdca");
    CHECK(trace.fired_at[0] - start >= 10);
    CHECK(trace.fired_at[3] - start >= 30);
    CHECK(trace.fired_at[3] - start < 500);
    CHECK(!loop_timer_active(&timers[0]));

    RUN_UNTIL(loop, 0, 60);
    CHECK_INT_EQ(trace.n, 4);

    loop_destroy(loop);
}


typedef struct {
    loop_t    *loop;
    unsigned   ticks;
} ticker_t;


static void
tick(loop_timer_t *timer, void *data)
{
    ticker_t  *t = data;

    if (++t->ticks == 3) {
        loop_timer_stop(timer);
        loop_stop(t->loop);
    }
}


static void
test_repeating_timer(void)
{
    ticker_t       ticker;
    uint64_t       start;
    loop_timer_t   timer;

    memset(&timer, 0, sizeof(timer));
    ticker.loop = loop_create();
    ticker.ticks = 0;

    start = loop_now_ms();
    loop_timer_start(ticker.loop, &timer, 5, 10, tick, &ticker);

    CHECK_INT_EQ(loop_run(ticker.loop), 0);
    CHECK_INT_EQ(ticker.ticks, 3);
    CHECK(loop_now_ms() - start >= 25);
    CHECK(!loop_timer_active(&timer));

    loop_destroy(ticker.loop);
}


typedef struct {
    loop_io_t  *other;
    unsigned    calls;
    unsigned    events;
} io_probe_t;


static void
record_io(loop_io_t *io, int fd, unsigned events, void *data)
{
    io_probe_t  *p = data;
    char         buf[8];

    (void) io;
    p->calls++;
    p->events |= events;

    if (events & LOOP_READ) {
        if (read(fd, buf, sizeof(buf)) < 0) {
            p->events |= 0x100;
        }
    }

    /* Stopping another watcher from a callback must be safe. */
    if (p->other != NULL) {
        loop_io_stop(p->other);
    }
}


static void
test_fd_readiness(void)
{
    int          fds[2];
    loop_t      *loop = loop_create();
    loop_io_t    reader, writer;
    io_probe_t   r, w;

    memset(&reader, 0, sizeof(reader));
    memset(&writer, 0, sizeof(writer));
    memset(&r, 0, sizeof(r));
    memset(&w, 0, sizeof(w));

    if (pipe(fds) != 0) {
        CHECK(!"pipe");
        return;
    }

    loop_io_start(loop, &reader, fds[0], LOOP_READ, record_io, &r);
    loop_run_once(loop, 20);
    CHECK_INT_EQ(r.calls, 0);

    CHECK_INT_EQ(write(fds[1], "x", 1), 1);
    loop_run_once(loop, 1000);
    CHECK_INT_EQ(r.calls, 1);
    CHECK_INT_EQ(r.events, LOOP_READ);

    /* Drained: not readable any more. */
    loop_run_once(loop, 20);
    CHECK_INT_EQ(r.calls, 1);

    /* A pipe's write end is writable at once. */
    loop_io_start(loop, &writer, fds[1], LOOP_WRITE, record_io, &w);
    loop_run_once(loop, 1000);
    CHECK_INT_EQ(w.calls, 1);
    CHECK_INT_EQ(w.events, LOOP_WRITE);

    /* Losing write interest silences it. */
    loop_io_set(&writer, 0);
    loop_run_once(loop, 20);
    CHECK_INT_EQ(w.calls, 1);

    /* Both ready in one round: whichever runs first stops the other. */
    loop_io_set(&writer, LOOP_WRITE);
    CHECK_INT_EQ(write(fds[1], "y", 1), 1);
    r.other = &writer;
    w.other = &reader;
    r.calls = w.calls = 0;
    loop_run_once(loop, 1000);
    CHECK_INT_EQ(r.calls + w.calls, 1);

    loop_io_stop(&reader);
    loop_io_stop(&writer);
    close(fds[0]);
    close(fds[1]);
    loop_destroy(loop);
}


static void
on_usr1(loop_t *loop, int signo, void *data)
{
    *(int *) data = signo;
    loop_stop(loop);
}


static void
test_signal(void)
{
    int      got = 0;
    loop_t  *loop = loop_create();

    CHECK_INT_EQ(loop_signal(loop, SIGUSR1, on_usr1, &got), 0);
    raise(SIGUSR1);

    /* Delivered by the loop, not inside the signal handler. */
    CHECK_INT_EQ(got, 0);
    CHECK_INT_EQ(loop_run(loop), 0);
    CHECK_INT_EQ(got, SIGUSR1);
    CHECK(loop_stopping(loop));

    loop_destroy(loop);
}


void
test_loop(void)
{
    test_timer_order();
    test_repeating_timer();
    test_fd_readiness();
    test_signal();
}
