/* Unit tests for the test suite's SHA-256: the FIPS 180-4 example vectors
 * (one block, two blocks, the 896-bit message, a million 'a'), the empty
 * message, the padding boundaries at 55/56/63/64 bytes, and incremental
 * hashing in odd pieces agreeing with one call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

static void check_hex(const void *data, size_t len, const char *want)
{
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[2 * SHA256_DIGEST_LEN + 1];
    sha256(data, len, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, want);
}

static void test_fips_abc(void **state)
{
    (void)state;
    check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_empty(void **state)
{
    (void)state;
    check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_fips_two_blocks(void **state)
{
    (void)state;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_fips_896_bits(void **state)
{
    (void)state;
    const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_hex(m, strlen(m), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_fips_million_a(void **state)
{
    (void)state;
    size_t n = 1000000;
    char *m = malloc(n);
    assert_non_null(m);
    memset(m, 'a', n);
    check_hex(m, n, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* The same, fed a byte at a time through one context. */
    struct sha256 ctx;
    sha256_init(&ctx);
    for (size_t i = 0; i < n; i++)
        sha256_update(&ctx, "a", 1);
    uint8_t d[SHA256_DIGEST_LEN], want[SHA256_DIGEST_LEN];
    sha256_final(&ctx, d);
    sha256(m, n, want);
    assert_memory_equal(d, want, SHA256_DIGEST_LEN);
    free(m);
}

static void test_padding_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
    };
    char m[128];
    memset(m, 'a', sizeof(m));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        check_hex(m, v[i].n, v[i].hex);
}

static void test_incremental_matches_one_shot(void **state)
{
    (void)state;
    uint8_t buf[5000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 31 + (i >> 7));
    uint8_t want[SHA256_DIGEST_LEN], got[SHA256_DIGEST_LEN];
    sha256(buf, sizeof(buf), want);
    static const size_t pieces[] = {1, 3, 63, 64, 65, 127, 500, 7};
    struct sha256 ctx;
    sha256_init(&ctx);
    size_t off = 0, k = 0;
    while (off < sizeof(buf)) {
        size_t n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
        if (n > sizeof(buf) - off)
            n = sizeof(buf) - off;
        sha256_update(&ctx, buf + off, n);
        off += n;
    }
    sha256_final(&ctx, got);
    assert_memory_equal(got, want, SHA256_DIGEST_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_abc),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_fips_two_blocks),
        cmocka_unit_test(test_fips_896_bits),
        cmocka_unit_test(test_fips_million_a),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_incremental_matches_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
