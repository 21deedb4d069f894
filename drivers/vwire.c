/* The virtual wire: two in-process Ethernet netifs, each sending into the
 * other's bounded frame queue, for the simulator and unit tests (one
 * thread, no locks). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "netif.h"
#include "stack.h"

/* Frames one side holds before the sender gets -EAGAIN. */
#define VWIRE_QUEUE_FRAMES 4096
/* Bytes one side holds, so a queue of 64 KiB frames stays modest too. */
#define VWIRE_QUEUE_BYTES (64u * 1024 * 1024)
/* Largest frame: what a receiving stack's buffer takes. */
#define VWIRE_MAX_FRAME STACK_RX_BUF

struct vwire_frame {
    size_t len;
    uint8_t data[];
};

/* One end of the wire: the frames waiting to be received here. */
struct vwire_end {
    struct netif *netif;
    struct vwire_end *peer; /* NULL once the other end is closed */
    struct vwire_frame *ring[VWIRE_QUEUE_FRAMES];
    size_t head;  /* oldest frame */
    size_t count; /* frames waiting */
    size_t bytes; /* their total length */
};

static int vwire_send_frame(struct netif *netif, const uint8_t *frame, size_t len)
{
    struct vwire_end *end = netif->driver;
    struct vwire_end *peer = end->peer;
    if (peer == NULL)
        return -ENOTCONN;
    if (len == 0)
        return -EINVAL; /* recv could not tell it from "nothing waiting" */
    if (len > VWIRE_MAX_FRAME)
        return -EMSGSIZE;
    if (peer->count == VWIRE_QUEUE_FRAMES || peer->bytes + len > VWIRE_QUEUE_BYTES)
        return -EAGAIN;
    struct vwire_frame *f = malloc(sizeof(*f) + len);
    if (f == NULL)
        return -ENOBUFS;
    f->len = len;
    memcpy(f->data, frame, len);
    peer->ring[(peer->head + peer->count) % VWIRE_QUEUE_FRAMES] = f;
    peer->count++;
    peer->bytes += len;
    return 0;
}

static struct vwire_frame *vwire_pop_frame(struct vwire_end *end)
{
    if (end->count == 0)
        return NULL;
    struct vwire_frame *f = end->ring[end->head];
    end->ring[end->head] = NULL;
    end->head = (end->head + 1) % VWIRE_QUEUE_FRAMES;
    end->count--;
    end->bytes -= f->len;
    return f;
}

static ssize_t vwire_recv_frame(struct netif *netif, uint8_t *buf, size_t cap)
{
    struct vwire_end *end = netif->driver;
    struct vwire_frame *f = vwire_pop_frame(end);
    if (f == NULL)
        return 0;
    if (f->len > cap) {
        free(f);
        return -EMSGSIZE; /* counted by the caller; the frame is gone */
    }
    size_t len = f->len;
    memcpy(buf, f->data, len);
    free(f);
    return (ssize_t)len;
}

static void vwire_close(struct netif *netif)
{
    struct vwire_end *end = netif->driver;
    if (end == NULL)
        return;
    if (end->peer != NULL)
        end->peer->peer = NULL;
    struct vwire_frame *f;
    while ((f = vwire_pop_frame(end)) != NULL)
        free(f);
    free(end);
    netif->driver = NULL;
}

static const struct driver_ops vwire_ops = {
    .name = "vwire",
    .send = vwire_send_frame,
    .recv = vwire_recv_frame,
    .close = vwire_close,
};

/* Makes one end with MAC 02:00:00:00:00:<last>. */
static struct netif *vwire_open_end(struct stack *stack, const char *name, uint8_t last)
{
    struct vwire_end *end = calloc(1, sizeof(*end));
    if (end == NULL)
        return NULL;
    struct netif *netif = netif_create(stack, name, NETIF_ETHERNET, &vwire_ops, end, -1);
    if (netif == NULL) {
        free(end);
        return NULL;
    }
    end->netif = netif;
    static const uint8_t base[ETHER_ADDR_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
    memcpy(netif->mac, base, ETHER_ADDR_LEN);
    netif->mac[ETHER_ADDR_LEN - 1] = last;
    netif->mtu = 1500;
    return netif;
}

int vwire_open_pair(struct stack *a, struct stack *b, struct netif **out_a,
                    struct netif **out_b)
{
    *out_a = NULL;
    *out_b = NULL;
    struct netif *na = vwire_open_end(a, "vwire-a", 0x01);
    if (na == NULL)
        return -ENOMEM;
    struct netif *nb = vwire_open_end(b, "vwire-b", 0x02);
    if (nb == NULL) {
        netif_destroy(na);
        return -ENOMEM;
    }
    struct vwire_end *ea = na->driver;
    struct vwire_end *eb = nb->driver;
    ea->peer = eb;
    eb->peer = ea;
    *out_a = na;
    *out_b = nb;
    return 0;
}
