/* The Internet checksum (RFC 1071), incremental so that a pseudo-header and
 * a payload in separate buffers can be summed without a copy. */
#ifndef TOYSOCK_WIRE_CHECKSUM_H
#define TOYSOCK_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds len bytes to a running 32-bit sum. An odd-length chunk must be the
 * last one summed. */
uint32_t csum_add(uint32_t sum, const uint8_t *data, size_t len);
/* Folds a running sum into the one's complement 16-bit checksum. */
uint16_t csum_finish(uint32_t sum);
/* Sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1). Addresses are in
 * host order. */
uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

#endif
