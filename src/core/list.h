/* core/list.h: an intrusive doubly-linked list (the node lives inside the
 * object; recover the object with pn_container_of). */
#ifndef PN_CORE_LIST_H
#define PN_CORE_LIST_H

#include <stddef.h>

typedef struct pn_list {
    struct pn_list *prev, *next;
} pn_list_t;

#define pn_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/** Make <l> an empty list head (or an unlinked node). */
static inline void pn_list_init(pn_list_t *l) { l->prev = l->next = l; }
/** Nonzero when the head <l> has no node (or the node <l> is unlinked). */
static inline int pn_list_empty(const pn_list_t *l) { return l->next == l; }
/** Link <n> at the tail of <head>. */
static inline void
pn_list_add(pn_list_t *head, pn_list_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}
/** Unlink <n> (a no-op for an unlinked node) and leave it unlinked. */
static inline void
pn_list_del(pn_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#endif
