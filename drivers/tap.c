/* The TAP driver: one Ethernet frame per read or write on /dev/net/tun. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"
#include "fdreg.h"
#include "netif.h"
#include "stack.h"

static int tap_send(struct netif *netif, const uint8_t *frame, size_t len)
{
    ssize_t n = write(netif->fd, frame, len);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

static ssize_t tap_recv(struct netif *netif, uint8_t *buf, size_t cap)
{
    ssize_t n = read(netif->fd, buf, cap);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    return n;
}

static void tap_close(struct netif *netif)
{
    fdreg_close(netif->fd);
    netif->fd = -1;
}

static const struct driver_ops tap_ops = {
    .name = "tap", .send = tap_send, .recv = tap_recv, .close = tap_close};

/* Brings a TAP we created up, so frames flow without the user's help. */
static int link_set_up(const char *ifname)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    int rc = 0;
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        rc = -errno;
    else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
            rc = -errno;
    }
    close(sock);
    return rc;
}

int tap_open(struct stack *stack, const char *ifname, struct netif **out, char *err,
             size_t errlen)
{
    bool existed = if_nametoindex(ifname) != 0;
    int fd = fdreg_take(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "TOYSOCK_IFACE: cannot open /dev/net/tun for %s: %s", ifname,
                 strerror(e));
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        fdreg_close(fd);
        if (e == EBUSY)
            snprintf(err, errlen,
                     "TOYSOCK_IFACE: %s is held by another process (another toysock stack, "
                     "qemu or a VPN?)",
                     ifname);
        else if (e == EPERM || e == EACCES)
            snprintf(err, errlen,
                     "TOYSOCK_IFACE: no permission to attach %s; as root run: ip tuntap add dev "
                     "%s mode tap user $USER; ip link set dev %s up; ip addr add 192.0.2.1/24 "
                     "dev %s (or scripts/lab up)",
                     ifname, ifname, ifname, ifname);
        else if (e == EINVAL)
            snprintf(err, errlen, "TOYSOCK_IFACE: %s exists and is not a TAP device", ifname);
        else
            snprintf(err, errlen, "TOYSOCK_IFACE: cannot attach %s: %s", ifname, strerror(e));
        return -e;
    }
    /* A persistent TAP keeps offload flags a previous user set; without
     * vnet headers we must receive plain frames. */
    if (ioctl(fd, TUNSETOFFLOAD, 0) < 0)
        LOG_DEBUG(stack, "%s: TUNSETOFFLOAD 0: %s", ifname, strerror(errno));
    if (!existed) {
        int rc = link_set_up(ifname);
        if (rc < 0)
            LOG_WARN(stack, "%s: created but could not bring it up: %s", ifname, strerror(-rc));
        LOG_WARN(stack,
                 "created TAP device %s; its kernel side still needs an address, e.g. ip addr "
                 "add 192.0.2.1/24 dev %s (or use scripts/lab up)",
                 ifname, ifname);
    }
    struct netif *netif = netif_create(stack, ifname, NETIF_ETHERNET, &tap_ops, NULL, fd);
    if (netif == NULL) {
        fdreg_close(fd);
        snprintf(err, errlen, "TOYSOCK_IFACE: %s: out of memory", ifname);
        return -ENOMEM;
    }
    *out = netif;
    return 0;
}
