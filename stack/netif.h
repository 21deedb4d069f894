/* Network interfaces: what the stack knows of a link (MAC, MTU, address)
 * and the driver behind it. Every frame in and out passes through here, so
 * capture and impairment wrap the driver and protocol code pays nothing for
 * them. */
#ifndef TOYSOCK_NETIF_H
#define TOYSOCK_NETIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pkt.h"
#include "wire/wire.h"

struct stack;
struct netif;
struct impair;
struct capture;
struct arp_cache;

enum netif_kind {
    NETIF_ETHERNET,
    NETIF_LOOPBACK, /* carries bare IP datagrams, no link header */
};

struct driver_ops {
    const char *name;
    /* Sends one frame. Returns 0, or -errno (-EAGAIN when the device is
     * full); the caller counts the failure and drops the frame. */
    int (*send)(struct netif *netif, const uint8_t *frame, size_t len);
    /* Receives one frame into buf. Returns its length, 0 when nothing is
     * waiting, or -errno. */
    ssize_t (*recv)(struct netif *netif, uint8_t *buf, size_t cap);
    /* Releases the driver's resources. */
    void (*close)(struct netif *netif);
};

#define NETIF_MAX_MCAST 8

struct netif {
    struct stack *stack;
    char name[16];
    enum netif_kind kind;
    uint8_t mac[ETHER_ADDR_LEN];
    unsigned mtu;
    uint32_t addr; /* host order; 0 until configured */
    uint8_t prefix_len;
    const struct driver_ops *ops;
    void *driver;  /* the driver's state */
    int fd;        /* readable when frames are waiting; -1 for none */
    bool up;
    struct impair *impair;    /* NULL: frames pass untouched */
    struct capture *capture;  /* NULL: nothing captured */
    struct arp_cache *arp;    /* Ethernet only */
    /* Multicast MACs joined, besides broadcast. */
    uint8_t mcast[NETIF_MAX_MCAST][ETHER_ADDR_LEN];
    unsigned mcast_count;
};

/* Creates an interface and registers it with the stack. Returns NULL when
 * memory is exhausted or the stack has no room for another interface. */
struct netif *netif_create(struct stack *stack, const char *name, enum netif_kind kind,
                           const struct driver_ops *ops, void *driver, int fd);
void netif_destroy(struct netif *netif);
void netif_set_addr(struct netif *netif, uint32_t addr, uint8_t prefix_len);
uint32_t netif_netmask(const struct netif *netif);
/* True when addr is this interface's directed broadcast address. */
bool netif_is_broadcast(const struct netif *netif, uint32_t addr);
bool netif_mcast_joined(const struct netif *netif, const uint8_t mac[ETHER_ADDR_LEN]);

/* Hands a complete frame to the driver, through capture and impairment.
 * Always consumes pkt. */
void netif_transmit(struct netif *netif, struct pkt *pkt);
/* Sends bytes straight to the driver (after impairment), counting. */
void netif_driver_send(struct netif *netif, const uint8_t *frame, size_t len);
/* Reads up to budget frames from the driver and feeds them to the stack.
 * Returns the number of frames read. */
unsigned netif_poll(struct netif *netif, unsigned budget);
/* Feeds one received frame to the protocols (after capture/impairment). */
void netif_deliver(struct netif *netif, const uint8_t *frame, size_t len);

#endif
