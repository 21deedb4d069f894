/* ioctl and fcntl on toysock sockets (item 6: nothing falls through to the
 * AF_UNIX bridge that would answer for it). Blocking mode, close-on-exec,
 * owner and async settings are the bridge's own and stay native; queue
 * sizes are corrected for what the bridge carries; interface questions
 * (SIOCGIF*) are answered for the stack's interfaces, not the host's. */
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>

#include "channel.h"
#include "fdtable.h"
#include "shim.h"

#define HDR sizeof(struct dgram_hdr)

struct shim_iface {
    const char *name;
    int index;
    uint32_t addr; /* host order; 0: none */
    uint8_t prefix;
    short flags;
    int mtu;
    unsigned short hwtype;
    uint8_t mac[6];
};

static unsigned shim_ifaces(struct shim_iface out[2])
{
    out[0] = (struct shim_iface){.name = "lo",
                                 .index = 1,
                                 .addr = 0x7f000001,
                                 .prefix = 8,
                                 .flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING,
                                 .mtu = 65536,
                                 .hwtype = ARPHRD_LOOPBACK};
    const struct toysock_config *cfg = shim_config();
    if (cfg == NULL)
        return 1;
    out[1] = (struct shim_iface){.name = cfg->iface,
                                 .index = 2,
                                 .addr = cfg->addr,
                                 .prefix = cfg->prefix_len,
                                 .flags = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST,
                                 .mtu = (int)cfg->mtu,
                                 .hwtype = ARPHRD_ETHER};
    memcpy(out[1].mac, cfg->mac, 6);
    return 2;
}

static void put_sin(struct sockaddr *sa, uint32_t addr)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};
    memcpy(sa, &sin, sizeof(sin));
}

static uint32_t prefix_mask(uint8_t prefix)
{
    return prefix >= 32 ? 0xffffffffu : prefix == 0 ? 0 : ~(0xffffffffu >> prefix);
}

static int ifreq_ioctl(unsigned long req, void *arg)
{
    struct shim_iface ifs[2];
    unsigned n = shim_ifaces(ifs);
    if (req == SIOCGIFCONF) {
        struct ifconf *ifc = arg;
        if (ifc->ifc_buf == NULL) {
            ifc->ifc_len = (int)(n * sizeof(struct ifreq));
            return 0;
        }
        int room = ifc->ifc_len / (int)sizeof(struct ifreq);
        int done = 0;
        for (unsigned i = 0; i < n && done < room; i++) {
            struct ifreq r;
            memset(&r, 0, sizeof(r));
            strncpy(r.ifr_name, ifs[i].name, IFNAMSIZ - 1);
            put_sin(&r.ifr_addr, ifs[i].addr);
            memcpy(&ifc->ifc_req[done++], &r, sizeof(r));
        }
        ifc->ifc_len = done * (int)sizeof(struct ifreq);
        return 0;
    }
    struct ifreq *r = arg;
    if (req == SIOCGIFNAME) {
        for (unsigned i = 0; i < n; i++)
            if (ifs[i].index == r->ifr_ifindex) {
                memset(r->ifr_name, 0, IFNAMSIZ);
                strncpy(r->ifr_name, ifs[i].name, IFNAMSIZ - 1);
                return 0;
            }
        return -ENODEV;
    }
    const struct shim_iface *f = NULL;
    for (unsigned i = 0; i < n; i++)
        if (strncmp(r->ifr_name, ifs[i].name, IFNAMSIZ) == 0)
            f = &ifs[i];
    if (f == NULL)
        return -ENODEV;
    uint32_t mask = prefix_mask(f->prefix);
    switch (req) {
    case SIOCGIFFLAGS: r->ifr_flags = f->flags; return 0;
    case SIOCGIFADDR: put_sin(&r->ifr_addr, f->addr); return 0;
    case SIOCGIFDSTADDR: put_sin(&r->ifr_dstaddr, f->addr); return 0;
    case SIOCGIFNETMASK: put_sin(&r->ifr_netmask, mask); return 0;
    case SIOCGIFBRDADDR:
        put_sin(&r->ifr_broadaddr, (f->flags & IFF_BROADCAST) ? (f->addr | ~mask) : 0);
        return 0;
    case SIOCGIFMTU: r->ifr_mtu = f->mtu; return 0;
    case SIOCGIFINDEX: r->ifr_ifindex = f->index; return 0;
    case SIOCGIFMETRIC: r->ifr_metric = 0; return 0;
    case SIOCGIFTXQLEN: r->ifr_qlen = 1000; return 0;
    case SIOCGIFMAP: memset(&r->ifr_map, 0, sizeof(r->ifr_map)); return 0;
    case SIOCGIFHWADDR:
        memset(&r->ifr_hwaddr, 0, sizeof(r->ifr_hwaddr));
        r->ifr_hwaddr.sa_family = f->hwtype;
        memcpy(r->ifr_hwaddr.sa_data, f->mac, 6);
        return 0;
    default: return -EOPNOTSUPP;
    }
}

