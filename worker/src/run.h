#ifndef LIAUTO_RUN_H
#define LIAUTO_RUN_H

#include "config.h"

/*
 * `liauto-worker run`: the daemon. Connects (retrying while the database
 * is down), LISTENs, heartbeats, wakes on NOTIFY, and stops cleanly on
 * SIGTERM/SIGINT. Returns the process exit code.
 */
int worker_run(const liauto_config_t *cf);

#endif
