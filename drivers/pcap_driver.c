/* The pcap driver: the stack on an existing Ethernet interface through
 * libpcap, reading frames for our MAC, broadcast and multicast, and sending
 * with pcap_inject. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "fdreg.h"
#include "netif.h"
#include "stack.h"

/* As large as the stack's receive buffer: a 64 KiB GRO frame and headers. */
#define PCAP_DRIVER_SNAPLEN 65600
/* Room in the kernel's ring; libpcap's 2 MiB default overflows quickly when
 * the stack thread is busy at line rate. */
#define PCAP_DRIVER_BUFFER (4 * 1024 * 1024)
/* Frames skipped in one recv call (cut short, too long) before giving the
 * loop back: a flood of bad frames must not hold the stack thread. */
#define PCAP_DRIVER_SKIP_MAX 64

struct pcap_driver {
    pcap_t *pcap;
};

static int pcap_driver_send_frame(struct netif *netif, const uint8_t *frame, size_t len)
{
    struct pcap_driver *drv = netif->driver;
    errno = 0;
    int n = pcap_inject(drv->pcap, frame, len);
    if (n < 0) {
        int e = errno;
        LOG_DEBUG(netif->stack, "%s: pcap_inject: %s", netif->name, pcap_geterr(drv->pcap));
        if (e == ENOBUFS || e == EAGAIN || e == EWOULDBLOCK)
            return -EAGAIN;
        return e > 0 ? -e : -EIO;
    }
    if ((size_t)n != len)
        return -EIO;
    return 0;
}

static ssize_t pcap_driver_recv_frame(struct netif *netif, uint8_t *buf, size_t cap)
{
    struct pcap_driver *drv = netif->driver;
    for (unsigned skipped = 0; skipped < PCAP_DRIVER_SKIP_MAX; skipped++) {
        struct pcap_pkthdr *hdr;
        const u_char *data;
        int rc = pcap_next_ex(drv->pcap, &hdr, &data);
        if (rc == 0 || rc == PCAP_ERROR_BREAK)
            return 0;
        if (rc < 0) {
            LOG_DEBUG(netif->stack, "%s: pcap_next_ex: %s", netif->name,
                      pcap_geterr(drv->pcap));
            return -EIO;
        }
        /* A frame cut by the snap length, or longer than the caller's
         * buffer, is useless to the protocols: count it and read on. */
        if (hdr->caplen < hdr->len || hdr->caplen > cap) {
            STAT_INC(netif->stack, link_rx_errors);
            LOG_DEBUG(netif->stack, "%s: dropped a %u-byte frame (captured %u, room %zu)",
                      netif->name, hdr->len, hdr->caplen, cap);
            continue;
        }
        memcpy(buf, data, hdr->caplen);
        return (ssize_t)hdr->caplen;
    }
    return 0;
}

static void pcap_driver_close(struct netif *netif)
{
    struct pcap_driver *drv = netif->driver;
    if (drv == NULL)
        return;
    /* libpcap keeps its own fd number; it is only recorded, not moved. */
    fdreg_forget(pcap_get_selectable_fd(drv->pcap));
    pcap_close(drv->pcap);
    free(drv);
    netif->driver = NULL;
}

static const struct driver_ops pcap_driver_ops = {
    .name = "pcap",
    .send = pcap_driver_send_frame,
    .recv = pcap_driver_recv_frame,
    .close = pcap_driver_close,
};

/* Turns pcap_activate's failure into -errno and one line for the user. */
static int pcap_driver_activate_error(pcap_t *p, int rc, const char *ifname, char *err,
                                      size_t errlen)
{
    switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        snprintf(err, errlen, "TOYSOCK_IFACE: no interface named %s (pcap driver)", ifname);
        return -ENODEV;
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        snprintf(err, errlen,
                 "TOYSOCK_IFACE: capturing on %s needs root or CAP_NET_RAW (pcap driver): %s",
                 ifname, pcap_geterr(p));
        return -EPERM;
    case PCAP_ERROR_IFACE_NOT_UP:
        snprintf(err, errlen, "TOYSOCK_IFACE: interface %s is down (pcap driver)", ifname);
        return -ENETDOWN;
    default:
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot open %s with pcap: %s (%s)", ifname,
                 pcap_statustostr(rc), pcap_geterr(p));
        return -EIO;
    }
}

