#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "completion.h"

/* Backoff of the outbox's own retries, on top of the client's. */
#define COMPLETION_RETRY_BASE_MS    60000
#define COMPLETION_RETRY_CAP_MS     3600000
#define COMPLETION_COOLOFF_BASE_MS  900000
#define COMPLETION_COOLOFF_CAP_MS   14400000


void
completion_init(completion_t *c, const char *outcome, const char *error)
{
    memset(c, 0, sizeof(completion_t));
    c->outcome = outcome;
    c->retry_in_s = -1;
    snprintf(c->error, sizeof(c->error), "%s", error != NULL ? error : "");
}


static double
backoff_s(unsigned attempts, uint64_t base_ms, uint64_t cap_ms)
{
    return backoff_delay_ms(attempts, base_ms, cap_ms, backoff_random())
           / 1000.0;
}


void
completion_from_result(completion_t *c, unsigned attempts,
    const unipile_result_t *res, int sent_phase)
{
    const unipile_verdict_t  *v = &res->verdict;
    const char               *outcome = "unknown";

    switch (v->outcome) {
    case UNIPILE_SENT:
        outcome = "sent";
        break;
    case UNIPILE_RETRY:
        /* a send the server answered (5xx) may have acted */
        outcome = sent_phase && v->status != 0 ? "retry" : "retry_unsent";
        break;
    case UNIPILE_ACCOUNT_COOLOFF:
        outcome = "account_cooloff";
        break;
    case UNIPILE_ACCOUNT_BLOCKED:
        outcome = "account_blocked";
        break;
    case UNIPILE_FINAL_LEAD:
        outcome = "final_lead";
        break;
    case UNIPILE_FINAL_LIMIT:
        outcome = "final_limit";
        break;
    case UNIPILE_UNKNOWN:
        outcome = sent_phase ? "unknown" : "retry_unsent";
        break;
    }

    completion_init(c, outcome, NULL);

    if (v->outcome != UNIPILE_SENT) {
        snprintf(c->error, sizeof(c->error), "%s%s%s%s%s (HTTP %ld)",
                 v->reason, v->type[0] ? ": " : "", v->type,
                 v->detail[0] ? ": " : "", v->detail, v->status);
    }

    if (strncmp(outcome, "retry", 5) == 0) {
        c->retry_in_s = backoff_s(attempts, COMPLETION_RETRY_BASE_MS,
                                  COMPLETION_RETRY_CAP_MS);

    } else if (v->outcome == UNIPILE_ACCOUNT_COOLOFF) {
        c->retry_in_s = v->retry_after_ms >= 0
                        ? v->retry_after_ms / 1000.0
                        : backoff_s(attempts, COMPLETION_COOLOFF_BASE_MS,
                                    COMPLETION_COOLOFF_CAP_MS);
    }
}
