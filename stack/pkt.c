/* Packet buffers with headroom. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

struct pkt *pkt_alloc(size_t len)
{
    size_t cap = PKT_HEADROOM + len;
    struct pkt *pkt = malloc(sizeof(*pkt) + cap);
    if (pkt == NULL)
        return NULL;
    pkt->cap = cap;
    pkt->data = pkt->storage + PKT_HEADROOM;
    pkt->len = len;
    return pkt;
}

struct pkt *pkt_from(const uint8_t *bytes, size_t len)
{
    struct pkt *pkt = pkt_alloc(len);
    if (pkt != NULL && len > 0)
        memcpy(pkt->data, bytes, len);
    return pkt;
}

size_t pkt_headroom(const struct pkt *pkt)
{
    return (size_t)(pkt->data - pkt->storage);
}

uint8_t *pkt_push(struct pkt *pkt, size_t n)
{
    assert(pkt_headroom(pkt) >= n);
    pkt->data -= n;
    pkt->len += n;
    return pkt->data;
}

void pkt_pull(struct pkt *pkt, size_t n)
{
    assert(n <= pkt->len);
    pkt->data += n;
    pkt->len -= n;
}

void pkt_trim(struct pkt *pkt, size_t len)
{
    if (len < pkt->len)
        pkt->len = len;
}

void pkt_free(struct pkt *pkt)
{
    free(pkt);
}
