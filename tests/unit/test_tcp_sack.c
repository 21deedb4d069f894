/* The SACK scoreboard (RFC 6675): adding and merging blocks, rejecting bad
 * ones, advancing, IsLost, NextSeg helpers, SetPipe, the range bound, and
 * everything again across the 2^32 wrap and against a bitmap model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_sack.h"
#include "wire/tcp_seq.h"

struct rng {
    uint64_t s;
};

static uint32_t rng_u32(struct rng *g)
{
    /* xorshift64* */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return (uint32_t)((g->s * 0x2545f4914f6cdd1dull) >> 32);
}

/* Sorted, disjoint, not touching, non-empty, and sacked_bytes right. */
static void assert_sb_invariants(const struct tcp_scoreboard *sb)
{
    uint32_t sum = 0;
    assert_true(sb->count <= TCP_SACK_RANGES_MAX);
    for (unsigned i = 0; i < sb->count; i++) {
        assert_true(seq_lt(sb->left[i], sb->right[i]));
        if (i > 0)
            assert_true(seq_lt(sb->right[i - 1], sb->left[i]));
        sum += sb->right[i] - sb->left[i];
    }
    assert_int_equal(sb->sacked_bytes, sum);
}

/* Bases for each test: plain, and ranges straddling the 2^32 wrap. */
static const uint32_t bases[] = {1000, 0xffffffffu - 2500, 0xfffffc00u, 0x7ffffe00u};
#define NBASES (sizeof(bases) / sizeof(bases[0]))

static void test_empty(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    uint32_t len;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b];
        tcp_sack_reset(&sb);
        assert_int_equal(sb.count, 0);
        assert_int_equal(sb.sacked_bytes, 0);
        assert_int_equal(tcp_sack_high(&sb, una), una);
        assert_false(tcp_sack_is_sacked(&sb, una));
        assert_int_equal(tcp_sack_bytes_above(&sb, una), 0);
        assert_false(tcp_sack_is_lost(&sb, una, 1000, 3));
        assert_int_equal(tcp_sack_next_hole(&sb, una, una + 5000, &len), una);
        assert_int_equal(len, 5000);
        assert_int_equal(tcp_sack_next_hole(&sb, una, una, &len), una);
        assert_int_equal(len, 0);
        uint32_t s = 0;
        assert_false(tcp_sack_next_lost(&sb, una, 1000, 3, &s, &len));
        assert_int_equal(tcp_sack_pipe(&sb, una, una + 5000, una, 1000, 3), 5000);
    }
}

static void test_add_and_merge(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b], nxt = una + 10000;
        tcp_sack_reset(&sb);
        assert_true(tcp_sack_add(&sb, una + 1000, una + 2000, una, nxt));
        assert_true(tcp_sack_add(&sb, una + 4000, una + 5000, una, nxt));
        assert_true(tcp_sack_add(&sb, una + 7000, una + 8000, una, nxt));
        assert_int_equal(sb.count, 3);
        assert_int_equal(sb.sacked_bytes, 3000);
        /* The same again, or inside: nothing new. */
        assert_false(tcp_sack_add(&sb, una + 1000, una + 2000, una, nxt));
        assert_false(tcp_sack_add(&sb, una + 4200, una + 4800, una, nxt));
        /* Touching on the right merges. */
        assert_true(tcp_sack_add(&sb, una + 2000, una + 2500, una, nxt));
        assert_int_equal(sb.count, 3);
        assert_int_equal(sb.right[0], una + 2500);
        /* Touching on the left merges. */
        assert_true(tcp_sack_add(&sb, una + 3500, una + 4000, una, nxt));
        assert_int_equal(sb.count, 3);
        assert_int_equal(sb.left[1], una + 3500);
        /* Bridging with overlap on both sides. */
        assert_true(tcp_sack_add(&sb, una + 2400, una + 3600, una, nxt));
        assert_int_equal(sb.count, 2);
        assert_int_equal(sb.left[0], una + 1000);
        assert_int_equal(sb.right[0], una + 5000);
        /* Covering everything. */
        assert_true(tcp_sack_add(&sb, una + 500, una + 9000, una, nxt));
        assert_int_equal(sb.count, 1);
        assert_int_equal(sb.sacked_bytes, 8500);
        assert_sb_invariants(&sb);
        /* A new lowest range goes first. */
        assert_true(tcp_sack_add(&sb, una + 100, una + 200, una, nxt));
        assert_int_equal(sb.left[0], una + 100);
        assert_int_equal(sb.left[1], una + 500);
        assert_sb_invariants(&sb);
    }
}

