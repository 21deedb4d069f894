/* Name resolution (item 12, DESIGN §7). glibc's resolver makes no
 * interposable socket calls: whatever entry point is not answered here
 * would query DNS through the kernel, behind the stack's back. So the
 * whole family is answered here: numeric addresses, /etc/hosts, and
 * "localhost"; a name that needs DNS fails with EAI_AGAIN (TRY_AGAIN for
 * the old calls) and one log line, until the stack's DNS client exists.
 * Result memory follows glibc's layout (one block per addrinfo holding its
 * address, ai_canonname apart), so either freeaddrinfo frees either's. */
#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "shim.h"

#ifndef NI_NUMERICSCOPE
#define NI_NUMERICSCOPE 0x100 /* glibc's value; not in every header */
#endif

#define HOSTS_MAX_ADDRS 16
#define HOSTS_MAX_ALIASES 8
#define NAME_MAX_LEN 256

struct haddr {
    int family;
    unsigned char a[16];
    uint32_t scope;
};

struct hosts_hit {
    char canon[NAME_MAX_LEN];
    char aliases[HOSTS_MAX_ALIASES][NAME_MAX_LEN];
    unsigned naliases;
    struct haddr addrs[HOSTS_MAX_ADDRS];
    unsigned naddrs;
};

static void dns_needed(const char *what)
{
    char line[400];
    snprintf(line, sizeof(line),
             "cannot resolve '%.200s': names need DNS and toysock has no DNS client yet "
             "(numeric addresses and /etc/hosts only)",
             what);
    shim_log_once(SHIM_LOG_ERROR, line);
}

/* ---- /etc/hosts ---- */

static const char *hosts_path(void)
{
    return "/etc/hosts";
}

static bool parse_addr(const char *text, struct haddr *out)
{
    memset(out, 0, sizeof(*out));
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        out->family = AF_INET;
        memcpy(out->a, &v4, 4);
        return true;
    }
    char buf[INET6_ADDRSTRLEN + IFNAMSIZ + 2];
    snprintf(buf, sizeof(buf), "%s", text);
    char *pct = strchr(buf, '%');
    if (pct != NULL) {
        *pct++ = '\0';
        char *end;
        unsigned long n = strtoul(pct, &end, 10);
        out->scope = *end == '\0' && *pct != '\0' ? (uint32_t)n : if_nametoindex(pct);
    }
    struct in6_addr v6;
    if (inet_pton(AF_INET6, buf, &v6) == 1) {
        out->family = AF_INET6;
        memcpy(out->a, &v6, 16);
        return true;
    }
    return false;
}

/* Visits each well-formed line: address and names. Stops when fn says. */
static void hosts_scan(bool (*fn)(const struct haddr *a, char **names, unsigned n, void *arg),
                       void *arg)
{
    FILE *f = fopen(hosts_path(), "re");
    if (f == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *names[HOSTS_MAX_ALIASES + 1];
        unsigned n = 0;
        char *save = NULL;
        char *tok = strtok_r(line, " \t\r\n", &save);
        if (tok == NULL)
            continue;
        struct haddr a;
        if (!parse_addr(tok, &a))
            continue;
        while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL && n < HOSTS_MAX_ALIASES + 1)
            names[n++] = tok;
        if (n > 0 && !fn(&a, names, n, arg))
            break;
    }
    fclose(f);
}

struct by_name {
    const char *name;
    struct hosts_hit *hit;
};

static bool match_name(const struct haddr *a, char **names, unsigned n, void *arg)
{
    struct by_name *q = arg;
    for (unsigned i = 0; i < n; i++) {
        if (strcasecmp(names[i], q->name) != 0)
            continue;
        struct hosts_hit *h = q->hit;
        if (h->naddrs == 0) {
            snprintf(h->canon, sizeof(h->canon), "%s", names[0]);
            for (unsigned k = 1; k < n && h->naliases < HOSTS_MAX_ALIASES; k++)
                snprintf(h->aliases[h->naliases++], NAME_MAX_LEN, "%s", names[k]);
        }
        if (h->naddrs < HOSTS_MAX_ADDRS)
            h->addrs[h->naddrs++] = *a;
        break;
    }
    return true;
}

