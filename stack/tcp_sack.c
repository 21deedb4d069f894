/* The sender's SACK scoreboard (RFC 6675 §4-5; SACK option RFC 2018).
 *
 * A sorted array of at most TCP_SACK_RANGES_MAX disjoint, non-touching
 * ranges [left, right) above snd_una. Every comparison is modulo 2^32
 * through wire/tcp_seq.h: all ranges lie within one window of snd_una, far
 * less than 2^31, so the order is well defined across the wrap. Every call
 * is O(TCP_SACK_RANGES_MAX).
 *
 * The connection drives loss recovery with these:
 *   tcp_sack_add() per block of an arriving ACK, tcp_sack_advance() when
 *   snd_una moves, tcp_sack_is_lost(snd_una) to enter recovery early
 *   (§5 step 2b), tcp_sack_pipe() for SetPipe(), tcp_sack_next_lost() and
 *   tcp_sack_next_hole() for NextSeg() rules 1 and 3.
 */
#include <string.h>

#include "tcp_sack.h"
#include "wire/tcp_seq.h"

void tcp_sack_reset(struct tcp_scoreboard *sb)
{
    memset(sb, 0, sizeof(*sb));
}

/* Removes ranges [at, at + n). */
static void sb_remove(struct tcp_scoreboard *sb, unsigned at, unsigned n)
{
    unsigned tail = sb->count - at - n;
    memmove(&sb->left[at], &sb->left[at + n], tail * sizeof(sb->left[0]));
    memmove(&sb->right[at], &sb->right[at + n], tail * sizeof(sb->right[0]));
    sb->count -= n;
}

/* Opens a slot at index at (count < TCP_SACK_RANGES_MAX). */
static void sb_open(struct tcp_scoreboard *sb, unsigned at)
{
    unsigned tail = sb->count - at;
    memmove(&sb->left[at + 1], &sb->left[at], tail * sizeof(sb->left[0]));
    memmove(&sb->right[at + 1], &sb->right[at], tail * sizeof(sb->right[0]));
    sb->count++;
}

bool tcp_sack_add(struct tcp_scoreboard *sb, uint32_t left, uint32_t right, uint32_t snd_una,
                  uint32_t snd_nxt)
{
    /* RFC 2018 §3 blocks are [left, right). An inverted or empty block, one
     * covering data never sent, or one wholly acknowledged already (an RFC
     * 2883 D-SACK, or a stale block) teaches nothing. */
    if (!seq_lt(left, right) || seq_gt(right, snd_nxt) || seq_leq(right, snd_una))
        return false;
    if (seq_lt(left, snd_una))
        left = snd_una;

    /* Ranges [lo, hi) overlap or touch [left, right). */
    unsigned lo = 0;
    while (lo < sb->count && seq_lt(sb->right[lo], left))
        lo++;
    unsigned hi = lo;
    while (hi < sb->count && seq_leq(sb->left[hi], right))
        hi++;

    uint32_t covered = 0;
    for (unsigned i = lo; i < hi; i++) {
        uint32_t a = seq_max(sb->left[i], left), b = seq_min(sb->right[i], right);
        if (seq_lt(a, b))
            covered += b - a;
    }
    uint32_t fresh = (right - left) - covered;
    if (fresh == 0)
        return false;

    if (lo == hi && sb->count == TCP_SACK_RANGES_MAX) {
        /* Full: the highest range goes, the block itself if it is the
         * highest. Losing it only makes us retransmit more (RFC 6675 §1). */
        if (lo == sb->count)
            return false;
        unsigned last = sb->count - 1;
        sb->sacked_bytes -= sb->right[last] - sb->left[last];
        sb->count--;
    }

    uint32_t ml = left, mr = right;
    if (lo < hi) {
        ml = seq_min(left, sb->left[lo]);
        mr = seq_max(right, sb->right[hi - 1]);
        if (hi - lo > 1)
            sb_remove(sb, lo + 1, hi - lo - 1);
    } else {
        sb_open(sb, lo);
    }
    sb->left[lo] = ml;
    sb->right[lo] = mr;
    sb->sacked_bytes += fresh;
    return true;
}

void tcp_sack_advance(struct tcp_scoreboard *sb, uint32_t snd_una)
{
    unsigned gone = 0;
    while (gone < sb->count && seq_leq(sb->right[gone], snd_una)) {
        sb->sacked_bytes -= sb->right[gone] - sb->left[gone];
        gone++;
    }
    if (gone > 0)
        sb_remove(sb, 0, gone);
    if (sb->count > 0 && seq_lt(sb->left[0], snd_una)) {
        sb->sacked_bytes -= snd_una - sb->left[0];
        sb->left[0] = snd_una;
    }
}

bool tcp_sack_is_sacked(const struct tcp_scoreboard *sb, uint32_t seq)
{
    for (unsigned i = 0; i < sb->count; i++) {
        if (seq_lt(seq, sb->left[i]))
            return false;
        if (seq_lt(seq, sb->right[i]))
            return true;
    }
    return false;
}

