/* The link drivers. Each opens its device and returns a registered netif;
 * errors come back as -errno with one line of explanation in err. */
#ifndef TOYSOCK_DRIVER_H
#define TOYSOCK_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct stack;
struct netif;

/* TAP device ifname (created if absent and we may), IFF_TAP|IFF_NO_PI,
 * non-blocking, close-on-exec. */
int tap_open(struct stack *stack, const char *ifname, struct netif **out, char *err,
             size_t errlen);
/* libpcap on an existing interface: captures frames for our MAC, broadcast
 * and multicast; sends with pcap_inject. */
int pcap_driver_open(struct stack *stack, const char *ifname, const uint8_t mac[6],
                     struct netif **out, char *err, size_t errlen);
/* The loopback interface for 127.0.0.0/8. */
struct netif *loopback_open(struct stack *stack);
/* Two stacks joined by an in-process virtual wire. Frames sent on one side
 * are received on the other at the next poll; impairment, if any, is set
 * on the netifs like on any other link. */
int vwire_open_pair(struct stack *a, struct stack *b, struct netif **out_a,
                    struct netif **out_b);

#endif
