/* Congestion control behind a small interface: the connection reports
 * acks, loss and timeouts; the algorithm owns cwnd and ssthresh (bytes).
 * Loss recovery itself (fast retransmit, NewReno partial acks, SACK pipe)
 * stays in the connection; only the window arithmetic lives here. */
#ifndef TOYSOCK_TCP_CC_H
#define TOYSOCK_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

/* cwnd never grows past this (the largest window TCP can offer, RFC 7323
 * §2.3), which keeps the arithmetic clear of overflow. */
#define TCP_CC_CWND_MAX (1u << 30)

struct tcp_cc;

struct tcp_cc_ops {
    const char *name;
    void (*init)(struct tcp_cc *cc, uint64_t now_us);
    /* New data acknowledged outside recovery: grow the window. acked is
     * the bytes this ack newly acknowledged; flight the bytes outstanding
     * (before or after removing acked: either works). The window grows only
     * while it is in use (RFC 9438 §5.8, RFC 7661): in slow start when
     * flight + acked > cwnd / 2, in congestion avoidance when flight +
     * acked + mss > cwnd. rtt_us is the latest sample (0 when none). */
    void (*on_ack)(struct tcp_cc *cc, uint32_t acked, uint32_t flight, uint32_t rtt_us,
                   uint64_t now_us);
    /* Fast retransmit: entering recovery with flight bytes outstanding.
     * Sets ssthresh and cwnd = ssthresh (no RFC 5681 dupack inflation:
     * the connection adds it if it wants). */
    void (*on_loss)(struct tcp_cc *cc, uint32_t flight, uint64_t now_us);
    /* Recovery ended (all data outstanding at its start acknowledged):
     * cwnd = ssthresh, deflating any inflation. Not after an RTO. */
    void (*on_recovered)(struct tcp_cc *cc, uint64_t now_us);
    /* Retransmission timeout: ssthresh from flight, cwnd = 1 mss (RFC 5681
     * §3.1 eq. 4). Call it for the first timeout of a segment only; later
     * backoffs of the same segment keep ssthresh (RFC 5681 §3.1 note). */
    void (*on_rto)(struct tcp_cc *cc, uint32_t flight, uint64_t now_us);
};

struct tcp_cc {
    const struct tcp_cc_ops *ops;
    uint32_t mss;
    uint32_t cwnd;     /* bytes */
    uint32_t ssthresh; /* bytes; UINT32_MAX until the first loss */
    /* Algorithm state. */
    union {
        struct {
            uint32_t acked_accum; /* bytes acked towards the next cwnd step */
        } reno;
        struct {
            uint32_t acked_accum; /* remainder of (target - cwnd) * acked / cwnd */
            uint32_t w_max;       /* bytes: W_max after fast convergence, 0: none */
            uint32_t cwnd_prior;  /* bytes: cwnd when congestion was last seen */
            uint32_t origin;      /* bytes: the plateau of the cubic curve */
            uint32_t k_ms;        /* K: milliseconds from the epoch to origin */
            uint32_t w_est;       /* bytes: the Reno-friendly estimate */
            uint64_t est_accum;   /* remainder of W_est's growth */
            uint64_t epoch_us;    /* start of the current growth epoch */
            uint64_t last_ack_us; /* to keep application-limited time out of t */
            uint32_t min_rtt_us;  /* 0: no sample yet */
            bool in_epoch;        /* false until the first ack after a reduction */
        } cubic;
    } u;
};

/* "reno" or "cubic"; NULL for an unknown name. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);
/* Sets ops, mss, the initial window per RFC 6928 (min(10*mss, max(2*mss,
 * 14600))) and ssthresh UINT32_MAX, then ops->init. mss must not be 0. */
void tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss, uint64_t now_us);

#endif