static void test_add_rejects(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b], nxt = una + 10000;
        tcp_sack_reset(&sb);
        assert_false(tcp_sack_add(&sb, una + 2000, una + 1000, una, nxt)); /* inverted */
        assert_false(tcp_sack_add(&sb, una + 2000, una + 2000, una, nxt)); /* empty */
        assert_false(tcp_sack_add(&sb, una + 9000, nxt + 1, una, nxt));    /* never sent */
        assert_false(tcp_sack_add(&sb, una - 3000, una - 1000, una, nxt)); /* D-SACK */
        assert_false(tcp_sack_add(&sb, una - 3000, una, una, nxt));        /* D-SACK */
        /* A block 2^31 long or wildly off is "inverted" modulo 2^32. */
        assert_false(tcp_sack_add(&sb, una + 10, una + 10 + 0x80000000u, una, nxt));
        assert_int_equal(sb.count, 0);
        assert_int_equal(sb.sacked_bytes, 0);
        /* Straddling snd_una: trimmed to it. */
        assert_true(tcp_sack_add(&sb, una - 500, una + 500, una, nxt));
        assert_int_equal(sb.left[0], una);
        assert_int_equal(sb.right[0], una + 500);
        assert_int_equal(sb.sacked_bytes, 500);
        tcp_sack_reset(&sb);
        assert_true(tcp_sack_add(&sb, una - 1, una + 10, una, nxt));
        assert_int_equal(sb.left[0], una);
        assert_int_equal(sb.sacked_bytes, 10);
        tcp_sack_reset(&sb);
        assert_true(tcp_sack_add(&sb, una - 500, una + 500, una, nxt));
        /* Ending exactly at snd_nxt is fine. */
        assert_true(tcp_sack_add(&sb, una + 9000, nxt, una, nxt));
        assert_int_equal(sb.count, 2);
        assert_sb_invariants(&sb);
    }
}

static void test_advance(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b], nxt = una + 10000;
        tcp_sack_reset(&sb);
        tcp_sack_add(&sb, una + 1000, una + 2000, una, nxt);
        tcp_sack_add(&sb, una + 3000, una + 4000, una, nxt);
        tcp_sack_add(&sb, una + 5000, una + 6000, una, nxt);
        tcp_sack_advance(&sb, una + 500); /* below everything */
        assert_int_equal(sb.count, 3);
        assert_int_equal(sb.sacked_bytes, 3000);
        tcp_sack_advance(&sb, una + 2000); /* exactly the end of the first */
        assert_int_equal(sb.count, 2);
        assert_int_equal(sb.left[0], una + 3000);
        assert_int_equal(sb.sacked_bytes, 2000);
        tcp_sack_advance(&sb, una + 3500); /* into the (new) first */
        assert_int_equal(sb.count, 2);
        assert_int_equal(sb.left[0], una + 3500);
        assert_int_equal(sb.sacked_bytes, 1500);
        assert_false(tcp_sack_is_sacked(&sb, una + 3499));
        assert_true(tcp_sack_is_sacked(&sb, una + 3500));
        tcp_sack_advance(&sb, una + 8000); /* past everything */
        assert_int_equal(sb.count, 0);
        assert_int_equal(sb.sacked_bytes, 0);
        assert_int_equal(tcp_sack_high(&sb, una + 8000), una + 8000);
    }
}

