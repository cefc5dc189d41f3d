/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SHA-1 (FIPS 180-4), for the name-based UUID (version 5, RFC 9562) that
 * service.instance.id is. Not for anything that needs a secure hash.
 */
#ifndef OA_SHA1_H
#define OA_SHA1_H

#include <stddef.h>

#define SHA1_DIGEST_LEN 20

/* The digest of msg[0..len), in one call. */
void sha1(const void *msg, size_t len, unsigned char digest[SHA1_DIGEST_LEN]);

#endif /* OA_SHA1_H */
