#ifndef LIAUTO_LOOP_H
#define LIAUTO_LOOP_H

#include <stdint.h>

/*
 * A small poll()-based event loop: fd watchers, millisecond timers and
 * signals delivered through a self-pipe. Watchers and timers are owned by
 * the caller (embedded in its structs, or allocated per socket as libcurl's
 * CURLMOPT_SOCKETFUNCTION needs); the loop only links them. A watcher or
 * timer may be stopped, restarted or freed from inside any callback.
 * Watchers and timers must be zero-initialized before their first start.
 */

#define LOOP_READ   0x01
#define LOOP_WRITE  0x02
#define LOOP_ERROR  0x04     /* POLLERR/POLLHUP/POLLNVAL: only delivered */

typedef struct loop_s        loop_t;
typedef struct loop_io_s     loop_io_t;
typedef struct loop_timer_s  loop_timer_t;

typedef void (*loop_io_pt)(loop_io_t *io, int fd, unsigned events,
    void *data);
typedef void (*loop_timer_pt)(loop_timer_t *timer, void *data);
typedef void (*loop_signal_pt)(loop_t *loop, int signo, void *data);

struct loop_io_s {
    loop_t        *loop;       /* NULL while stopped */
    loop_io_t     *next;
    loop_io_t     *prev;
    int            fd;
    unsigned       interest;
    loop_io_pt     handler;
    void          *data;
};

struct loop_timer_s {
    loop_t         *loop;      /* NULL while stopped */
    loop_timer_t   *next;
    loop_timer_t   *prev;
    uint64_t        deadline;  /* loop_now_ms() clock */
    uint64_t        repeat;    /* 0: one-shot */
    loop_timer_pt   handler;
    void           *data;
};

loop_t *loop_create(void);
void loop_destroy(loop_t *loop);

/* Runs until loop_stop(); returns 0, or -1 if poll() fails for good. */
int loop_run(loop_t *loop);

/* Runs one poll() round waiting at most max_wait_ms (-1: no limit). */
int loop_run_once(loop_t *loop, int max_wait_ms);

void loop_stop(loop_t *loop);
int loop_stopping(const loop_t *loop);

void loop_io_start(loop_t *loop, loop_io_t *io, int fd, unsigned interest,
    loop_io_pt handler, void *data);
void loop_io_set(loop_io_t *io, unsigned interest);
void loop_io_stop(loop_io_t *io);

/* Fires after after_ms, then every repeat_ms if repeat_ms is not 0. */
void loop_timer_start(loop_t *loop, loop_timer_t *timer, uint64_t after_ms,
    uint64_t repeat_ms, loop_timer_pt handler, void *data);
void loop_timer_stop(loop_timer_t *timer);
int loop_timer_active(const loop_timer_t *timer);

/*
 * Calls handler from the loop (not from the signal handler) when signo
 * arrives. Only one loop per process may handle signals.
 */
int loop_signal(loop_t *loop, int signo, loop_signal_pt handler, void *data);

/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);

#endif