static void test_queries(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    uint32_t len;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b], nxt = una + 10000;
        tcp_sack_reset(&sb);
        tcp_sack_add(&sb, una + 1000, una + 2000, una, nxt);
        tcp_sack_add(&sb, una + 3000, una + 4000, una, nxt);
        assert_false(tcp_sack_is_sacked(&sb, una + 999));
        assert_true(tcp_sack_is_sacked(&sb, una + 1000));
        assert_true(tcp_sack_is_sacked(&sb, una + 1999));
        assert_false(tcp_sack_is_sacked(&sb, una + 2000));
        assert_false(tcp_sack_is_sacked(&sb, una + 4000));
        assert_int_equal(tcp_sack_bytes_above(&sb, una), 2000);
        assert_int_equal(tcp_sack_bytes_above(&sb, una + 1500), 1500);
        assert_int_equal(tcp_sack_bytes_above(&sb, una + 2500), 1000);
        assert_int_equal(tcp_sack_bytes_above(&sb, una + 3999), 1);
        assert_int_equal(tcp_sack_bytes_above(&sb, una + 4000), 0);
        assert_int_equal(tcp_sack_high(&sb, una), una + 4000);

        /* next_hole: from a hole, from inside a range, cut by limit. */
        assert_int_equal(tcp_sack_next_hole(&sb, una, nxt, &len), una);
        assert_int_equal(len, 1000);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 400, nxt, &len), una + 400);
        assert_int_equal(len, 600);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 1000, nxt, &len), una + 2000);
        assert_int_equal(len, 1000);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 1999, nxt, &len), una + 2000);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 3500, nxt, &len), una + 4000);
        assert_int_equal(len, 6000);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 2500, una + 2700, &len), una + 2500);
        assert_int_equal(len, 200);
        /* Nothing unSACKed below the limit. */
        assert_int_equal(tcp_sack_next_hole(&sb, una + 1000, una + 2000, &len), una + 2000);
        assert_int_equal(len, 0);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 3000, una + 3500, &len), una + 3500);
        assert_int_equal(len, 0);
        assert_int_equal(tcp_sack_next_hole(&sb, una + 5000, una + 4000, &len), una + 4000);
        assert_int_equal(len, 0);
    }
}

static void test_is_lost(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    const uint32_t mss = 1000;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b], nxt = una + 100000;
        tcp_sack_reset(&sb);
        /* One range of exactly (DupThresh - 1) * SMSS: not lost (the RFC
         * wants more than that). */
        tcp_sack_add(&sb, una + 1000, una + 3000, una, nxt);
        assert_false(tcp_sack_is_lost(&sb, una, mss, 3));
        /* One byte more: lost, for every byte below it... */
        tcp_sack_add(&sb, una + 3000, una + 3001, una, nxt);
        assert_true(tcp_sack_is_lost(&sb, una, mss, 3));
        assert_true(tcp_sack_is_lost(&sb, una + 999, mss, 3));
        /* ...but not for a byte with less above it. */
        assert_false(tcp_sack_is_lost(&sb, una + 1000, mss, 3));
        assert_false(tcp_sack_is_lost(&sb, una + 5000, mss, 3));
        /* DupThresh discontiguous ranges, however small: lost. */
        tcp_sack_reset(&sb);
        tcp_sack_add(&sb, una + 10, una + 11, una, nxt);
        tcp_sack_add(&sb, una + 20, una + 21, una, nxt);
        assert_false(tcp_sack_is_lost(&sb, una, mss, 3));
        tcp_sack_add(&sb, una + 30, una + 31, una, nxt);
        assert_true(tcp_sack_is_lost(&sb, una, mss, 3));
        assert_true(tcp_sack_is_lost(&sb, una + 9, mss, 3));
        assert_false(tcp_sack_is_lost(&sb, una + 12, mss, 3));
        /* Other thresholds. */
        assert_true(tcp_sack_is_lost(&sb, una + 12, mss, 2));
        assert_true(tcp_sack_is_lost(&sb, una + 25, mss, 1));
        assert_false(tcp_sack_is_lost(&sb, una + 30, mss, 1)); /* nothing above 30 */
        assert_false(tcp_sack_is_lost(&sb, una + 31, mss, 1));
    }
}

