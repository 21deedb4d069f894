/* Congestion control behind a small interface: the connection reports
 * acks, loss and timeouts; the algorithm owns cwnd and ssthresh (bytes).
 * Loss recovery itself (fast retransmit, NewReno partial acks, SACK pipe)
 * stays in the connection; only the window arithmetic lives here. */
#ifndef TOYSOCK_TCP_CC_H
#define TOYSOCK_TCP_CC_H

#include <stdint.h>

struct tcp_cc;

struct tcp_cc_ops {
    const char *name;
    void (*init)(struct tcp_cc *cc, uint64_t now_us);
    /* New data acknowledged outside recovery: grow the window.
     * rtt_us is the latest sample (0 when none). */
    void (*on_ack)(struct tcp_cc *cc, uint32_t acked, uint32_t flight, uint32_t rtt_us,
                   uint64_t now_us);
    /* Fast retransmit: entering recovery with flight bytes outstanding. */
    void (*on_loss)(struct tcp_cc *cc, uint32_t flight, uint64_t now_us);
    /* Recovery ended (all data outstanding at its start acknowledged). */
    void (*on_recovered)(struct tcp_cc *cc, uint64_t now_us);
    /* Retransmission timeout. */
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
            uint32_t acked_accum;
            uint32_t w_max;      /* bytes, window before the last reduction */
            uint32_t w_last_max; /* for fast convergence */
            uint64_t epoch_us;   /* start of the current growth epoch, 0: none */
            uint32_t origin;     /* bytes: the plateau of the cubic curve */
            double k_s;          /* seconds to reach origin */
            uint32_t w_est;      /* bytes: the Reno-friendly estimate */
            uint32_t min_rtt_us;
        } cubic;
    } u;
};

/* "reno" or "cubic"; NULL for an unknown name. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);
/* Initial window per RFC 6928 (min(10*mss, max(2*mss, 14600))). */
void tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss, uint64_t now_us);

#endif
