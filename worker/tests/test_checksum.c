#include "checksum.h"
#include "harness.h"


void
test_checksum(void)
{
    char  hex[SHA256_HEX_LEN + 1];

    /* FIPS 180-2 test vectors. */
    CHECK_INT_EQ(sha256_hex("abc", 3, hex), 0);
    CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223"
                      "b00361a396177a9cb410ff61f20015ad");

    CHECK_INT_EQ(sha256_hex("", 0, hex), 0);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                      "27ae41e4649b934ca495991b7852b855");

    CHECK_INT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnom"
                            "nopnopq", 56, hex), 0);
    CHECK_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039"
                      "a33ce45964ff2167f6ecedd419db06c1");
}