static void test_next_lost_and_pipe(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    const uint32_t mss = 1000;
    uint32_t seq, len;
    for (unsigned b = 0; b < NBASES; b++) {
        /* Ten segments out, 0 and 2 lost, 1 and 3..9 SACKed. */
        uint32_t una = bases[b], nxt = una + 10 * mss;
        tcp_sack_reset(&sb);
        tcp_sack_add(&sb, una + 1 * mss, una + 2 * mss, una, nxt);
        tcp_sack_add(&sb, una + 3 * mss, una + 10 * mss, una, nxt);
        assert_true(tcp_sack_is_lost(&sb, una, mss, 3)); /* §5 step 2b */
        assert_true(tcp_sack_next_lost(&sb, una, mss, 3, &seq, &len));
        assert_int_equal(seq, una);
        assert_int_equal(len, mss);
        /* Each unSACKed byte is lost: the pipe is empty. */
        assert_int_equal(tcp_sack_pipe(&sb, una, nxt, una, mss, 3), 0);
        /* Segment 0 retransmitted: HighRxt moves past it, it counts once. */
        uint32_t high_rxt = una + mss;
        assert_int_equal(tcp_sack_pipe(&sb, una, nxt, high_rxt, mss, 3), mss);
        assert_true(tcp_sack_next_lost(&sb, high_rxt, mss, 3, &seq, &len));
        assert_int_equal(seq, una + 2 * mss);
        assert_int_equal(len, mss);
        high_rxt = una + 3 * mss;
        assert_false(tcp_sack_next_lost(&sb, high_rxt, mss, 3, &seq, &len));
        assert_int_equal(tcp_sack_pipe(&sb, una, nxt, high_rxt, mss, 3), 2 * mss);
        /* New data sent above: it is in the pipe and not lost. */
        uint32_t high_data = nxt + 2 * mss;
        assert_int_equal(tcp_sack_pipe(&sb, una, high_data, high_rxt, mss, 3), 4 * mss);
        /* Rule 3: nothing unSACKed below HighACK past HighRxt. */
        tcp_sack_next_hole(&sb, high_rxt, tcp_sack_high(&sb, una), &len);
        assert_int_equal(len, 0);

        /* A hole with too little above it is not lost: rule 1 finds
         * nothing, rule 3 finds the hole, and it counts in the pipe. */
        tcp_sack_reset(&sb);
        tcp_sack_add(&sb, una + 1 * mss, una + 2 * mss, una, nxt);
        assert_false(tcp_sack_next_lost(&sb, una, mss, 3, &seq, &len));
        assert_int_equal(tcp_sack_next_hole(&sb, una, tcp_sack_high(&sb, una), &len), una);
        assert_int_equal(len, mss);
        assert_int_equal(tcp_sack_pipe(&sb, una, nxt, una, mss, 3), 9 * mss);
    }
}

