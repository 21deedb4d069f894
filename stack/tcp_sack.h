/* The sender's SACK scoreboard (RFC 6675): which bytes above snd_una the
 * peer has reported holding. A bounded sorted list of disjoint ranges in
 * sequence space; blocks that would exceed the bound drop the highest
 * range (the scoreboard is advisory: RTO recovery stays correct). */
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
/* Records a SACK block received with snd_una and snd_nxt as they are
 * now. Blocks outside (snd_una, snd_nxt] or inverted are ignored (RFC
 * 2883 D-SACKs included). Returns true when it added new information. */
bool tcp_sack_add(struct tcp_scoreboard *sb, uint32_t left, uint32_t right, uint32_t snd_una,
                  uint32_t snd_nxt);
/* Forgets everything below the new snd_una. */
void tcp_sack_advance(struct tcp_scoreboard *sb, uint32_t snd_una);
bool tcp_sack_is_sacked(const struct tcp_scoreboard *sb, uint32_t seq);
/* Bytes SACKed at or above seq. */
uint32_t tcp_sack_bytes_above(const struct tcp_scoreboard *sb, uint32_t seq);
/* RFC 6675 IsLost(seq): at least dupthresh*mss bytes SACKed above seq (or
 * dupthresh discontiguous ranges above it). */
bool tcp_sack_is_lost(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t mss,
                      unsigned dupthresh);
/* The first unSACKed byte at or after seq, below limit, and the length of
 * the hole there (0 when none). */
uint32_t tcp_sack_next_hole(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t limit,
                            uint32_t *hole_len);
/* The highest SACKed sequence number + 1, or snd_una when nothing is. */
uint32_t tcp_sack_high(const struct tcp_scoreboard *sb, uint32_t snd_una);

#endif
