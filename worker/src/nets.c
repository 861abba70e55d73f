#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets.h"

/* an address family and the first bits of the network, IPv4 in 4 bytes */
typedef struct {
    int            family;
    unsigned char  addr[16];
    int            bits;
} cidr_t;

struct nets_s {
    cidr_t  *cidrs;
    size_t   n;
};

typedef struct {
    const char  *cidr;
    const char  *kind;
} internal_t;

/* first match wins: ::1 before ::/96 */
static const internal_t  internal_nets[] = {
    { "0.0.0.0/8", "unspecified" },
    { "10.0.0.0/8", "private" },
    { "100.64.0.0/10", "private (carrier-grade NAT)" },
    { "127.0.0.0/8", "loopback" },
    { "169.254.0.0/16", "link-local" },
    { "172.16.0.0/12", "private" },
    { "192.0.0.0/24", "reserved" },
    { "192.168.0.0/16", "private" },
    { "198.18.0.0/15", "reserved (benchmarking)" },
    { "224.0.0.0/4", "multicast" },
    { "240.0.0.0/4", "reserved" },
    { "::/128", "unspecified" },
    { "::1/128", "loopback" },
    { "::/96", "reserved (IPv4-compatible)" },
    { "fc00::/7", "private (unique local)" },
    { "fe80::/10", "link-local" },
    { "fec0::/10", "private (site-local)" },
    { "ff00::/8", "multicast" },
};

#define INTERNAL_N  (sizeof(internal_nets) / sizeof(internal_nets[0]))


static int
cidr_parse(const char *text, size_t len, cidr_t *c)
{
    char   buf[64], *slash, *end;
    long   bits;

    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';

    slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
    }

    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;

    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;

    } else {
        return -1;
    }

    if (slash != NULL) {
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1 || bits < 0 || bits > c->bits) {
            return -1;
        }
        c->bits = (int) bits;
    }

    return 0;
}


static int
cidr_match(const cidr_t *c, int family, const unsigned char *addr)
{
    int            full, rest;
    unsigned char  mask;

    if (c->family != family) {
        return 0;
    }

    full = c->bits / 8;
    rest = c->bits % 8;

    if (memcmp(c->addr, addr, (size_t) full) != 0) {
        return 0;
    }

    mask = (unsigned char) (0xff << (8 - rest));
    return rest == 0 || ((c->addr[full] ^ addr[full]) & mask) == 0;
}


/*
 * The family and bytes to judge sa by: an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is the IPv4 address it reaches. -1: another family.
 */
static int
address_of(const struct sockaddr *sa, const unsigned char **addr)
{
    const struct sockaddr_in6  *sin6;

    static const unsigned char  mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    if (sa->sa_family == AF_INET) {
        *addr = (const unsigned char *)
                    &((const struct sockaddr_in *) sa)->sin_addr;
        return AF_INET;
    }

    if (sa->sa_family != AF_INET6) {
        return -1;
    }

    sin6 = (const struct sockaddr_in6 *) sa;
    *addr = sin6->sin6_addr.s6_addr;

    if (memcmp(*addr, mapped, sizeof(mapped)) == 0) {
        *addr += sizeof(mapped);
        return AF_INET;
    }

    return AF_INET6;
}


nets_t *
nets_parse(const char *list, char *err, size_t len)
{
    size_t       n;
    nets_t      *nets;
    const char  *p, *start;

    nets = calloc(1, sizeof(nets_t));
    if (nets == NULL) {
        snprintf(err, len, "out of memory");
        return NULL;
    }

    p = list != NULL ? list : "";
    n = strlen(p) / 2 + 1;
    nets->cidrs = calloc(n, sizeof(cidr_t));
    if (nets->cidrs == NULL) {
        free(nets);
        snprintf(err, len, "out of memory");
        return NULL;
    }

    while (*p != '\0') {
        p += strspn(p, ", \t");
        start = p;
        p += strcspn(p, ", \t");

        if (p == start) {
            continue;
        }

        if (cidr_parse(start, (size_t) (p - start), &nets->cidrs[nets->n])
            != 0)
        {
            snprintf(err, len, "\"%.*s\" is not an IPv4 or IPv6 address "
                     "or network (a.b.c.d/bits, x::y/bits)",
                     (int) (p - start), start);
            nets_free(nets);
            return NULL;
        }

        nets->n++;
    }

    return nets;
}


void
nets_free(nets_t *nets)
{
    if (nets != NULL) {
        free(nets->cidrs);
        free(nets);
    }
}


int
nets_contains(const nets_t *nets, const struct sockaddr *sa)
{
    int                   family;
    size_t                i;
    const unsigned char  *addr;

    family = address_of(sa, &addr);
    if (family < 0) {
        return 0;
    }

    for (i = 0; nets != NULL && i < nets->n; i++) {
        if (cidr_match(&nets->cidrs[i], family, addr)) {
            return 1;
        }
    }

    return 0;
}


const char *
nets_internal(const struct sockaddr *sa)
{
    int                   family;
    size_t                i;
    cidr_t                c;
    const unsigned char  *addr;

    family = address_of(sa, &addr);
    if (family < 0) {
        return "not an IP address";
    }

    for (i = 0; i < INTERNAL_N; i++) {
        if (cidr_parse(internal_nets[i].cidr, strlen(internal_nets[i].cidr),
                       &c) == 0
            && cidr_match(&c, family, addr))
        {
            return internal_nets[i].kind;
        }
    }

    return NULL;
}


const char *
nets_format(const struct sockaddr *sa, char *buf, size_t len)
{
    const void  *addr;

    addr = sa->sa_family == AF_INET
           ? (const void *) &((const struct sockaddr_in *) sa)->sin_addr
           : (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr;

    if (inet_ntop(sa->sa_family, addr, buf, (socklen_t) len) == NULL) {
        snprintf(buf, len, "?");
    }

    return buf;
}
