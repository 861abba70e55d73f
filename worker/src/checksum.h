#ifndef LIAUTO_CHECKSUM_H
#define LIAUTO_CHECKSUM_H

#include <stddef.h>

#define SHA256_HEX_LEN  64

/* Writes the lowercase hex SHA-256 of data (plus NUL) into hex. */
int sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

#endif
