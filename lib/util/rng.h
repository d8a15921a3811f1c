/* Seeded pseudo-random numbers for everything that must be reproducible (shuffles, splits,
 * dropout, initialisation): xoshiro256** seeded through splitmix64.  The state is four
 * words, so it is trivially saved in checkpoints and restored on --resume. */
#ifndef EMO_RNG_H
#define EMO_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s[4]; } rng_t;

void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_u64(rng_t *r);
/* uniform in [0, n) without modulo bias; n > 0 */
uint64_t rng_below(rng_t *r, uint64_t n);
/* uniform float in [0, 1) with 24 random bits */
float rng_uniform(rng_t *r);
/* uniform double in [0, 1) with 53 random bits */
double rng_double(rng_t *r);
/* standard normal (Box-Muller, one value per call) */
double rng_normal(rng_t *r);
/* Fisher-Yates shuffle of n uint32 */
void rng_shuffle_u32(rng_t *r, uint32_t *a, uint64_t n);

#endif
