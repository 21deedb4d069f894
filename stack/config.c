/* Configuration: defaults and the TOYSOCK_* environment variables. Every
 * rejection names the variable and the reason in one line. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impair.h"
#include "toysock/toysock.h"
#include "wire/wire.h"

#define DEFAULT_SYN_RETRIES 6
#define DEFAULT_TIMEWAIT_MS 60000

void toysock_config_defaults(struct toysock_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->driver, "tap");
    strcpy(cfg->iface, "tap0");
    cfg->mtu = 1500;
    cfg->log_level = TOYSOCK_LOG_WARN;
    cfg->tcp_syn_retries = DEFAULT_SYN_RETRIES;
    cfg->tcp_timewait_ms = DEFAULT_TIMEWAIT_MS;
}

/* Longest part of a rejected value quoted in the message. */
#define QUOTE_MAX 64

static int fail(char *err, size_t errlen, const char *var, const char *value, const char *why)
{
    if (errlen == 0)
        return -EINVAL;
    if (value == NULL) {
        snprintf(err, errlen, "%s: %s", var, why);
    } else {
        /* A long value is cut: the reason must still fit. */
        int cut = strlen(value) > QUOTE_MAX;
        snprintf(err, errlen, "%s: '%.*s%s': %s", var, QUOTE_MAX, value, cut ? "..." : "", why);
    }
    /* The message is one line: control characters from the value (a
     * newline pasted into the variable), also where the reason quotes it,
     * are shown as '?'. */
    for (char *p = err; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -EINVAL;
}

/* A whole decimal number in [min, max]; false on anything else. */
static bool parse_unsigned(const char *text, unsigned long min, unsigned long max,
                           unsigned long *out)
{
    if (text[0] < '0' || text[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_addr(const char *text, struct toysock_config *cfg, char *err, size_t errlen)
{
    const char *var = "TOYSOCK_ADDR";
    const char *slash = strchr(text, '/');
    if (slash == NULL)
        return fail(err, errlen, var, text, "expected ADDRESS/PREFIX, e.g. 192.0.2.2/24");
    char addr_text[32];
    size_t n = (size_t)(slash - text);
    if (n >= sizeof(addr_text))
        return fail(err, errlen, var, text, "not an IPv4 address");
    memcpy(addr_text, text, n);
    addr_text[n] = '\0';
    if (!ipv4_addr_parse(addr_text, &cfg->addr))
        return fail(err, errlen, var, text, "not an IPv4 address");
    unsigned long prefix;
    if (!parse_unsigned(slash + 1, 1, 32, &prefix))
        return fail(err, errlen, var, text, "prefix length must be 1 to 32");
    cfg->prefix_len = (uint8_t)prefix;
    uint32_t top = cfg->addr >> 24;
    if (cfg->addr == 0 || top == 0 || top == 127 || top >= 224)
        return fail(err, errlen, var, text, "not a usable unicast address");
    uint32_t mask = prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
    if (prefix < 31 && ((cfg->addr & ~mask) == 0 || (cfg->addr | mask) == 0xffffffffu))
        return fail(err, errlen, var, text, "is the network or broadcast address of its prefix");
    return 0;
}

/* What Linux takes as a device name (dev_valid_name): shorter than
 * IFNAMSIZ, not "." or "..", no '/', ':' or white space. */
static bool iface_name_ok(const char *name, size_t cap)
{
    size_t len = strlen(name);
    if (len == 0 || len >= cap || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
            return false;
    return true;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int toysock_config_from_env(struct toysock_config *cfg, char *err, size_t errlen)
{
    toysock_config_defaults(cfg);
    const char *v;
    unsigned long num;

    if ((v = env("TOYSOCK_DRIVER")) != NULL) {
        if (strcmp(v, "tap") != 0 && strcmp(v, "pcap") != 0)
            return fail(err, errlen, "TOYSOCK_DRIVER", v, "unknown driver (use tap or pcap)");
        strcpy(cfg->driver, v);
    }
    if ((v = env("TOYSOCK_IFACE")) != NULL) {
        if (!iface_name_ok(v, sizeof(cfg->iface)))
            return fail(err, errlen, "TOYSOCK_IFACE", v, "not a valid interface name");
        strcpy(cfg->iface, v);
    }
    if ((v = env("TOYSOCK_ADDR")) == NULL)
        return fail(err, errlen, "TOYSOCK_ADDR", NULL,
                    "not set; give the stack's address and prefix, e.g. 192.0.2.2/24");
    int rc = parse_addr(v, cfg, err, errlen);
    if (rc < 0)
        return rc;
    if ((v = env("TOYSOCK_GATEWAY")) != NULL) {
        if (!ipv4_addr_parse(v, &cfg->gateway))
            return fail(err, errlen, "TOYSOCK_GATEWAY", v, "not an IPv4 address");
        uint32_t mask = cfg->prefix_len >= 32 ? 0xffffffffu : ~(0xffffffffu >> cfg->prefix_len);
        if ((cfg->gateway & mask) != (cfg->addr & mask) || cfg->gateway == cfg->addr)
            return fail(err, errlen, "TOYSOCK_GATEWAY", v,
                        "not another host on TOYSOCK_ADDR's network");
        if (cfg->prefix_len < 31 &&
            ((cfg->gateway & ~mask) == 0 || (cfg->gateway | mask) == 0xffffffffu))
            return fail(err, errlen, "TOYSOCK_GATEWAY", v,
                        "is the network or broadcast address of TOYSOCK_ADDR's prefix");
    }
    if ((v = env("TOYSOCK_MAC")) != NULL) {
        if (!ether_addr_parse(v, cfg->mac))
            return fail(err, errlen, "TOYSOCK_MAC", v, "expected xx:xx:xx:xx:xx:xx");
        static const uint8_t zero[6];
        if ((cfg->mac[0] & 1) != 0 || memcmp(cfg->mac, zero, 6) == 0)
            return fail(err, errlen, "TOYSOCK_MAC", v, "must be a unicast, non-zero MAC");
    } else {
        /* Stable and locally administered: 02:00 and the address. */
        uint8_t mac[6] = {0x02, 0x00, (uint8_t)(cfg->addr >> 24), (uint8_t)(cfg->addr >> 16),
                          (uint8_t)(cfg->addr >> 8), (uint8_t)cfg->addr};
        memcpy(cfg->mac, mac, 6);
    }
    if ((v = env("TOYSOCK_MTU")) != NULL) {
        if (!parse_unsigned(v, 576, 65521, &num))
            return fail(err, errlen, "TOYSOCK_MTU", v, "must be a number from 576 to 65521");
        cfg->mtu = (unsigned)num;
    }
    if ((v = env("TOYSOCK_LOG")) != NULL) {
        static const char *levels[] = {"error", "warn", "info", "debug", "trace"};
        unsigned i;
        for (i = 0; i < 5; i++)
            if (strcasecmp(v, levels[i]) == 0)
                break;
        if (i == 5)
            return fail(err, errlen, "TOYSOCK_LOG", v,
                        "unknown level (use error, warn, info, debug or trace)");
        cfg->log_level = (enum toysock_log_level)i;
    }
    if ((v = env("TOYSOCK_PCAP")) != NULL) {
        if (strlen(v) >= sizeof(cfg->pcap_path))
            return fail(err, errlen, "TOYSOCK_PCAP", NULL, "path too long");
        strcpy(cfg->pcap_path, v);
    }
    if ((v = env("TOYSOCK_LOG_FILE")) != NULL) {
        if (strlen(v) >= sizeof(cfg->log_file))
            return fail(err, errlen, "TOYSOCK_LOG_FILE", NULL, "path too long");
        strcpy(cfg->log_file, v);
    }
    if ((v = env("TOYSOCK_IMPAIR")) != NULL) {
        if (strlen(v) >= sizeof(cfg->impair))
            return fail(err, errlen, "TOYSOCK_IMPAIR", NULL, "setting too long");
        /* Check the grammar now, not only when the link is attached: a bad
         * setting must fail here, like every other variable. The parse
         * needs no stack; the result is thrown away. */
        char why[160] = "";
        struct impair *imp = impair_create(NULL, NULL, v, why, sizeof(why));
        if (imp == NULL)
            return fail(err, errlen, "TOYSOCK_IMPAIR", v, why);
        impair_destroy(imp);
        strcpy(cfg->impair, v);
    }
    if ((v = env("TOYSOCK_LOOPBACK")) != NULL) {
        if (strcmp(v, "kernel") == 0)
            cfg->loopback_stack = false;
        else if (strcmp(v, "stack") == 0)
            cfg->loopback_stack = true;
        else
            return fail(err, errlen, "TOYSOCK_LOOPBACK", v, "use kernel or stack");
    }
    if ((v = env("TOYSOCK_TCP_SYN_RETRIES")) != NULL) {
        if (!parse_unsigned(v, 1, 127, &num))
            return fail(err, errlen, "TOYSOCK_TCP_SYN_RETRIES", v, "must be 1 to 127");
        cfg->tcp_syn_retries = (unsigned)num;
    }
    if ((v = env("TOYSOCK_TCP_TIMEWAIT")) != NULL) {
        /* Seconds, or milliseconds with an "ms" suffix. */
        char buf[24];
        size_t len = strlen(v);
        bool ms = len > 2 && strcmp(v + len - 2, "ms") == 0;
        if (len >= sizeof(buf))
            return fail(err, errlen, "TOYSOCK_TCP_TIMEWAIT", v, "too long");
        strcpy(buf, v);
        if (ms)
            buf[len - 2] = '\0';
        if (!parse_unsigned(buf, 0, ms ? 600000 : 600, &num))
            return fail(err, errlen, "TOYSOCK_TCP_TIMEWAIT", v,
                        "seconds (0-600) or milliseconds with ms");
        cfg->tcp_timewait_ms = (unsigned)(ms ? num : num * 1000);
    }
    return 0;
}