static void test_bound_drops_highest(void **state)
{
    (void)state;
    struct tcp_scoreboard sb;
    for (unsigned b = 0; b < NBASES; b++) {
        uint32_t una = bases[b], nxt = una + 100000;
        tcp_sack_reset(&sb);
        for (unsigned i = 0; i < TCP_SACK_RANGES_MAX; i++)
            assert_true(tcp_sack_add(&sb, una + 100 * i + 50, una + 100 * i + 60, una, nxt));
        assert_int_equal(sb.count, TCP_SACK_RANGES_MAX);
        uint32_t top_left = sb.left[TCP_SACK_RANGES_MAX - 1];
        /* A new highest block is itself the one dropped. */
        assert_false(tcp_sack_add(&sb, una + 90000, una + 90010, una, nxt));
        assert_int_equal(sb.count, TCP_SACK_RANGES_MAX);
        assert_int_equal(sb.left[TCP_SACK_RANGES_MAX - 1], top_left);
        /* A new lower block pushes the highest range out. */
        assert_true(tcp_sack_add(&sb, una + 10, una + 20, una, nxt));
        assert_int_equal(sb.count, TCP_SACK_RANGES_MAX);
        assert_int_equal(sb.left[0], una + 10);
        assert_int_equal(sb.left[TCP_SACK_RANGES_MAX - 1], top_left - 100);
        assert_sb_invariants(&sb);
        /* Merging needs no slot. */
        assert_true(tcp_sack_add(&sb, una + 60, una + 150, una, nxt));
        assert_int_equal(sb.count, TCP_SACK_RANGES_MAX - 1);
        assert_sb_invariants(&sb);
    }
}

/* ---- Random blocks against a bitmap model ---- */

#define MODEL_SPAN 2048

struct sack_model {
    uint32_t una;
    uint8_t sacked[MODEL_SPAN]; /* byte una + i */
    unsigned drops;             /* adds that hit the range bound */
    /* Filled by model_suffix(): SACKed bytes and runs holding a byte
     * greater than una + i. */
    unsigned bytes_gt[MODEL_SPAN];
    unsigned runs_gt[MODEL_SPAN];
};

/* Runs of SACKed bytes: their count, and the start and end of the last. */
static unsigned model_runs(const struct sack_model *m, unsigned *last_start, unsigned *last_end)
{
    unsigned n = 0;
    for (unsigned i = 0; i < MODEL_SPAN; i++) {
        if (m->sacked[i] && (i == 0 || !m->sacked[i - 1])) {
            n++;
            *last_start = i;
        }
        if (m->sacked[i])
            *last_end = i + 1;
    }
    return n;
}

static bool model_add(struct sack_model *m, unsigned l, unsigned r)
{
    uint8_t saved[MODEL_SPAN];
    memcpy(saved, m->sacked, sizeof(saved));
    unsigned ls = 0, le = 0, bs = 0, be = 0;
    unsigned before = model_runs(m, &bs, &be);
    bool fresh = false;
    for (unsigned i = l; i < r; i++) {
        fresh |= !m->sacked[i];
        m->sacked[i] = 1;
    }
    if (!fresh)
        return false;
    if (model_runs(m, &ls, &le) > TCP_SACK_RANGES_MAX) {
        m->drops++;
        memcpy(m->sacked, saved, sizeof(saved));
        if (before > 0 && l > be)
            return false; /* the block was the highest */
        memset(m->sacked + bs, 0, be - bs);
        for (unsigned i = l; i < r; i++)
            m->sacked[i] = 1;
    }
    return true;
}

static void model_suffix(struct sack_model *m)
{
    unsigned bytes = 0, runs = 0;
    for (unsigned i = MODEL_SPAN; i-- > 0;) {
        m->bytes_gt[i] = bytes;
        /* A run holding byte i + 1 but not byte i starts above i; one
         * holding both counts here too, as it has bytes greater than i. */
        m->runs_gt[i] = runs + (i + 1 < MODEL_SPAN && m->sacked[i + 1] && m->sacked[i]);
        if (m->sacked[i]) {
            bytes++;
            if (i == 0 || !m->sacked[i - 1])
                runs++;
        }
    }
}

static bool model_is_lost(const struct sack_model *m, unsigned at, uint32_t mss, unsigned dt)
{
    return m->runs_gt[at] >= dt || m->bytes_gt[at] > (dt - 1) * mss;
}

