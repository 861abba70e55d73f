#ifndef LIAUTO_BACKOFF_H
#define LIAUTO_BACKOFF_H

#include <stdint.h>

/*
 * Exponential backoff with "equal jitter": the attempt-th delay is drawn
 * uniformly from [d/2, d] where d = min(cap, base * 2^attempt). Half of
 * the delay is guaranteed, so a herd of workers never hammers a database
 * that just came back, and the random half spreads them out.
 */

/* random is any uniformly distributed 32-bit value (tests pass fixed ones). */
uint64_t backoff_delay_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
    uint32_t random);

/* A random 32-bit value for backoff_delay_ms() (not for cryptography). */
uint32_t backoff_random(void);

#endif
