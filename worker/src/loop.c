#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_MAX_SIGNALS  8

typedef struct {
    int             signo;
    loop_signal_pt  handler;
    void           *data;
} loop_signal_t;

struct loop_s {
    loop_io_t       *ios;
    unsigned         nios;
    loop_timer_t    *timers;          /* sorted by deadline */

    /* The current poll() round; entries of stopped watchers are cleared
     * so that a callback may free another watcher safely. */
    struct pollfd   *pollfds;
    loop_io_t      **polled;
    unsigned         npolled;
    unsigned         capacity;

    int              stopping;

    int              signal_pipe[2];
    loop_io_t        signal_io;
    loop_signal_t    signals[LOOP_MAX_SIGNALS];
    unsigned         nsignals;
};

/* The self-pipe's write end, for the async-signal-safe handler. */
static int  signal_write_fd = -1;


uint64_t
loop_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


loop_t *
loop_create(void)
{
    loop_t  *loop;

    loop = calloc(1, sizeof(loop_t));
    if (loop == NULL) {
        return NULL;
    }

    loop->signal_pipe[0] = -1;
    loop->signal_pipe[1] = -1;
    return loop;
}


void
loop_destroy(loop_t *loop)
{
    unsigned  i;

    /* Handlers must not write into a closed (or reused) descriptor. */
    for (i = 0; i < loop->nsignals; i++) {
        signal(loop->signals[i].signo, SIG_DFL);
    }

    if (loop->signal_pipe[0] != -1) {
        loop_io_stop(&loop->signal_io);
        signal_write_fd = -1;
        close(loop->signal_pipe[0]);
        close(loop->signal_pipe[1]);
    }

    free(loop->pollfds);
    free(loop->polled);
    free(loop);
}


void
loop_stop(loop_t *loop)
{
    loop->stopping = 1;
}


int
loop_stopping(const loop_t *loop)
{
    return loop->stopping;
}


void
loop_io_start(loop_t *loop, loop_io_t *io, int fd, unsigned interest,
    loop_io_pt handler, void *data)
{
    loop_io_stop(io);

    io->loop = loop;
    io->fd = fd;
    io->interest = interest;
    io->handler = handler;
    io->data = data;

    io->prev = NULL;
    io->next = loop->ios;
    if (loop->ios != NULL) {
        loop->ios->prev = io;
    }
    loop->ios = io;
    loop->nios++;
}


void
loop_io_set(loop_io_t *io, unsigned interest)
{
    io->interest = interest;
}


void
loop_io_stop(loop_io_t *io)
{
    loop_t    *loop = io->loop;
    unsigned   i;

    if (loop == NULL) {
        return;
    }

    if (io->prev != NULL) {
        io->prev->next = io->next;
    } else {
        loop->ios = io->next;
    }
    if (io->next != NULL) {
        io->next->prev = io->prev;
    }

    for (i = 0; i < loop->npolled; i++) {
        if (loop->polled[i] == io) {
            loop->polled[i] = NULL;
        }
    }

    loop->nios--;
    io->loop = NULL;
}


static void
timer_insert(loop_t *loop, loop_timer_t *timer)
{
    loop_timer_t  *prev = NULL, *t = loop->timers;

    /* Equal deadlines keep their start order. */
    while (t != NULL && t->deadline <= timer->deadline) {
        prev = t;
        t = t->next;
    }

    timer->prev = prev;
    timer->next = t;
    if (t != NULL) {
        t->prev = timer;
    }
    if (prev != NULL) {
        prev->next = timer;
    } else {
        loop->timers = timer;
    }
}


static void
timer_unlink(loop_timer_t *timer)
{
    if (timer->prev != NULL) {
        timer->prev->next = timer->next;
    } else {
        timer->loop->timers = timer->next;
    }
    if (timer->next != NULL) {
        timer->next->prev = timer->prev;
    }
}


void
loop_timer_start(loop_t *loop, loop_timer_t *timer, uint64_t after_ms,
    uint64_t repeat_ms, loop_timer_pt handler, void *data)
{
    loop_timer_stop(timer);

    timer->loop = loop;
    timer->deadline = loop_now_ms() + after_ms;
    timer->repeat = repeat_ms;
    timer->handler = handler;
    timer->data = data;
    timer_insert(loop, timer);
}


void
loop_timer_stop(loop_timer_t *timer)
{
    if (timer->loop == NULL) {
        return;
    }

    timer_unlink(timer);
    timer->loop = NULL;
}


int
loop_timer_active(const loop_timer_t *timer)
{
    return timer->loop != NULL;
}


static void
run_timers(loop_t *loop)
{
    uint64_t       now = loop_now_ms();
    loop_timer_t  *t;

    while ((t = loop->timers) != NULL && t->deadline <= now) {
        timer_unlink(t);

        if (t->repeat != 0) {
            /* After a long stall fire once, not once per missed period. */
            t->deadline += t->repeat;
            if (t->deadline <= now) {
                t->deadline = now + t->repeat;
            }
            timer_insert(loop, t);

        } else {
            t->loop = NULL;
        }

        t->handler(t, t->data);
    }
}


static int
poll_timeout(const loop_t *loop, int max_wait_ms)
{
    uint64_t  now, wait;

    if (loop->timers == NULL) {
        return max_wait_ms;
    }

    now = loop_now_ms();
    wait = loop->timers->deadline > now ? loop->timers->deadline - now : 0;

    if (max_wait_ms >= 0 && wait > (uint64_t) max_wait_ms) {
        return max_wait_ms;
    }

    return wait > INT_MAX ? INT_MAX : (int) wait;
}