/* Addresses of name from /etc/hosts (every matching line), "localhost"
 * when the file lacks it (RFC 6761). False when the name is unknown. */
static bool hosts_by_name(const char *name, struct hosts_hit *hit)
{
    memset(hit, 0, sizeof(*hit));
    char clean[NAME_MAX_LEN];
    snprintf(clean, sizeof(clean), "%s", name);
    size_t len = strlen(clean);
    if (len > 1 && clean[len - 1] == '.')
        clean[len - 1] = '\0';
    struct by_name q = {.name = clean, .hit = hit};
    hosts_scan(match_name, &q);
    if (hit->naddrs == 0 &&
        (strcasecmp(clean, "localhost") == 0 ||
         (len > 10 && strcasecmp(clean + strlen(clean) - 10, ".localhost") == 0))) {
        snprintf(hit->canon, sizeof(hit->canon), "localhost");
        hit->addrs[0] = (struct haddr){.family = AF_INET, .a = {127, 0, 0, 1}};
        hit->addrs[1] = (struct haddr){.family = AF_INET6};
        hit->addrs[1].a[15] = 1;
        hit->naddrs = 2;
    }
    return hit->naddrs > 0;
}

struct by_addr {
    struct haddr want;
    struct hosts_hit *hit;
};

static bool match_addr(const struct haddr *a, char **names, unsigned n, void *arg)
{
    struct by_addr *q = arg;
    if (a->family != q->want.family || memcmp(a->a, q->want.a, a->family == AF_INET ? 4 : 16) != 0)
        return true;
    snprintf(q->hit->canon, NAME_MAX_LEN, "%s", names[0]);
    for (unsigned k = 1; k < n && q->hit->naliases < HOSTS_MAX_ALIASES; k++)
        snprintf(q->hit->aliases[q->hit->naliases++], NAME_MAX_LEN, "%s", names[k]);
    q->hit->addrs[0] = *a;
    q->hit->naddrs = 1;
    return false;
}

static bool hosts_by_addr(const struct haddr *want, struct hosts_hit *hit)
{
    memset(hit, 0, sizeof(*hit));
    struct by_addr q = {.want = *want, .hit = hit};
    hosts_scan(match_addr, &q);
    return hit->naddrs > 0;
}

/* ---- getaddrinfo ---- */

struct svc {
    int socktype;
    int protocol;
    uint16_t port;
};

/* The (socktype, protocol, port) triples for service, as glibc makes
 * them: a numeric or absent service gives stream, datagram and raw; a
 * named one the types /etc/services lists it for. */
static int services(const char *service, const struct addrinfo *h, struct svc out[3], unsigned *n)
{
    static const struct svc all[3] = {
        {SOCK_STREAM, IPPROTO_TCP, 0}, {SOCK_DGRAM, IPPROTO_UDP, 0}, {SOCK_RAW, 0, 0}};
    *n = 0;
    bool numeric = false;
    long port = 0;
    if (service != NULL) {
        char *end;
        port = strtol(service, &end, 10);
        numeric = *service != '\0' && *end == '\0';
        if (numeric && (port < 0 || port > 65535))
            return EAI_SERVICE;
        if (!numeric && (h->ai_flags & AI_NUMERICSERV))
            return EAI_NONAME;
    }
    for (unsigned i = 0; i < 3; i++) {
        struct svc s = all[i];
        if (h->ai_socktype != 0 && h->ai_socktype != s.socktype)
            continue;
        if (h->ai_protocol != 0 && s.protocol != 0 && h->ai_protocol != s.protocol)
            continue;
        if (h->ai_socktype == 0 && h->ai_protocol != 0 && s.socktype == SOCK_RAW)
            continue;
        if (s.socktype == SOCK_RAW) {
            if (service != NULL && h->ai_socktype == SOCK_RAW)
                return EAI_SERVICE;
            if (service != NULL && !numeric)
                continue;
            s.protocol = h->ai_protocol;
        }
        if (service == NULL) {
            s.port = 0;
        } else if (numeric) {
            s.port = (uint16_t)port;
        } else {
            struct servent se, *res = NULL;
            char buf[1024];
            const char *proto = s.socktype == SOCK_STREAM ? "tcp" : "udp";
            if (getservbyname_r(service, proto, &se, buf, sizeof(buf), &res) != 0 || res == NULL)
                continue;
            s.port = ntohs((uint16_t)res->s_port);
        }
        out[(*n)++] = s;
    }
    if (*n == 0)
        return h->ai_socktype != 0 && h->ai_socktype != SOCK_STREAM &&
                       h->ai_socktype != SOCK_DGRAM && h->ai_socktype != SOCK_RAW
                   ? EAI_SOCKTYPE
                   : EAI_SERVICE;
    return 0;
}

