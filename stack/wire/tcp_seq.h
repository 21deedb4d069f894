/* Sequence number arithmetic modulo 2^32 (RFC 9293 §3.4). Every comparison
 * of two sequence numbers goes through these: a plain `<` is wrong as soon
 * as the space wraps.
 *
 * a is "before" b when the forward distance from a to b is less than 2^31.
 * Two numbers exactly 2^31 apart are each before the other; a correct
 * sender never has that much data in flight (RFC 7323 §2.3 caps the window
 * at 2^30). */
#ifndef TOYSOCK_WIRE_TCP_SEQ_H
#define TOYSOCK_WIRE_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

/* a - b as a signed distance, without relying on an unsigned-to-signed
 * conversion of an out-of-range value. */
static inline int32_t seq_diff(uint32_t a, uint32_t b)
{
    uint32_t d = a - b;
    if (d < 0x80000000u)
        return (int32_t)d;
    /* d >= 2^31: the result is d - 2^32 = -(~d) - 1, and ~d < 2^31. */
    return -(int32_t)~d - 1;
}

static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (uint32_t)(a - b) >= 0x80000000u;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
    return a == b || seq_lt(a, b);
}

static inline bool seq_gt(uint32_t a, uint32_t b)
{
    return seq_lt(b, a);
}

static inline bool seq_geq(uint32_t a, uint32_t b)
{
    return a == b || seq_lt(b, a);
}

static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
    return seq_lt(a, b) ? b : a;
}

static inline uint32_t seq_min(uint32_t a, uint32_t b)
{
    return seq_lt(a, b) ? a : b;
}

/* start <= x < start + len, all modulo 2^32. False when len is 0. */
static inline bool seq_in_window(uint32_t x, uint32_t start, uint32_t len)
{
    return (uint32_t)(x - start) < len;
}

#endif
