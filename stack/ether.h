/* Ethernet II: the frame filter on input and framing on output. */
#ifndef TOYSOCK_ETHER_H
#define TOYSOCK_ETHER_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"
#include "wire/wire.h"

struct netif;

/* Accepts frames for our MAC, broadcast and multicast we joined; drops and
 * counts the rest; dispatches by ethertype. */
void ether_input(struct netif *netif, const uint8_t *frame, size_t len);
/* Pushes an Ethernet header onto pkt and transmits it. Consumes pkt. */
void ether_output(struct netif *netif, struct pkt *pkt, const uint8_t dst[ETHER_ADDR_LEN],
                  uint16_t ethertype);

#endif