/* Captures only what the stack may want: frames to our MAC, broadcast and
 * multicast. Everything else the kernel filters before it reaches us. */
static int pcap_driver_set_filter(pcap_t *p, const char *ifname, const uint8_t mac[6],
                                  char *err, size_t errlen)
{
    char expr[128];
    snprintf(expr, sizeof(expr),
             "ether dst %02x:%02x:%02x:%02x:%02x:%02x or ether broadcast or ether multicast",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    struct bpf_program prog;
    if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot compile the filter for %s: %s", ifname,
                 pcap_geterr(p));
        return -EINVAL;
    }
    int rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot set the filter on %s: %s", ifname,
                 pcap_geterr(p));
        return -EIO;
    }
    return 0;
}

/* Everything after pcap_create: options, activation and the filter. */
static int pcap_driver_setup(pcap_t *p, const char *ifname, const uint8_t mac[6], char *err,
                             size_t errlen)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    if (pcap_set_immediate_mode(p, 1) != 0 || pcap_set_snaplen(p, PCAP_DRIVER_SNAPLEN) != 0 ||
        pcap_set_promisc(p, 0) != 0 || pcap_set_buffer_size(p, PCAP_DRIVER_BUFFER) != 0) {
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot set pcap options on %s", ifname);
        return -EIO;
    }
    int rc = pcap_activate(p);
    if (rc < 0)
        return pcap_driver_activate_error(p, rc, ifname, err, errlen);
    if (pcap_datalink(p) != DLT_EN10MB) {
        snprintf(err, errlen, "TOYSOCK_IFACE: %s is not an Ethernet interface (pcap driver)",
                 ifname);
        return -EINVAL;
    }
    if (pcap_setnonblock(p, 1, errbuf) < 0) {
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot make pcap on %s non-blocking: %s", ifname,
                 errbuf);
        return -EIO;
    }
    rc = pcap_driver_set_filter(p, ifname, mac, err, errlen);
    if (rc < 0)
        return rc;
    /* Without this we would read back every frame we inject. */
    if (pcap_setdirection(p, PCAP_D_IN) < 0) {
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot capture inbound only on %s: %s", ifname,
                 pcap_geterr(p));
        return -EIO;
    }
    if (pcap_get_selectable_fd(p) < 0) {
        snprintf(err, errlen, "TOYSOCK_IFACE: pcap on %s has no pollable descriptor", ifname);
        return -EIO;
    }
    return 0;
}

int pcap_driver_open(struct stack *stack, const char *ifname, const uint8_t mac[6],
                     struct netif **out, char *err, size_t errlen)
{
    *out = NULL;
    if (ifname == NULL || ifname[0] == '\0') {
        snprintf(err, errlen, "TOYSOCK_IFACE: no interface given for the pcap driver");
        return -EINVAL;
    }
    char errbuf[PCAP_ERRBUF_SIZE];
    errbuf[0] = '\0';
    pcap_t *p = pcap_create(ifname, errbuf);
    if (p == NULL) {
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot open %s with pcap: %s", ifname, errbuf);
        return -ENODEV;
    }
    int rc = pcap_driver_setup(p, ifname, mac, err, errlen);
    if (rc < 0) {
        pcap_close(p);
        return rc;
    }
    struct pcap_driver *drv = calloc(1, sizeof(*drv));
    if (drv == NULL) {
        pcap_close(p);
        snprintf(err, errlen, "TOYSOCK_IFACE: out of memory opening %s", ifname);
        return -ENOMEM;
    }
    drv->pcap = p;
    struct netif *netif = netif_create(stack, ifname, NETIF_ETHERNET, &pcap_driver_ops, drv,
                                       pcap_get_selectable_fd(p));
    if (netif == NULL) {
        pcap_close(p);
        free(drv);
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot register %s (out of memory or interfaces)",
                 ifname);
        return -ENOMEM;
    }
    memcpy(netif->mac, mac, ETHER_ADDR_LEN);
    netif->mtu = 1500;
    fdreg_note(netif->fd);
    LOG_INFO(stack, "%s: pcap driver attached", ifname);
    *out = netif;
    return 0;
}
