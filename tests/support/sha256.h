/* SHA-256 (FIPS 180-4 §6.2) for the tests: a byte-exact check that what
 * one end sent is what the other received, without keeping either copy. */
#ifndef TOYSOCK_TEST_SHA256_H
#define TOYSOCK_TEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64

struct sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[SHA256_BLOCK_LEN];
    size_t fill; /* bytes waiting in block */
};

void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
/* Writes the digest; ctx must be initialised again before reuse. */
void sha256_final(struct sha256 *ctx, uint8_t out[SHA256_DIGEST_LEN]);
/* One call: digest of len bytes. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of a digest into out (at least 65 bytes). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char *out);

#endif
