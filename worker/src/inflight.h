#ifndef LIAUTO_INFLIGHT_H
#define LIAUTO_INFLIGHT_H

#include <stddef.h>

/*
 * The items a sender has in flight (engine sends, inbox replies,
 * withdrawals): an intrusive doubly linked list with its count, bounded
 * by a maximum. Each item embeds an inflight_item_t; inflight_data() gets
 * the item back from it. Shared so every sender counts and frees alike.
 */

typedef struct inflight_item_s  inflight_item_t;

struct inflight_item_s {
    inflight_item_t  *prev;
    inflight_item_t  *next;
};

typedef struct {
    inflight_item_t  *head;
    unsigned          count;
    unsigned          max;
} inflight_t;

#define inflight_data(item, type, member)                                   \
    ((type *) ((char *) (item) - offsetof(type, member)))

void inflight_init(inflight_t *list, unsigned max);
void inflight_add(inflight_t *list, inflight_item_t *item);
void inflight_remove(inflight_t *list, inflight_item_t *item);

/* How many more items may be taken now (0 when full). */
unsigned inflight_room(const inflight_t *list);

#endif