static struct addrinfo *ai_new(const struct haddr *a, int family, const struct svc *s)
{
    struct addrinfo *ai = calloc(1, sizeof(*ai) + sizeof(struct sockaddr_in6));
    if (ai == NULL)
        return NULL;
    ai->ai_family = family;
    ai->ai_socktype = s->socktype;
    ai->ai_protocol = s->protocol;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(s->port);
        memcpy(&sin->sin_addr, a->a, 4);
        ai->ai_addrlen = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ai->ai_addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(s->port);
        if (a->family == AF_INET) { /* v4-mapped */
            sin6->sin6_addr.s6_addr[10] = 0xff;
            sin6->sin6_addr.s6_addr[11] = 0xff;
            memcpy(&sin6->sin6_addr.s6_addr[12], a->a, 4);
        } else {
            memcpy(&sin6->sin6_addr, a->a, 16);
            sin6->sin6_scope_id = a->scope;
        }
        ai->ai_addrlen = sizeof(*sin6);
    }
    return ai;
}

SHIM_EXPORT void freeaddrinfo(struct addrinfo *ai)
{
    while (ai != NULL) {
        struct addrinfo *next = ai->ai_next;
        free(ai->ai_canonname);
        free(ai);
        ai = next;
    }
}

#define GAI_KNOWN_FLAGS                                                                            \
    (AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_NUMERICSERV | AI_V4MAPPED | AI_ALL |          \
     AI_ADDRCONFIG | AI_IDN | AI_CANONIDN)

