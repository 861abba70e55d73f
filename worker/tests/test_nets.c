#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "harness.h"
#include "nets.h"


/* a sockaddr for text, IPv4 or IPv6 */
static const struct sockaddr *
addr(const char *text)
{
    static struct sockaddr_storage  ss;
    struct sockaddr_in             *sin = (struct sockaddr_in *) &ss;
    struct sockaddr_in6            *sin6 = (struct sockaddr_in6 *) &ss;

    memset(&ss, 0, sizeof(ss));

    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;

    } else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
    }

    return (const struct sockaddr *) &ss;
}


static void
test_internal(void)
{
    CHECK_STR_EQ(nets_internal(addr("127.0.0.1")), "loopback");
    CHECK_STR_EQ(nets_internal(addr("127.255.0.9")), "loopback");
    CHECK_STR_EQ(nets_internal(addr("10.20.30.40")), "private");
    CHECK_STR_EQ(nets_internal(addr("172.16.0.1")), "private");
    CHECK_STR_EQ(nets_internal(addr("172.31.255.255")), "private");
    CHECK_STR_EQ(nets_internal(addr("192.168.0.1")), "private");
    CHECK_STR_EQ(nets_internal(addr("100.64.0.1")),
                 "private (carrier-grade NAT)");
    CHECK_STR_EQ(nets_internal(addr("169.254.169.254")), "link-local");
    CHECK_STR_EQ(nets_internal(addr("224.0.0.251")), "multicast");
    CHECK_STR_EQ(nets_internal(addr("0.0.0.0")), "unspecified");
    CHECK_STR_EQ(nets_internal(addr("255.255.255.255")), "reserved");
    CHECK_STR_EQ(nets_internal(addr("::1")), "loopback");
    CHECK_STR_EQ(nets_internal(addr("::")), "unspecified");
    CHECK_STR_EQ(nets_internal(addr("fe80::1")), "link-local");
    CHECK_STR_EQ(nets_internal(addr("fd00::1")), "private (unique local)");
    CHECK_STR_EQ(nets_internal(addr("ff02::1")), "multicast");

    /* IPv4-mapped: what the connection reaches */
    CHECK_STR_EQ(nets_internal(addr("::ffff:127.0.0.1")), "loopback");
    CHECK_STR_EQ(nets_internal(addr("::ffff:169.254.169.254")),
                 "link-local");
    CHECK(nets_internal(addr("::ffff:8.8.8.8")) == NULL);

    /* public, next to the edges of the private ranges */
    CHECK(nets_internal(addr("8.8.8.8")) == NULL);
    CHECK(nets_internal(addr("172.32.0.1")) == NULL);
    CHECK(nets_internal(addr("172.15.255.255")) == NULL);
    CHECK(nets_internal(addr("11.0.0.1")) == NULL);
    CHECK(nets_internal(addr("2606:4700::1111")) == NULL);
}


static void
test_allow(void)
{
    char     err[160];
    nets_t  *nets;

    nets = nets_parse("127.0.0.0/8, ::1 10.1.2.0/24", err, sizeof(err));
    CHECK(nets != NULL);
    CHECK(nets_contains(nets, addr("127.0.0.1")));
    CHECK(nets_contains(nets, addr("::ffff:127.9.9.9")));
    CHECK(nets_contains(nets, addr("::1")));
    CHECK(nets_contains(nets, addr("10.1.2.200")));
    CHECK(!nets_contains(nets, addr("10.1.3.1")));
    CHECK(!nets_contains(nets, addr("::2")));
    CHECK(!nets_contains(nets, addr("169.254.169.254")));
    nets_free(nets);

    nets = nets_parse(NULL, err, sizeof(err));
    CHECK(nets != NULL);
    CHECK(!nets_contains(nets, addr("127.0.0.1")));
    nets_free(nets);

    CHECK(nets_parse("127.0.0.0/33", err, sizeof(err)) == NULL);
    CHECK_STR_CONTAINS(err, "\"127.0.0.0/33\" is not an IPv4 or IPv6");
    CHECK(nets_parse("10.0.0.0/8,intranet", err, sizeof(err)) == NULL);
    CHECK_STR_CONTAINS(err, "\"intranet\"");
    CHECK(nets_parse("10.0.0.0/", err, sizeof(err)) == NULL);
}


void
test_nets(void)
{
    test_internal();
    test_allow();
}
