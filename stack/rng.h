/* A small, fast PRNG (xoshiro256**) for choices that need no secrecy
 * (impairment, jitter, port choice salt) and that tests want seeded. */
#ifndef TOYSOCK_RNG_H
#define TOYSOCK_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

void rng_seed(struct rng *rng, uint64_t seed);
uint64_t rng_next(struct rng *rng);
/* Uniform in [0, bound). bound must be non-zero. */
uint64_t rng_below(struct rng *rng, uint64_t bound);
/* Fills buf from the kernel's CSPRNG; falls back to the clock only if the
 * kernel refuses. */
void rng_os_bytes(void *buf, size_t len);

#endif