static int gai_impl(const char *node, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res)
{
    struct addrinfo h = {.ai_family = AF_UNSPEC, .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG};
    if (hints != NULL)
        h = *hints;
    if (res == NULL)
        return EAI_SYSTEM;
    *res = NULL;
    if (h.ai_flags & ~GAI_KNOWN_FLAGS)
        return EAI_BADFLAGS;
    if ((h.ai_flags & AI_CANONNAME) && node == NULL)
        return EAI_BADFLAGS;
    if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
        return EAI_FAMILY;
    if (node == NULL && service == NULL)
        return EAI_NONAME;
    struct svc svcs[3];
    unsigned nsvc;
    int rc = services(service, &h, svcs, &nsvc);
    if (rc != 0)
        return rc;

    struct haddr addrs[HOSTS_MAX_ADDRS];
    unsigned naddrs = 0;
    const char *canon = NULL;
    struct hosts_hit hit;
    if (node == NULL) {
        struct haddr v4 = {.family = AF_INET}, v6 = {.family = AF_INET6};
        if (!(h.ai_flags & AI_PASSIVE)) {
            v4.a[0] = 127;
            v4.a[3] = 1;
            v6.a[15] = 1;
            addrs[naddrs++] = v6; /* glibc's order: ::1 first, 0.0.0.0 first */
            addrs[naddrs++] = v4;
        } else {
            addrs[naddrs++] = v4;
            addrs[naddrs++] = v6;
        }
    } else {
        struct haddr a;
        struct in_addr legacy;
        if (parse_addr(node, &a) || (inet_aton(node, &legacy) && strchr(node, ':') == NULL)) {
            if (a.family == 0) {
                a = (struct haddr){.family = AF_INET};
                memcpy(a.a, &legacy, 4);
            }
            if (h.ai_family == AF_INET && a.family == AF_INET6)
                return EAI_ADDRFAMILY;
            if (h.ai_family == AF_INET6 && a.family == AF_INET && !(h.ai_flags & AI_V4MAPPED))
                return EAI_ADDRFAMILY;
            addrs[naddrs++] = a;
            canon = node;
        } else if (h.ai_flags & AI_NUMERICHOST) {
            return EAI_NONAME;
        } else if (hosts_by_name(node, &hit)) {
            for (unsigned i = 0; i < hit.naddrs; i++)
                addrs[naddrs++] = hit.addrs[i];
            canon = hit.canon;
        } else {
            dns_needed(node);
            return EAI_AGAIN;
        }
    }

    /* Family filter, v4-mapping and AI_ADDRCONFIG (the stack has IPv4
     * only: no IPv6 address counts as configured, as glibc would judge
     * a host without global IPv6). */
    struct {
        struct haddr a;
        int family;
    } picks[HOSTS_MAX_ADDRS * 2];
    unsigned npicks = 0;
    bool have_v6 = false;
    for (unsigned i = 0; i < naddrs; i++)
        if (addrs[i].family == AF_INET6)
            have_v6 = true;
    for (unsigned i = 0; i < naddrs; i++) {
        const struct haddr *a = &addrs[i];
        if (node != NULL && (h.ai_flags & AI_ADDRCONFIG) && a->family == AF_INET6 &&
            h.ai_family != AF_INET6)
            continue;
        if (h.ai_family == AF_UNSPEC || h.ai_family == a->family) {
            picks[npicks].a = *a;
            picks[npicks++].family = a->family;
        } else if (h.ai_family == AF_INET6 && a->family == AF_INET && (h.ai_flags & AI_V4MAPPED) &&
                   (!have_v6 || (h.ai_flags & AI_ALL))) {
            picks[npicks].a = *a;
            picks[npicks++].family = AF_INET6;
        }
    }
    if (npicks == 0)
        return node != NULL ? EAI_ADDRFAMILY : EAI_NONAME;

    struct addrinfo *head = NULL, **tail = &head;
    for (unsigned i = 0; i < npicks; i++) {
        for (unsigned k = 0; k < nsvc; k++) {
            struct addrinfo *ai = ai_new(&picks[i].a, picks[i].family, &svcs[k]);
            if (ai == NULL) {
                freeaddrinfo(head);
                return EAI_MEMORY;
            }
            *tail = ai;
            tail = &ai->ai_next;
        }
    }
    if ((h.ai_flags & AI_CANONNAME) && head != NULL) {
        head->ai_canonname = strdup(canon != NULL ? canon : node);
        if (head->ai_canonname == NULL) {
            freeaddrinfo(head);
            return EAI_MEMORY;
        }
    }
    *res = head;
    return 0;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res)
{
    SHIM_SAVE_ERRNO;
    int rc = gai_impl(node, service, hints, res);
    if (rc != EAI_SYSTEM)
        SHIM_RESTORE_ERRNO;
    return rc;
}

/* ---- getnameinfo ---- */

static int copy_out(char *dst, socklen_t len, const char *src)
{
    size_t n = strlen(src);
    if (n + 1 > len)
        return EAI_OVERFLOW;
    memcpy(dst, src, n + 1);
    return 0;
}