static int
prepare_pollfds(loop_t *loop)
{
    unsigned        n, capacity;
    loop_io_t      *io, **polled;
    struct pollfd  *pfd;

    if (loop->nios > loop->capacity) {
        capacity = loop->nios * 2;

        pfd = realloc(loop->pollfds, capacity * sizeof(struct pollfd));
        if (pfd == NULL) {
            return -1;
        }
        loop->pollfds = pfd;

        polled = realloc(loop->polled, capacity * sizeof(loop_io_t *));
        if (polled == NULL) {
            return -1;
        }
        loop->polled = polled;
        loop->capacity = capacity;
    }

    n = 0;
    for (io = loop->ios; io != NULL; io = io->next) {
        pfd = &loop->pollfds[n];
        pfd->fd = io->fd;
        pfd->events = ((io->interest & LOOP_READ) ? POLLIN : 0)
                      | ((io->interest & LOOP_WRITE) ? POLLOUT : 0);
        pfd->revents = 0;
        loop->polled[n++] = io;
    }

    loop->npolled = n;
    return 0;
}


static unsigned
translate_revents(short revents, unsigned interest)
{
    unsigned  events = 0;

    /* A hang-up or error is reported as readable/writable too, so that
     * the owner's next read or write finds out what happened. */
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        events |= LOOP_READ;
    }
    if (revents & (POLLOUT | POLLHUP | POLLERR)) {
        events |= LOOP_WRITE;
    }
    if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
        events |= LOOP_ERROR;
    }

    return events & (interest | LOOP_ERROR);
}


static void
dispatch_io(loop_t *loop)
{
    unsigned    i, events;
    loop_io_t  *io;

    for (i = 0; i < loop->npolled; i++) {
        io = loop->polled[i];
        if (io == NULL || loop->pollfds[i].revents == 0) {
            continue;
        }

        events = translate_revents(loop->pollfds[i].revents, io->interest);
        if (events != 0) {
            io->handler(io, io->fd, events, io->data);
        }
    }
}


int
loop_run_once(loop_t *loop, int max_wait_ms)
{
    int  n;

    if (prepare_pollfds(loop) != 0) {
        log_error("event loop: out of memory for %u descriptors",
                  loop->nios);
        return -1;
    }

    n = poll(loop->pollfds, loop->npolled, poll_timeout(loop, max_wait_ms));

    if (n < 0) {
        loop->npolled = 0;
        if (errno == EINTR) {
            return 0;
        }
        log_error("event loop: poll() failed: %s", strerror(errno));
        return -1;
    }

    if (n > 0) {
        dispatch_io(loop);
    }
    loop->npolled = 0;

    run_timers(loop);
    return 0;
}


int
loop_run(loop_t *loop)
{
    while (!loop->stopping) {
        if (loop_run_once(loop, -1) != 0) {
            return -1;
        }
    }

    return 0;
}


static void
signal_to_pipe(int signo)
{
    int            saved_errno = errno;
    unsigned char  byte = (unsigned char) signo;

    /* A full pipe already holds a wake-up: dropping this byte is fine. */
    if (write(signal_write_fd, &byte, 1) < 0) {
        errno = saved_errno;
        return;
    }

    errno = saved_errno;
}


static void
signal_readable(loop_io_t *io, int fd, unsigned events, void *data)
{
    loop_t         *loop = data;
    unsigned char   buf[64];
    ssize_t         n, i;
    unsigned        k;

    (void) io;
    (void) events;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (i = 0; i < n; i++) {
            for (k = 0; k < loop->nsignals; k++) {
                if (loop->signals[k].signo == buf[i]) {
                    loop->signals[k].handler(loop, buf[i],
                                             loop->signals[k].data);
                }
            }
        }
    }
}


static int
open_signal_pipe(loop_t *loop)
{
    if (pipe2(loop->signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_error("event loop: cannot create the signal pipe: %s",
                  strerror(errno));
        return -1;
    }

    signal_write_fd = loop->signal_pipe[1];
    loop_io_start(loop, &loop->signal_io, loop->signal_pipe[0], LOOP_READ,
                  signal_readable, loop);
    return 0;
}


int
loop_signal(loop_t *loop, int signo, loop_signal_pt handler, void *data)
{
    struct sigaction  sa;

    if (loop->nsignals == LOOP_MAX_SIGNALS || signo > UCHAR_MAX) {
        log_error("event loop: cannot watch signal %d", signo);
        return -1;
    }

    if (loop->signal_pipe[0] == -1 && open_signal_pipe(loop) != 0) {
        return -1;
    }

    loop->signals[loop->nsignals].signo = signo;
    loop->signals[loop->nsignals].handler = handler;
    loop->signals[loop->nsignals].data = data;
    loop->nsignals++;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = signal_to_pipe;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART keeps blocking libpq calls going; poll() still returns
     * EINTR and the pipe wakes the loop anyway. */
    sa.sa_flags = SA_RESTART;

    if (sigaction(signo, &sa, NULL) != 0) {
        log_error("event loop: sigaction(%d) failed: %s", signo,
                  strerror(errno));
        loop->nsignals--;
        return -1;
    }

    return 0;
}