static bool is_ifreq_get(unsigned long req)
{
    switch (req) {
    case SIOCGIFCONF:
    case SIOCGIFNAME:
    case SIOCGIFFLAGS:
    case SIOCGIFADDR:
    case SIOCGIFDSTADDR:
    case SIOCGIFNETMASK:
    case SIOCGIFBRDADDR:
    case SIOCGIFMTU:
    case SIOCGIFINDEX:
    case SIOCGIFMETRIC:
    case SIOCGIFTXQLEN:
    case SIOCGIFMAP:
    case SIOCGIFHWADDR:
    case SIOCGIFPFLAGS:
    case SIOCETHTOOL: return true;
    default: return req >= 0x8b00 && req <= 0x8bff; /* wireless extensions */
    }
}

static int sock_ioctl(struct tsock *s, int fd, unsigned long req, void *arg)
{
    int v;
    switch (req) {
    case FIONREAD: /* == SIOCINQ == TIOCINQ */
        if (atomic_load(&s->state) == TS_LISTENING)
            return -EINVAL;
        if (s->type == SOCK_DGRAM) {
            /* The first datagram's payload (a seqpacket bridge's FIONREAD
             * would sum them all, headers included; item 5). */
            struct dgram_hdr h;
            long n =
                RAW(SYS_recvfrom, fd, &h, sizeof(h), MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, 0, 0);
            v = n >= (long)HDR && !(h.flags & DGRAM_F_ERROR) ? (int)(n - (long)HDR) : 0;
        } else if (sys_ioctl(fd, FIONREAD, &v) < 0) {
            return -EBADF;
        }
        memcpy(arg, &v, sizeof(v));
        return 0;
    case SIOCOUTQ: /* == TIOCOUTQ */
    case SIOCOUTQNSD:
        if (atomic_load(&s->state) == TS_LISTENING)
            return -EINVAL;
        if (sys_ioctl(fd, SIOCOUTQ, &v) < 0)
            return -EBADF;
        memcpy(arg, &v, sizeof(v));
        return 0;
    case SIOCATMARK:
        if (s->type != SOCK_STREAM)
            return -ENOTTY;
        v = 0; /* no urgent data (item 19) */
        memcpy(arg, &v, sizeof(v));
        return 0;
    case SIOCGSTAMP:
    case SIOCGSTAMPNS: return -ENOENT;
    default: break;
    }
    if (is_ifreq_get(req))
        return ifreq_ioctl(req, arg);
    return 1; /* native: FIONBIO, FIOCLEX, FIOASYNC, owners, SIOCS* */
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (shim_bypass())
        return REAL(ioctl) ? REAL(ioctl)(fd, req, arg)
                           : (int)raw_ret(RAW(SYS_ioctl, fd, req, arg, 0, 0, 0));
    struct tsock *s = fdt_get(fd);
    if (s != NULL && s->type != 0 && !shim_bypass_ctl() && (s = fdt_lookup(fd)) != NULL &&
        s->type != 0) {
        SHIM_SAVE_ERRNO;
        int rc = arg == NULL && req != FIONBIO && req != FIOCLEX && req != FIONCLEX
                     ? -EFAULT
                     : sock_ioctl(s, fd, req, arg);
        if (rc <= 0) {
            if (rc < 0) {
                errno = -rc;
                return -1;
            }
            SHIM_RESTORE_ERRNO;
            return 0;
        }
    } else if (shim_fd_hidden(fd)) {
        errno = EBADF;
        return -1;
    }
    return REAL(ioctl)(fd, req, arg);
}

static int fcntl_impl(int fd, int cmd, void *arg)
{
    if (shim_bypass())
        return REAL(fcntl) ? REAL(fcntl)(fd, cmd, arg)
                           : (int)raw_ret(RAW(SYS_fcntl, fd, cmd, arg, 0, 0, 0));
    if (shim_fd_hidden(fd)) {
        /* Close-all loops probe with F_GETFD: the stack's fds are not
         * there for them (item 10). */
        errno = EBADF;
        return -1;
    }
    int r = REAL(fcntl)(fd, cmd, arg);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        shim_fcntl_dup_note(fd, r);
    return r;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_impl(fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_impl(fd, cmd, arg);
}

SHIM_ALIAS(ioctl);
SHIM_ALIAS(fcntl);