SHIM_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                            socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
    SHIM_SAVE_ERRNO;
    if (sa == NULL)
        return EAI_FAMILY;
    struct haddr a = {0};
    uint16_t port;
    if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const void *)sa;
        a.family = AF_INET;
        memcpy(a.a, &sin->sin_addr, 4);
        port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const void *)sa;
        a.family = AF_INET6;
        memcpy(a.a, &sin6->sin6_addr, 16);
        a.scope = sin6->sin6_scope_id;
        port = ntohs(sin6->sin6_port);
    } else {
        return EAI_FAMILY;
    }
    if ((host == NULL || hostlen == 0) && (serv == NULL || servlen == 0))
        return EAI_NONAME;
    int rc = 0;
    if (host != NULL && hostlen > 0) {
        char text[NAME_MAX_LEN];
        bool named = false;
        if (!(flags & NI_NUMERICHOST)) {
            struct haddr look = a;
            if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a.a)) {
                look = (struct haddr){.family = AF_INET};
                memcpy(look.a, a.a + 12, 4);
            }
            struct hosts_hit hit;
            if (hosts_by_addr(&look, &hit)) {
                snprintf(text, sizeof(text), "%s", hit.canon);
                if (flags & NI_NOFQDN) {
                    char *dot = strchr(text, '.');
                    if (dot != NULL)
                        *dot = '\0';
                }
                named = true;
            }
        }
        if (!named) {
            inet_ntop(a.family, a.a, text, sizeof(text));
            if (flags & NI_NAMEREQD) {
                dns_needed(text);
                return EAI_AGAIN;
            }
            if (a.family == AF_INET6 && a.scope != 0) {
                char ifname[IF_NAMESIZE];
                size_t n = strlen(text);
                if (!(flags & NI_NUMERICSCOPE) && if_indextoname(a.scope, ifname) != NULL)
                    snprintf(text + n, sizeof(text) - n, "%%%s", ifname);
                else
                    snprintf(text + n, sizeof(text) - n, "%%%u", a.scope);
            }
        }
        rc = copy_out(host, hostlen, text);
        if (rc != 0)
            return rc;
    }
    if (serv != NULL && servlen > 0) {
        char text[64];
        struct servent se, *res = NULL;
        char buf[1024];
        if (!(flags & NI_NUMERICSERV) &&
            getservbyport_r(htons(port), (flags & NI_DGRAM) ? "udp" : "tcp", &se, buf, sizeof(buf),
                            &res) == 0 &&
            res != NULL)
            snprintf(text, sizeof(text), "%s", res->s_name);
        else
            snprintf(text, sizeof(text), "%u", port);
        rc = copy_out(serv, servlen, text);
    }
    SHIM_RESTORE_ERRNO;
    return rc;
}

/* ---- gethostbyname and friends ---- */

/* Lays a hostent out in buf. */
static int hostent_build(struct hostent *ret, char *buf, size_t buflen, const char *name,
                         char aliases[][NAME_MAX_LEN], unsigned naliases, const struct haddr *addrs,
                         unsigned naddrs, int af)
{
    size_t alen = af == AF_INET ? 4 : 16;
    uintptr_t p = (uintptr_t)buf;
    uintptr_t end = p + buflen;
    p = (p + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
    char **addr_list = (char **)p;
    p += (naddrs + 1) * sizeof(char *);
    char **alias_list = (char **)p;
    p += (naliases + 1) * sizeof(char *);
    if (p > end)
        return ERANGE;
    for (unsigned i = 0; i < naddrs; i++) {
        if (p + alen > end)
            return ERANGE;
        if (af == AF_INET6 && addrs[i].family == AF_INET) {
            unsigned char m[16] = {0};
            m[10] = m[11] = 0xff;
            memcpy(m + 12, addrs[i].a, 4);
            memcpy((void *)p, m, 16);
        } else {
            memcpy((void *)p, addrs[i].a, alen);
        }
        addr_list[i] = (char *)p;
        p += alen;
    }
    addr_list[naddrs] = NULL;
    for (unsigned i = 0; i < naliases; i++) {
        size_t n = strlen(aliases[i]) + 1;
        if (p + n > end)
            return ERANGE;
        memcpy((void *)p, aliases[i], n);
        alias_list[i] = (char *)p;
        p += n;
    }
    alias_list[naliases] = NULL;
    size_t n = strlen(name) + 1;
    if (p + n > end)
        return ERANGE;
    memcpy((void *)p, name, n);
    ret->h_name = (char *)p;
    ret->h_aliases = alias_list;
    ret->h_addrtype = af;
    ret->h_length = (int)alen;
    ret->h_addr_list = addr_list;
    return 0;
}

static int ghbn2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
                   struct hostent **result, int *h_errnop)
{
    *result = NULL;
    if (af != AF_INET && af != AF_INET6) {
        *h_errnop = NETDB_INTERNAL;
        return EAFNOSUPPORT;
    }
    struct haddr a;
    struct hosts_hit hit;
    memset(&hit, 0, sizeof(hit));
    if (parse_addr(name, &a)) {
        if (a.family != af) {
            *h_errnop = HOST_NOT_FOUND;
            return ENOENT;
        }
        hit.addrs[0] = a;
        hit.naddrs = 1;
        snprintf(hit.canon, sizeof(hit.canon), "%s", name);
    } else if (!hosts_by_name(name, &hit)) {
        dns_needed(name);
        *h_errnop = TRY_AGAIN;
        return EAGAIN;
    }
    struct haddr keep[HOSTS_MAX_ADDRS];
    unsigned n = 0;
    for (unsigned i = 0; i < hit.naddrs; i++)
        if (hit.addrs[i].family == af)
            keep[n++] = hit.addrs[i];
    if (n == 0) {
        *h_errnop = NO_DATA;
        return ENOENT;
    }
    int rc = hostent_build(ret, buf, buflen, hit.canon, hit.aliases, hit.naliases, keep, n, af);
    if (rc != 0) {
        *h_errnop = NETDB_INTERNAL;
        return rc;
    }
    *result = ret;
    *h_errnop = 0;
    return 0;
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
                                 size_t buflen, struct hostent **result, int *h_errnop)
{
    SHIM_SAVE_ERRNO;
    int rc = ghbn2_r(name, af, ret, buf, buflen, result, h_errnop);
    h_errno = *h_errnop; /* glibc sets both; CPython reads h_errno */
    if (rc == 0)
        SHIM_RESTORE_ERRNO;
    else
        errno = rc;
    return rc;
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                                struct hostent **result, int *h_errnop)
{
    return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

static _Thread_local struct hostent static_hostent;
static _Thread_local char static_hostbuf[4096];

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
    struct hostent *res = NULL;
    int herr = 0;
    gethostbyname2_r(name, af, &static_hostent, static_hostbuf, sizeof(static_hostbuf), &res,
                     &herr);
    h_errno = herr;
    return res;
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
    return gethostbyname2(name, AF_INET);
}

