/* The loopback interface: datagrams sent are queued and received on the
 * next poll, under a frame and byte bound. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "netif.h"
#include "stack.h"

#define LOOPBACK_QUEUE_FRAMES 1024
#define LOOPBACK_QUEUE_BYTES (16u << 20)

struct loop_frame {
    size_t len;
    uint8_t *data;
};

struct loopback {
    struct loop_frame ring[LOOPBACK_QUEUE_FRAMES];
    unsigned head, count;
    size_t bytes;
};

static int loopback_send(struct netif *netif, const uint8_t *frame, size_t len)
{
    struct loopback *lo = netif->driver;
    if (lo->count == LOOPBACK_QUEUE_FRAMES || lo->bytes + len > LOOPBACK_QUEUE_BYTES)
        return -ENOBUFS;
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return -ENOBUFS;
    memcpy(copy, frame, len);
    unsigned tail = (lo->head + lo->count) % LOOPBACK_QUEUE_FRAMES;
    lo->ring[tail] = (struct loop_frame){.len = len, .data = copy};
    lo->count++;
    lo->bytes += len;
    return 0;
}

static ssize_t loopback_recv(struct netif *netif, uint8_t *buf, size_t cap)
{
    struct loopback *lo = netif->driver;
    if (lo->count == 0)
        return 0;
    struct loop_frame f = lo->ring[lo->head];
    lo->head = (lo->head + 1) % LOOPBACK_QUEUE_FRAMES;
    lo->count--;
    lo->bytes -= f.len;
    size_t n = f.len < cap ? f.len : cap;
    memcpy(buf, f.data, n);
    free(f.data);
    return (ssize_t)n;
}

static void loopback_close(struct netif *netif)
{
    struct loopback *lo = netif->driver;
    while (lo->count > 0) {
        free(lo->ring[lo->head].data);
        lo->head = (lo->head + 1) % LOOPBACK_QUEUE_FRAMES;
        lo->count--;
    }
    free(lo);
}

static const struct driver_ops loopback_ops = {
    .name = "loopback", .send = loopback_send, .recv = loopback_recv, .close = loopback_close};

struct netif *loopback_open(struct stack *stack)
{
    struct loopback *lo = calloc(1, sizeof(*lo));
    if (lo == NULL)
        return NULL;
    struct netif *netif = netif_create(stack, "lo", NETIF_LOOPBACK, &loopback_ops, lo, -1);
    if (netif == NULL)
        free(lo);
    return netif;
}