static void assert_matches_model(const struct tcp_scoreboard *sb, struct sack_model *m,
                                 struct rng *g)
{
    assert_sb_invariants(sb);
    model_suffix(m);
    unsigned total = 0;
    for (unsigned i = 0; i < MODEL_SPAN; i++) {
        assert_int_equal(tcp_sack_is_sacked(sb, m->una + i), m->sacked[i]);
        total += m->sacked[i];
    }
    assert_int_equal(sb->sacked_bytes, total);
    const uint32_t mss = 1 + rng_u32(g) % 100;
    const unsigned dt = 1 + rng_u32(g) % 4;
    for (int k = 0; k < 8; k++) {
        unsigned at = rng_u32(g) % MODEL_SPAN;
        unsigned above = 0;
        for (unsigned i = at; i < MODEL_SPAN; i++)
            above += m->sacked[i];
        assert_int_equal(tcp_sack_bytes_above(sb, m->una + at), above);
        assert_int_equal(tcp_sack_is_lost(sb, m->una + at, mss, dt), model_is_lost(m, at, mss, dt));
        unsigned limit = at + rng_u32(g) % (MODEL_SPAN - at + 1);
        unsigned hs = at;
        while (hs < limit && m->sacked[hs])
            hs++;
        unsigned he = hs;
        while (he < limit && !m->sacked[he])
            he++;
        uint32_t len;
        uint32_t got = tcp_sack_next_hole(sb, m->una + at, m->una + limit, &len);
        assert_int_equal(len, he - hs);
        if (len > 0)
            assert_int_equal(got, m->una + hs);
    }
    /* SetPipe byte by byte. */
    unsigned high_data = MODEL_SPAN - rng_u32(g) % 64, high_rxt = rng_u32(g) % MODEL_SPAN;
    unsigned pipe = 0;
    for (unsigned i = 0; i < high_data; i++) {
        if (m->sacked[i])
            continue;
        if (!model_is_lost(m, i, mss, dt))
            pipe++;
        if (i < high_rxt)
            pipe++;
    }
    assert_int_equal(tcp_sack_pipe(sb, m->una, m->una + high_data, m->una + high_rxt, mss, dt),
                     pipe);
}

static void test_random_against_model(void **state)
{
    (void)state;
    struct rng g = {0x5ac5ac5ac5ull};
    static struct sack_model m;
    struct tcp_scoreboard sb;
    unsigned drops = 0;
    for (unsigned round = 0; round < 40; round++) {
        memset(&m, 0, sizeof(m));
        m.una = round < NBASES ? bases[round] : rng_u32(&g);
        if (round % 3 == 0)
            m.una = 0u - MODEL_SPAN / 2 + rng_u32(&g) % 64; /* straddle the wrap */
        tcp_sack_reset(&sb);
        unsigned maxlen = 1 + rng_u32(&g) % 64;
        for (int step = 0; step < 300; step++) {
            unsigned l = rng_u32(&g) % MODEL_SPAN;
            unsigned r = l + 1 + rng_u32(&g) % maxlen;
            if (r > MODEL_SPAN)
                r = MODEL_SPAN;
            bool want = model_add(&m, l, r);
            assert_int_equal(tcp_sack_add(&sb, m.una + l, m.una + r, m.una, m.una + MODEL_SPAN),
                             want);
            if (step % 10 == 0)
                assert_matches_model(&sb, &m, &g);
            if (rng_u32(&g) % 50 == 0) {
                /* snd_una moves: shift the model. */
                unsigned adv = rng_u32(&g) % 64;
                tcp_sack_advance(&sb, m.una + adv);
                memmove(m.sacked, m.sacked + adv, MODEL_SPAN - adv);
                memset(m.sacked + MODEL_SPAN - adv, 0, adv);
                m.una += adv;
                assert_matches_model(&sb, &m, &g);
            }
        }
        assert_matches_model(&sb, &m, &g);
        drops += m.drops;
    }
    assert_true(drops > 0); /* the bound was exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_add_and_merge),
        cmocka_unit_test(test_add_rejects),
        cmocka_unit_test(test_advance),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_is_lost),
        cmocka_unit_test(test_next_lost_and_pipe),
        cmocka_unit_test(test_bound_drops_highest),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