static int ghba_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
                  size_t buflen, struct hostent **result, int *h_errnop)
{
    *result = NULL;
    struct haddr a = {.family = type};
    if ((type == AF_INET && len == 4) || (type == AF_INET6 && len == 16)) {
        memcpy(a.a, addr, len);
    } else {
        *h_errnop = NETDB_INTERNAL;
        errno = EAFNOSUPPORT;
        return EAFNOSUPPORT;
    }
    struct hosts_hit hit;
    if (!hosts_by_addr(&a, &hit)) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(type, addr, text, sizeof(text));
        dns_needed(text);
        *h_errnop = TRY_AGAIN;
        return EAGAIN;
    }
    int rc = hostent_build(ret, buf, buflen, hit.canon, hit.aliases, hit.naliases, &a, 1, type);
    if (rc != 0) {
        *h_errnop = NETDB_INTERNAL;
        return rc;
    }
    *result = ret;
    *h_errnop = 0;
    return 0;
}

SHIM_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
                                char *buf, size_t buflen, struct hostent **result, int *h_errnop)
{
    int rc = ghba_r(addr, len, type, ret, buf, buflen, result, h_errnop);
    h_errno = *h_errnop;
    return rc;
}

SHIM_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
    struct hostent *res = NULL;
    int herr = 0;
    gethostbyaddr_r(addr, len, type, &static_hostent, static_hostbuf, sizeof(static_hostbuf), &res,
                    &herr);
    h_errno = herr;
    return res;
}

/* ---- getaddrinfo_a: answered at once (nothing here waits) ---- */

struct notify {
    void (*fn)(union sigval);
    union sigval value;
};

static void *notify_thread(void *p)
{
    struct notify n = *(struct notify *)p;
    free(p);
    n.fn(n.value);
    return NULL;
}

SHIM_EXPORT int getaddrinfo_a(int mode, struct gaicb *list[], int nitems, struct sigevent *sevp)
{
    if (mode != GAI_WAIT && mode != GAI_NOWAIT)
        return EAI_SYSTEM;
    for (int i = 0; i < nitems; i++) {
        struct gaicb *r = list[i];
        if (r == NULL)
            continue;
        r->ar_result = NULL;
        r->__return = getaddrinfo(r->ar_name, r->ar_service, r->ar_request, &r->ar_result);
    }
    if (mode == GAI_NOWAIT && sevp != NULL) {
        if (sevp->sigev_notify == SIGEV_SIGNAL) {
            sigqueue(getpid(), sevp->sigev_signo, sevp->sigev_value);
        } else if (sevp->sigev_notify == SIGEV_THREAD && sevp->sigev_notify_function != NULL) {
            struct notify *n = malloc(sizeof(*n));
            pthread_t t;
            pthread_attr_t attr;
            if (n != NULL) {
                n->fn = sevp->sigev_notify_function;
                n->value = sevp->sigev_value;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&t, &attr, notify_thread, n) != 0)
                    free(n);
                pthread_attr_destroy(&attr);
            }
        }
    }
    return 0;
}

