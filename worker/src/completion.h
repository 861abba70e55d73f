#ifndef LIAUTO_COMPLETION_H
#define LIAUTO_COMPLETION_H

#include "unipile.h"

/*
 * What a send's outcome means for the outbox: the outcome word that
 * engine.complete_action (sequence steps) and engine.complete_reply
 * (inbox replies) take, the retry time, the provider's ids and the
 * reason. Shared by engine.c and replies.c so both classify alike.
 */

typedef struct {
    const char  *outcome;
    double       retry_in_s;           /* < 0: no retry time */
    const char  *external_id;
    const char  *conversation_id;
    char         error[384];
} completion_t;

void completion_init(completion_t *c, const char *outcome, const char *error);

/*
 * Maps the client's verdict to the outcome. sent_phase: the answer is the
 * send's own; before it (profile, chat lookup) nothing was sent whatever
 * happened, so the budget unit goes back. attempts: the claims the action
 * used, for the backoff of retries and cool-offs.
 */
void completion_from_result(completion_t *c, unsigned attempts,
    const unipile_result_t *res, int sent_phase);

#endif
