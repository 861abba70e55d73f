#include <stdint.h>

#include "backoff.h"
#include "harness.h"


static uint64_t
expected_ceiling(unsigned attempt, uint64_t base, uint64_t cap)
{
    uint64_t  d = base;

    while (attempt-- > 0 && d < cap) {
        d *= 2;
    }

    return d < cap ? d : cap;
}


static void
test_bounds(void)
{
    unsigned  attempt, i, outside = 0;
    uint32_t  r;
    uint64_t  d, ceiling;

    for (attempt = 0; attempt < 40; attempt++) {
        ceiling = expected_ceiling(attempt, 500, 30000);

        for (i = 0; i < 2000; i++) {
            r = i < 2 ? (i == 0 ? 0 : UINT32_MAX) : backoff_random();
            d = backoff_delay_ms(attempt, 500, 30000, r);
            if (d < ceiling / 2 || d > ceiling) {
                outside++;
            }
        }
    }

    CHECK_INT_EQ(outside, 0);
}


static void
test_growth_and_cap(void)
{
    /* random 0 gives the floor of the range, d/2. */
    CHECK_INT_EQ(backoff_delay_ms(0, 500, 30000, 0), 250);
    CHECK_INT_EQ(backoff_delay_ms(1, 500, 30000, 0), 500);
    CHECK_INT_EQ(backoff_delay_ms(2, 500, 30000, 0), 1000);
    CHECK_INT_EQ(backoff_delay_ms(6, 500, 30000, 0), 15000);

    /* The top of the range is d itself, never above the cap. */
    CHECK_INT_EQ(backoff_delay_ms(0, 500, 30000, 250), 500);
    CHECK_INT_EQ(backoff_delay_ms(3, 500, 30000, 2000), 4000);
    CHECK_INT_EQ(backoff_delay_ms(7, 500, 30000, 15000), 30000);
    CHECK_INT_EQ(backoff_delay_ms(1000, 500, 30000, 15000), 30000);
    CHECK_INT_EQ(backoff_delay_ms(1000, 500, 30000, 0), 15000);

    /* A cap below the base wins too. */
    CHECK_INT_EQ(backoff_delay_ms(0, 500, 200, 100), 200);
}


static void
test_jitter_spreads(void)
{
    unsigned  i, low = 0, high = 0;
    uint64_t  d;

    /* Random values must use the whole range, not one point of it. */
    for (i = 0; i < 1000; i++) {
        d = backoff_delay_ms(4, 500, 30000, backoff_random());
        low += d < 5000;
        high += d >= 7000;
    }

    CHECK(low > 100);
    CHECK(high > 100);
}


void
test_backoff(void)
{
    test_bounds();
    test_growth_and_cap();
    test_jitter_spreads();
}