SHIM_EXPORT int gai_suspend(const struct gaicb *const list[], int nitems,
                            const struct timespec *timeout)
{
    (void)timeout;
    for (int i = 0; i < nitems; i++)
        if (list[i] != NULL)
            return 0; /* every request is already complete */
    return EAI_ALLDONE;
}

SHIM_EXPORT int gai_cancel(struct gaicb *req)
{
    (void)req;
    return EAI_ALLDONE;
}

/* ---- res_*: DNS messages, which only a DNS client can answer ---- */

static int res_refuse(const char *name)
{
    dns_needed(name != NULL ? name : "(a DNS query)");
    h_errno = TRY_AGAIN;
    errno = ETIMEDOUT;
    return -1;
}

int res_query(const char *, int, int, unsigned char *, int);
int res_search(const char *, int, int, unsigned char *, int);
int res_querydomain(const char *, const char *, int, int, unsigned char *, int);
int res_send(const unsigned char *, int, unsigned char *, int);
int res_nquery(void *, const char *, int, int, unsigned char *, int);
int res_nsearch(void *, const char *, int, int, unsigned char *, int);
int res_nquerydomain(void *, const char *, const char *, int, int, unsigned char *, int);
int res_nsend(void *, const unsigned char *, int, unsigned char *, int);

SHIM_EXPORT int res_query(const char *dname, int cls, int type, unsigned char *answer, int anslen)
{
    (void)cls, (void)type, (void)answer, (void)anslen;
    return res_refuse(dname);
}

SHIM_EXPORT int res_search(const char *dname, int cls, int type, unsigned char *answer, int anslen)
{
    (void)cls, (void)type, (void)answer, (void)anslen;
    return res_refuse(dname);
}

SHIM_EXPORT int res_querydomain(const char *name, const char *domain, int cls, int type,
                                unsigned char *answer, int anslen)
{
    (void)domain, (void)cls, (void)type, (void)answer, (void)anslen;
    return res_refuse(name);
}

SHIM_EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
    (void)msg, (void)msglen, (void)answer, (void)anslen;
    return res_refuse(NULL);
}

SHIM_EXPORT int res_nquery(void *st, const char *dname, int cls, int type, unsigned char *answer,
                           int anslen)
{
    (void)st, (void)cls, (void)type, (void)answer, (void)anslen;
    return res_refuse(dname);
}

SHIM_EXPORT int res_nsearch(void *st, const char *dname, int cls, int type, unsigned char *answer,
                            int anslen)
{
    (void)st, (void)cls, (void)type, (void)answer, (void)anslen;
    return res_refuse(dname);
}

SHIM_EXPORT int res_nquerydomain(void *st, const char *name, const char *domain, int cls, int type,
                                 unsigned char *answer, int anslen)
{
    (void)st, (void)domain, (void)cls, (void)type, (void)answer, (void)anslen;
    return res_refuse(name);
}

SHIM_EXPORT int res_nsend(void *st, const unsigned char *msg, int msglen, unsigned char *answer,
                          int anslen)
{
    (void)st, (void)msg, (void)msglen, (void)answer, (void)anslen;
    return res_refuse(NULL);
}

/* The names older binaries import (glibc before 2.34 defined res_query
 * and friends as macros for these). */
#define RES_ALIAS(name)                                                                            \
    extern __typeof__(name) __##name SHIM_COPY(name)                                               \
        __attribute__((alias(#name), visibility("default")))
RES_ALIAS(res_query);
RES_ALIAS(res_search);
RES_ALIAS(res_querydomain);
RES_ALIAS(res_send);
RES_ALIAS(res_nquery);
RES_ALIAS(res_nsearch);
RES_ALIAS(res_nquerydomain);
RES_ALIAS(res_nsend);
