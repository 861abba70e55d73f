#include <stdio.h>

#include <openssl/evp.h>

#include "checksum.h"


int
sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    unsigned char  digest[EVP_MAX_MD_SIZE];
    unsigned int   n, i;

    if (EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) != 1
        || n * 2 != SHA256_HEX_LEN)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }

    return 0;
}
