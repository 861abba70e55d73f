#include "inflight.h"


void
inflight_init(inflight_t *list, unsigned max)
{
    list->head = NULL;
    list->count = 0;
    list->max = max;
}


void
inflight_add(inflight_t *list, inflight_item_t *item)
{
    item->prev = NULL;
    item->next = list->head;
    if (list->head != NULL) {
        list->head->prev = item;
    }
    list->head = item;
    list->count++;
}


void
inflight_remove(inflight_t *list, inflight_item_t *item)
{
    if (item->prev != NULL) {
        item->prev->next = item->next;
    } else {
        list->head = item->next;
    }
    if (item->next != NULL) {
        item->next->prev = item->prev;
    }

    item->prev = NULL;
    item->next = NULL;
    list->count--;
}


unsigned
inflight_room(const inflight_t *list)
{
    return list->count < list->max ? list->max - list->count : 0;
}
