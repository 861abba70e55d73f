#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"


uint64_t
backoff_delay_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
    uint32_t random)
{
    uint64_t  d = base_ms, half;

    while (attempt-- > 0 && d < cap_ms) {
        d *= 2;
    }

    if (d > cap_ms) {
        d = cap_ms;
    }

    half = d / 2;
    return half + (uint64_t) random % (d - half + 1);
}


uint32_t
backoff_random(void)
{
    static unsigned int  seed;

    if (seed == 0) {
        seed = (unsigned int) time(NULL) ^ ((unsigned int) getpid() << 16);
    }

    return (uint32_t) rand_r(&seed) ^ ((uint32_t) rand_r(&seed) << 16);
}
