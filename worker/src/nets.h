#ifndef LIAUTO_NETS_H
#define LIAUTO_NETS_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Address checks for outbound webhooks (SSRF guard): a subscriber's URL
 * must not reach this host or its network. nets_internal() names what
 * an address is when it is one of those (loopback, private, link-local,
 * multicast, unspecified, reserved), IPv4-mapped IPv6 addresses judged as
 * their IPv4 address; a nets_t is an allow-list of CIDRs that lifts the
 * refusal (LIAUTO_WEBHOOK_ALLOW_NETS, for tests and the local simulator).
 */

typedef struct nets_s  nets_t;

/*
 * "127.0.0.0/8, ::1" (commas or spaces; no /bits: one address). NULL or
 * "" is the empty list. NULL with the offending entry in err when one is
 * not a CIDR.
 */
nets_t *nets_parse(const char *list, char *err, size_t len);
void nets_free(nets_t *nets);

/* 1 when sa (AF_INET or AF_INET6) is in one of the list's networks. */
int nets_contains(const nets_t *nets, const struct sockaddr *sa);

/* "loopback", "private", ...: sa must not be reached; NULL: public. */
const char *nets_internal(const struct sockaddr *sa);

/* sa's address as text into buf (INET6_ADDRSTRLEN bytes). */
const char *nets_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