uint32_t tcp_sack_bytes_above(const struct tcp_scoreboard *sb, uint32_t seq)
{
    uint32_t bytes = 0;
    for (unsigned i = sb->count; i-- > 0;) {
        if (seq_geq(sb->left[i], seq)) {
            bytes += sb->right[i] - sb->left[i];
        } else {
            if (seq_gt(sb->right[i], seq))
                bytes += sb->right[i] - seq;
            break;
        }
    }
    return bytes;
}

/* (DupThresh - 1) * SMSS, the byte count IsLost() must exceed. */
static uint64_t lost_bytes_threshold(uint32_t mss, unsigned dupthresh)
{
    return (uint64_t)(dupthresh > 0 ? dupthresh - 1 : 0) * mss;
}

/* The IsLost() verdict given what is SACKed above a byte. */
static bool lost_verdict(unsigned ranges_above, uint64_t bytes_above, uint64_t threshold,
                         unsigned dupthresh)
{
    return ranges_above >= dupthresh || bytes_above > threshold;
}

bool tcp_sack_is_lost(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t mss,
                      unsigned dupthresh)
{
    /* RFC 6675 §4 IsLost(SeqNum): DupThresh discontiguous SACKed ranges
     * above SeqNum, or more than (DupThresh - 1) * SMSS SACKed bytes
     * greater than SeqNum. */
    uint64_t threshold = lost_bytes_threshold(mss, dupthresh);
    uint64_t bytes = 0;
    unsigned ranges = 0;
    uint32_t above = seq + 1; /* the first byte "greater than SeqNum" */
    if (lost_verdict(0, 0, threshold, dupthresh))
        return true;
    for (unsigned i = sb->count; i-- > 0;) {
        if (seq_leq(sb->right[i], above))
            break; /* this range and all below hold nothing above seq */
        bytes += sb->right[i] - seq_max(sb->left[i], above);
        ranges++;
        if (lost_verdict(ranges, bytes, threshold, dupthresh))
            return true;
    }
    return false;
}

uint32_t tcp_sack_next_hole(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t limit,
                            uint32_t *hole_len)
{
    uint32_t cur = seq;
    *hole_len = 0;
    if (!seq_lt(cur, limit))
        return limit;
    for (unsigned i = 0; i < sb->count; i++) {
        if (seq_leq(sb->right[i], cur))
            continue; /* wholly below */
        if (seq_leq(sb->left[i], cur)) {
            cur = sb->right[i]; /* cur is SACKed: skip the range */
            if (!seq_lt(cur, limit))
                return limit;
            continue;
        }
        *hole_len = seq_min(sb->left[i], limit) - cur;
        return cur;
    }
    *hole_len = limit - cur;
    return cur;
}

uint32_t tcp_sack_high(const struct tcp_scoreboard *sb, uint32_t snd_una)
{
    if (sb->count == 0)
        return snd_una;
    return seq_max(sb->right[sb->count - 1], snd_una);
}

bool tcp_sack_next_lost(const struct tcp_scoreboard *sb, uint32_t from, uint32_t mss,
                        unsigned dupthresh, uint32_t *seq, uint32_t *len)
{
    /* NextSeg() rule 1 (RFC 6675 §4): the first unSACKed byte S2 past
     * HighRxt (1.a), below the highest SACKed byte (1.b), with IsLost(S2)
     * (1.c). Everything SACKed above one hole is above each of its bytes,
     * and a later hole has less SACKed above it, so testing the first hole
     * alone decides: the whole of it is lost, or nothing after from is. */
    if (sb->count == 0)
        return false;
    uint32_t hole = 0;
    uint32_t s = tcp_sack_next_hole(sb, from, sb->right[sb->count - 1], &hole);
    if (hole == 0 || !tcp_sack_is_lost(sb, s, mss, dupthresh))
        return false;
    *seq = s;
    *len = hole;
    return true;
}

uint32_t tcp_sack_pipe(const struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t high_data,
                       uint32_t high_rxt, uint32_t mss, unsigned dupthresh)
{
    /* RFC 6675 §4 SetPipe(): every unSACKed byte in [HighACK, HighData)
     * counts once unless IsLost() says it left the network, and once more
     * if it was retransmitted. Holes are walked from the top so that the
     * SACKed ranges and bytes above each hole are known in O(1). Hole i
     * lies below range i: [right[i-1] or snd_una, left[i] or high_data). */
    uint64_t threshold = lost_bytes_threshold(mss, dupthresh);
    uint64_t pipe = 0, bytes_above = 0;
    unsigned ranges_above = 0;
    for (unsigned i = sb->count + 1; i-- > 0;) {
        if (i < sb->count) {
            bytes_above += sb->right[i] - sb->left[i];
            ranges_above++;
        }
        uint32_t start = i == 0 ? snd_una : sb->right[i - 1];
        uint32_t end = i == sb->count ? high_data : sb->left[i];
        start = seq_max(start, snd_una);
        end = seq_min(end, high_data);
        if (!seq_lt(start, end))
            continue;
        if (!lost_verdict(ranges_above, bytes_above, threshold, dupthresh))
            pipe += end - start;
        if (seq_lt(start, high_rxt))
            pipe += seq_min(end, high_rxt) - start;
    }
    return pipe > UINT32_MAX ? UINT32_MAX : (uint32_t)pipe;
}
