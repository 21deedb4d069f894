/* Counters: one X-macro list defines them all, so every drop site bumps a
 * named counter and `toysock daemon` / toysock_stats() can print them by
 * name. Only the stack thread writes them. */
#ifndef TOYSOCK_STATS_H
#define TOYSOCK_STATS_H

#include <stdint.h>

#define STACK_STATS(X)                                                       \
    X(link_rx_frames)                                                        \
    X(link_rx_bytes)                                                         \
    X(link_tx_frames)                                                        \
    X(link_tx_bytes)                                                         \
    X(link_tx_errors)                                                        \
    X(link_rx_errors)                                                        \
    X(ether_rx_malformed)                                                    \
    X(ether_drop_not_for_us)                                                 \
    X(ether_drop_unknown_type)                                               \
    X(ether_drop_own_source)                                                 \
    X(arp_rx_request)                                                        \
    X(arp_rx_reply)                                                          \
    X(arp_rx_malformed)                                                      \
    X(arp_drop_not_for_us)                                                   \
    X(arp_drop_unsolicited)                                                  \
    X(arp_drop_bad_sender)                                                   \
    X(arp_tx_request)                                                        \
    X(arp_tx_reply)                                                          \
    X(arp_tx_gratuitous)                                                     \
    X(arp_queue_drop_full)                                                   \
    X(arp_resolve_failed)                                                    \
    X(arp_cache_full)                                                        \
    X(ipv4_rx_packets)                                                       \
    X(ipv4_rx_truncated)                                                     \
    X(ipv4_rx_bad_version)                                                   \
    X(ipv4_rx_bad_hdr_len)                                                   \
    X(ipv4_rx_bad_total_len)                                                 \
    X(ipv4_rx_bad_checksum)                                                  \
    X(ipv4_rx_bad_source)                                                    \
    X(ipv4_rx_bad_options)                                                   \
    X(ipv4_rx_bad_field)                                                     \
    X(ipv4_drop_not_for_us)                                                  \
    X(ipv4_drop_unknown_proto)                                               \
    X(ipv4_rx_fragments)                                                     \
    X(ipv4_rx_reassembled)                                                   \
    X(ipv4_reass_drop_overlap)                                               \
    X(ipv4_reass_drop_duplicate)                                             \
    X(ipv4_reass_drop_timeout)                                               \
    X(ipv4_reass_drop_memory)                                                \
    X(ipv4_reass_drop_too_many)                                              \
    X(ipv4_reass_drop_bad)                                                   \
    X(ipv4_tx_packets)                                                       \
    X(ipv4_tx_fragments)                                                     \
    X(ipv4_tx_no_route)                                                      \
    X(ipv4_tx_drop_df)                                                       \
    X(icmp_rx_total)                                                         \
    X(icmp_rx_malformed)                                                     \
    X(icmp_rx_echo_request)                                                  \
    X(icmp_rx_echo_reply)                                                    \
    X(icmp_rx_dest_unreach)                                                  \
    X(icmp_rx_other)                                                         \
    X(icmp_tx_echo_reply)                                                    \
    X(icmp_tx_echo_request)                                                  \
    X(icmp_tx_dest_unreach)                                                  \
    X(icmp_drop_rate_limited)                                                \
    X(icmp_drop_no_error_about)                                              \
    X(udp_rx_datagrams)                                                      \
    X(udp_rx_malformed)                                                      \
    X(udp_rx_bad_checksum)                                                   \
    X(udp_rx_no_port)                                                        \
    X(udp_drop_queue_full)                                                   \
    X(udp_rx_delivered)                                                      \
    X(udp_drop_no_memory)                                                    \
    X(udp_tx_datagrams)                                                      \
    X(udp_tx_errors)                                                         \
    X(tcp_rx_segments)                                                       \
    X(tcp_rx_malformed)                                                      \
    X(tcp_rx_bad_checksum)                                                   \
    X(tcp_rx_no_socket)                                                      \
    X(tcp_tx_segments)                                                       \
    X(tcp_tx_rst)                                                            \
    X(tcp_tx_retransmits)                                                    \
    X(tcp_active_opens)                                                      \
    X(tcp_passive_opens)                                                     \
    X(tcp_drop_syn_queue_full)                                               \
    X(tcp_drop_accept_queue_full)                                            \
    X(tcp_syncookies_sent)                                                   \
    X(tcp_syncookies_ok)                                                     \
    X(tcp_syncookies_failed)                                                 \
    X(tcp_challenge_acks)                                                    \
    X(tcp_drop_unacceptable)                                                 \
    X(tcp_drop_paws)                                                         \
    X(tcp_drop_ooo_full)                                                     \
    X(tcp_fast_retransmits)                                                  \
    X(tcp_timeouts)                                                          \
    X(tcp_conn_reset_rx)                                                     \
    X(tcp_conn_timeout)                                                      \
    X(tcp_rx_bad_flags)                                                      \
    X(tcp_drop_out_of_window)                                                \
    X(tcp_drop_after_close)                                                  \
    X(tcp_drop_no_memory)                                                    \
    X(tcp_challenge_ack_limited)                                             \
    X(tcp_oow_ack_limited)                                                   \
    X(tcp_timewait_reused)                                                   \
    X(tcp_timewait_recycled)                                                 \
    X(tcp_window_probes)                                                     \
    X(tcp_keepalive_probes)                                                  \
    X(tcp_icmp_ignored)                                                      \
    X(tcp_pmtu_updates)                                                      \
    X(tcp_lost_retransmits)                                                  \
    X(ctl_requests)                                                          \
    X(ctl_errors)                                                            \
    X(impair_dropped)                                                        \
    X(impair_duplicated)                                                     \
    X(impair_reordered)                                                      \
    X(impair_corrupted)                                                      \
    X(impair_delayed)

struct stack_stats {
#define STACK_STATS_FIELD(name) uint64_t name;
    STACK_STATS(STACK_STATS_FIELD)
#undef STACK_STATS_FIELD
};

#define STAT_INC(stack, name) ((stack)->stats.name++)
#define STAT_ADD(stack, name, n) ((stack)->stats.name += (n))

/* Number of counters, and the name of the i-th in list order. */
unsigned stack_stats_count(void);
const char *stack_stats_name(unsigned index);
uint64_t stack_stats_value(const struct stack_stats *stats, unsigned index);

#endif
