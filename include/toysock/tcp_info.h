/* Per-connection TCP state and measurements: the fields of Linux's
 * struct tcp_info that make sense for toysock, with Linux's units
 * (times in microseconds). */
#ifndef TOYSOCK_TCP_INFO_H
#define TOYSOCK_TCP_INFO_H

#include <stdint.h>

struct toysock_tcp_info {
    uint8_t state;        /* enum tcp_state numbering: see toysock_tcp_state_name */
    uint8_t ca_state;     /* 0 open, 1 disorder, 3 recovery, 4 loss (Linux's) */
    uint8_t retransmits;  /* consecutive RTOs of the current segment */
    uint8_t backoff;      /* RTO backoff exponent */
    uint8_t snd_wscale;
    uint8_t rcv_wscale;
    uint8_t options;      /* TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4 (Linux's) */
    uint32_t rto;         /* µs */
    uint32_t ato;         /* delayed-ACK timeout, µs */
    uint32_t snd_mss;
    uint32_t rcv_mss;
    uint32_t unacked;     /* segments in flight */
    uint32_t sacked;
    uint32_t lost;
    uint32_t retrans;     /* segments retransmitted and in flight */
    uint32_t rtt;         /* smoothed RTT, µs */
    uint32_t rttvar;      /* µs */
    uint32_t snd_ssthresh;/* segments */
    uint32_t snd_cwnd;    /* segments */
    uint32_t advmss;
    uint32_t rcv_space;
    uint32_t total_retrans;
    uint64_t bytes_acked;
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t bytes_retrans;
    uint32_t segs_out;
    uint32_t segs_in;
    uint32_t snd_wnd;     /* peer's advertised window, bytes */
    uint32_t rcv_wnd;     /* our advertised window, bytes */
    uint32_t notsent_bytes;
};

#endif
