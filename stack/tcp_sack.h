/* The sender's SACK scoreboard (RFC 6675): which bytes above snd_una the
 * peer has reported holding. A bounded sorted list of disjoint, not
 * touching ranges in sequence space (touching blocks merge); blocks that
 * would exceed the bound drop the highest range (the scoreboard is
 * advisory: RTO recovery stays correct). */
#ifndef TOYSOCK_TCP_SACK_H
#define TOYSOCK_TCP_SACK_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_SACK_RANGES_MAX 64

struct tcp_scoreboard {
    uint32_t left[TCP_SACK_RANGES_MAX];
    uint32_t right[TCP_SACK_RANGES_MAX]; /* exclusive */
    unsigned count;
    uint32_t sacked_bytes; /* sum of the ranges */
};

void tcp_sack_reset(struct tcp_scoreboard *sb);
/* Records a SACK block [left, right) received with snd_una and snd_nxt as
 * they are now (snd_nxt: the highest sequence number sent, HighData).
 * Ignored: inverted or empty blocks, blocks reaching beyond snd_nxt, and
 * blocks wholly at or below snd_una (RFC 2883 D-SACKs included); a block
 * straddling snd_una is trimmed to it. Touching ranges merge. Returns true
 * when it added new information (some byte was not SACKed before). */
bool tcp_sack_add(struct tcp_scoreboard *sb, uint32_t left, uint32_t right, uint32_t snd_una,
                  uint32_t snd_nxt);
/* Forgets everything below the new snd_una. */
void tcp_sack_advance(struct tcp_scoreboard *sb, uint32_t snd_una);
bool tcp_sack_is_sacked(const struct tcp_scoreboard *sb, uint32_t seq);
/* Bytes SACKed at or above seq. */
uint32_t tcp_sack_bytes_above(const struct tcp_scoreboard *sb, uint32_t seq);
/* RFC 6675 §4 IsLost(seq): more than (dupthresh - 1) * mss bytes SACKed
 * above seq, or dupthresh discontiguous SACKed ranges above it. */
bool tcp_sack_is_lost(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t mss,
                      unsigned dupthresh);
/* The first unSACKed byte at or after seq, below limit, and the length of
 * the hole there, which ends at the next SACKed range or at limit. When
 * there is none, returns limit with *hole_len 0. */
uint32_t tcp_sack_next_hole(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t limit,
                            uint32_t *hole_len);
/* The highest SACKed sequence number + 1, or snd_una when nothing is. */
uint32_t tcp_sack_high(const struct tcp_scoreboard *sb, uint32_t snd_una);
/* RFC 6675 §4 NextSeg() rule 1: the first unSACKed hole at or after from
 * and below tcp_sack_high() whose bytes IsLost() (all of a hole's bytes are
 * lost or none). from is the first byte not yet retransmitted in this
 * recovery, seq_max(high_rxt, snd_una) with high_rxt exclusive. Sets *seq
 * and *len (the whole hole: send at most one mss of it) and returns true,
 * or returns false when no byte qualifies. Rule 3 is tcp_sack_next_hole(sb,
 * from, tcp_sack_high(sb, snd_una), &len). */
bool tcp_sack_next_lost(const struct tcp_scoreboard *sb, uint32_t from, uint32_t mss,
                        unsigned dupthresh, uint32_t *seq, uint32_t *len);
/* RFC 6675 §4 SetPipe(), in bytes: each unSACKed byte in [snd_una,
 * high_data) counts once unless IsLost(), plus once more when below
 * high_rxt (the end of the retransmitted data, exclusive; snd_una when
 * nothing was retransmitted). */
uint32_t tcp_sack_pipe(const struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t high_data,
                       uint32_t high_rxt, uint32_t mss, unsigned dupthresh);

#endif
