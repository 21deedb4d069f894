/* Unit tests for toysock_config_from_env: the defaults, every variable's
 * good values, and every kind of bad value for every variable, which must
 * give -EINVAL and one line that names the variable. Each case starts from
 * an environment with no TOYSOCK_* variable at all. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "toysock/toysock.h"

extern char **environ;

static void clear_toysock_env(void)
{
    /* unsetenv edits environ: collect the names first. */
    char names[64][128];
    unsigned n = 0;
    for (char **e = environ; *e != NULL && n < 64; e++) {
        if (strncmp(*e, "TOYSOCK_", 8) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (len >= sizeof(names[0]))
            continue;
        memcpy(names[n], *e, len);
        names[n][len] = '\0';
        n++;
    }
    for (unsigned i = 0; i < n; i++)
        unsetenv(names[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_toysock_env();
    return 0;
}

/* Sets NAME=VALUE pairs from a NULL-terminated list. */
static void set_env_list(const char *const *pairs)
{
    for (unsigned i = 0; pairs[i] != NULL; i += 2)
        assert_int_equal(setenv(pairs[i], pairs[i + 1], 1), 0);
}

static int load(struct toysock_config *cfg, char *err, size_t errlen)
{
    memset(err, 0, errlen);
    memset(cfg, 0xa5, sizeof(*cfg));
    return toysock_config_from_env(cfg, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    setenv("TOYSOCK_ADDR", "192.0.2.2/24", 1);
    struct toysock_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.driver, "tap");
    assert_string_equal(cfg.iface, "tap0");
    assert_int_equal(cfg.addr, 0xc0000202u);
    assert_int_equal(cfg.prefix_len, 24);
    assert_int_equal(cfg.gateway, 0);
    static const uint8_t mac[6] = {0x02, 0x00, 0xc0, 0x00, 0x02, 0x02};
    assert_memory_equal(cfg.mac, mac, 6);
    assert_int_equal(cfg.mtu, 1500);
    assert_int_equal(cfg.log_level, TOYSOCK_LOG_WARN);
    assert_string_equal(cfg.pcap_path, "");
    assert_string_equal(cfg.log_file, "");
    assert_string_equal(cfg.impair, "");
    assert_false(cfg.loopback_stack);
    assert_int_equal(cfg.tcp_syn_retries, 6);
    assert_int_equal(cfg.tcp_timewait_ms, 60000);

    /* toysock_config_defaults is the same minus the address. */
    struct toysock_config d;
    toysock_config_defaults(&d);
    assert_string_equal(d.driver, "tap");
    assert_int_equal(d.addr, 0);
    assert_int_equal(d.mtu, 1500);

    /* An empty variable counts as unset. */
    setenv("TOYSOCK_MTU", "", 1);
    setenv("TOYSOCK_DRIVER", "", 1);
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.mtu, 1500);
    assert_string_equal(cfg.driver, "tap");
}

static void test_good_values(void **state)
{
    (void)state;
    static const char *const env[] = {
        "TOYSOCK_DRIVER", "pcap",
        "TOYSOCK_IFACE", "veth-a.1_x",
        "TOYSOCK_ADDR", "10.1.2.3/8",
        "TOYSOCK_GATEWAY", "10.0.0.1",
        "TOYSOCK_MAC", "02:aB:cd:EF:01:23",
        "TOYSOCK_MTU", "9000",
        "TOYSOCK_LOG", "DEBUG",
        "TOYSOCK_PCAP", "/tmp/x.pcap",
        "TOYSOCK_LOG_FILE", "/tmp/x.log",
        "TOYSOCK_IMPAIR", "loss=2,dup=1,reorder=5,delay=5,jitter=1,corrupt=0.1,seed=7",
        "TOYSOCK_LOOPBACK", "stack",
        "TOYSOCK_TCP_SYN_RETRIES", "3",
        "TOYSOCK_TCP_TIMEWAIT", "500ms",
        NULL,
    };
    set_env_list(env);
    struct toysock_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.driver, "pcap");
    assert_string_equal(cfg.iface, "veth-a.1_x");
    assert_int_equal(cfg.addr, 0x0a010203u);
    assert_int_equal(cfg.prefix_len, 8);
    assert_int_equal(cfg.gateway, 0x0a000001u);
    static const uint8_t mac[6] = {0x02, 0xab, 0xcd, 0xef, 0x01, 0x23};
    assert_memory_equal(cfg.mac, mac, 6);
    assert_int_equal(cfg.mtu, 9000);
    assert_int_equal(cfg.log_level, TOYSOCK_LOG_DEBUG);
    assert_string_equal(cfg.pcap_path, "/tmp/x.pcap");
    assert_string_equal(cfg.log_file, "/tmp/x.log");
    assert_string_equal(cfg.impair, env[19]);
    assert_true(cfg.loopback_stack);
    assert_int_equal(cfg.tcp_syn_retries, 3);
    assert_int_equal(cfg.tcp_timewait_ms, 500);

    /* The other spellings and the limits of each range. */
    static const char *const more[] = {
        "TOYSOCK_DRIVER", "tap",
        "TOYSOCK_IFACE", "abcdefghijklmno", /* 15 characters: the longest */
        "TOYSOCK_ADDR", "198.51.100.254/32",
        "TOYSOCK_MTU", "576",
        "TOYSOCK_LOG", "trace",
        "TOYSOCK_LOOPBACK", "kernel",
        "TOYSOCK_TCP_SYN_RETRIES", "127",
        "TOYSOCK_TCP_TIMEWAIT", "0",
        "TOYSOCK_IMPAIR", "seed=1",
        NULL,
    };
    unsetenv("TOYSOCK_GATEWAY");
    set_env_list(more);
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.iface, "abcdefghijklmno");
    assert_int_equal(cfg.prefix_len, 32);
    assert_int_equal(cfg.mtu, 576);
    assert_int_equal(cfg.log_level, TOYSOCK_LOG_TRACE);
    assert_false(cfg.loopback_stack);
    assert_int_equal(cfg.tcp_syn_retries, 127);
    assert_int_equal(cfg.tcp_timewait_ms, 0);

    setenv("TOYSOCK_MTU", "65521", 1);
    setenv("TOYSOCK_TCP_TIMEWAIT", "600", 1);
    setenv("TOYSOCK_LOG", "error", 1);
    setenv("TOYSOCK_ADDR", "192.0.2.1/31", 1); /* RFC 3021: both addresses usable */
    setenv("TOYSOCK_GATEWAY", "192.0.2.0", 1);
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.mtu, 65521);
    assert_int_equal(cfg.tcp_timewait_ms, 600000);
    assert_int_equal(cfg.log_level, TOYSOCK_LOG_ERROR);
    assert_int_equal(cfg.gateway, 0xc0000200u);

    setenv("TOYSOCK_TCP_TIMEWAIT", "600000ms", 1);
    setenv("TOYSOCK_LOG", "info", 1);
    assert_int_equal(load(&cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.tcp_timewait_ms, 600000);
    assert_int_equal(cfg.log_level, TOYSOCK_LOG_INFO);
}

/* One bad setting: VAR=VALUE on top of a good base configuration. */
struct bad_case {
    const char *var;
    const char *value; /* NULL: unset */
};

static char long_text[400];

static void expect_bad(const struct bad_case *c)
{
    clear_toysock_env();
    setenv("TOYSOCK_ADDR", "192.0.2.2/24", 1);
    setenv("TOYSOCK_GATEWAY", "192.0.2.1", 1);
    if (c->value != NULL)
        setenv(c->var, c->value, 1);
    else
        unsetenv(c->var);
    struct toysock_config cfg;
    char err[512];
    int rc = load(&cfg, err, sizeof(err));
    if (rc != -EINVAL || strstr(err, c->var) == NULL || strchr(err, '\n') != NULL)
        fail_msg("%s='%s': rc %d, message \"%s\"", c->var, c->value ? c->value : "(unset)", rc,
                 err);
    /* The variable leads the message: "TOYSOCK_X: ...". */
    assert_int_equal(strncmp(err, c->var, strlen(c->var)), 0);
    assert_int_equal(err[strlen(c->var)], ':');
}

static void test_bad_values(void **state)
{
    (void)state;
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[0] = '/';
    const struct bad_case cases[] = {
        {"TOYSOCK_DRIVER", "bogus"},
        {"TOYSOCK_DRIVER", "TAP"},
        {"TOYSOCK_DRIVER", "tap "},
        {"TOYSOCK_DRIVER", long_text},

        {"TOYSOCK_IFACE", "abcdefghijklmnop"}, /* 16 characters */
        {"TOYSOCK_IFACE", "a/b"},
        {"TOYSOCK_IFACE", "tap0:1"},
        {"TOYSOCK_IFACE", "tap 0"},
        {"TOYSOCK_IFACE", "tap0\n"},
        {"TOYSOCK_IFACE", "."},
        {"TOYSOCK_IFACE", ".."},
        {"TOYSOCK_IFACE", long_text},

        {"TOYSOCK_ADDR", NULL},
        {"TOYSOCK_ADDR", ""},
        {"TOYSOCK_ADDR", "192.0.2.2"},
        {"TOYSOCK_ADDR", "192.0.2.2/"},
        {"TOYSOCK_ADDR", "192.0.2.2/0"},
        {"TOYSOCK_ADDR", "192.0.2.2/33"},
        {"TOYSOCK_ADDR", "192.0.2.2/40"},
        {"TOYSOCK_ADDR", "192.0.2.2/-1"},
        {"TOYSOCK_ADDR", "192.0.2.2/+24"},
        {"TOYSOCK_ADDR", "192.0.2.2/24x"},
        {"TOYSOCK_ADDR", "192.0.2.2/ 24"},
        {"TOYSOCK_ADDR", "192.0.2.2/99999999999999999999999"},
        {"TOYSOCK_ADDR", "192.0.2/24"},
        {"TOYSOCK_ADDR", "192.0.2.2.1/24"},
        {"TOYSOCK_ADDR", "300.0.2.2/24"},
        {"TOYSOCK_ADDR", "192.0.02.2/24"},
        {"TOYSOCK_ADDR", " 192.0.2.2/24"},
        {"TOYSOCK_ADDR", "a.b.c.d/24"},
        {"TOYSOCK_ADDR", "/24"},
        {"TOYSOCK_ADDR", "0.0.0.0/24"},
        {"TOYSOCK_ADDR", "0.1.2.3/8"},
        {"TOYSOCK_ADDR", "127.0.0.1/8"},
        {"TOYSOCK_ADDR", "224.0.0.1/24"},
        {"TOYSOCK_ADDR", "240.0.0.1/24"},
        {"TOYSOCK_ADDR", "255.255.255.255/32"},
        {"TOYSOCK_ADDR", "192.0.2.0/24"},   /* the network address */
        {"TOYSOCK_ADDR", "192.0.2.255/24"}, /* the broadcast address */
        {"TOYSOCK_ADDR", "2001:db8::1/64"},
        {"TOYSOCK_ADDR", "192.0.2.2/24\n"},
        {"TOYSOCK_ADDR", long_text},

        {"TOYSOCK_GATEWAY", "x"},
        {"TOYSOCK_GATEWAY", "192.0.2.1/24"},
        {"TOYSOCK_GATEWAY", "192.0.2"},
        {"TOYSOCK_GATEWAY", "198.51.100.1"}, /* not on the link */
        {"TOYSOCK_GATEWAY", "192.0.2.2"},    /* the stack itself */
        {"TOYSOCK_GATEWAY", "192.0.2.0"},    /* the network address */
        {"TOYSOCK_GATEWAY", "192.0.2.255"},  /* the broadcast address */
        {"TOYSOCK_GATEWAY", "0.0.0.0"},
        {"TOYSOCK_GATEWAY", long_text},

        {"TOYSOCK_MAC", "zz:00:00:00:00:01"},
        {"TOYSOCK_MAC", "02:00:00:00:00"},
        {"TOYSOCK_MAC", "02:00:00:00:00:01:02"},
        {"TOYSOCK_MAC", "02-00-00-00-00-01"},
        {"TOYSOCK_MAC", "2:0:0:0:0:1"},
        {"TOYSOCK_MAC", "01:00:5e:00:00:01"}, /* multicast */
        {"TOYSOCK_MAC", "ff:ff:ff:ff:ff:ff"}, /* broadcast */
        {"TOYSOCK_MAC", "00:00:00:00:00:00"},
        {"TOYSOCK_MAC", long_text},

        {"TOYSOCK_MTU", "abc"},
        {"TOYSOCK_MTU", "575"},
        {"TOYSOCK_MTU", "65522"},
        {"TOYSOCK_MTU", "0"},
        {"TOYSOCK_MTU", "-1500"},
        {"TOYSOCK_MTU", "+1500"},
        {"TOYSOCK_MTU", " 1500"},
        {"TOYSOCK_MTU", "1500 "},
        {"TOYSOCK_MTU", "1500x"},
        {"TOYSOCK_MTU", "1.5e3"},
        {"TOYSOCK_MTU", "0x5dc"},
        {"TOYSOCK_MTU", "99999999999999999999999"},

        {"TOYSOCK_LOG", "verbose"},
        {"TOYSOCK_LOG", "3"},
        {"TOYSOCK_LOG", "warning"},
        {"TOYSOCK_LOG", "info "},

        {"TOYSOCK_PCAP", long_text},
        {"TOYSOCK_LOG_FILE", long_text},

        {"TOYSOCK_IMPAIR", "bogus=1"},
        {"TOYSOCK_IMPAIR", "loss=200"},
        {"TOYSOCK_IMPAIR", "loss=-1"},
        {"TOYSOCK_IMPAIR", "loss"},
        {"TOYSOCK_IMPAIR", "loss="},
        {"TOYSOCK_IMPAIR", "loss=2x"},
        {"TOYSOCK_IMPAIR", "delay=60001"},
        {"TOYSOCK_IMPAIR", "seed=1.5"},
        {"TOYSOCK_IMPAIR", "loss=1\n"},
        {"TOYSOCK_IMPAIR", "loss=1,loss=2"},
        {"TOYSOCK_IMPAIR", long_text},

        {"TOYSOCK_LOOPBACK", "both"},
        {"TOYSOCK_LOOPBACK", "Kernel"},

        {"TOYSOCK_TCP_SYN_RETRIES", "0"},
        {"TOYSOCK_TCP_SYN_RETRIES", "128"},
        {"TOYSOCK_TCP_SYN_RETRIES", "x"},
        {"TOYSOCK_TCP_SYN_RETRIES", "-1"},
        {"TOYSOCK_TCP_SYN_RETRIES", "3 "},

        {"TOYSOCK_TCP_TIMEWAIT", "601"},
        {"TOYSOCK_TCP_TIMEWAIT", "600001ms"},
        {"TOYSOCK_TCP_TIMEWAIT", "ms"},
        {"TOYSOCK_TCP_TIMEWAIT", "5s"},
        {"TOYSOCK_TCP_TIMEWAIT", "-1"},
        {"TOYSOCK_TCP_TIMEWAIT", "1.5"},
        {"TOYSOCK_TCP_TIMEWAIT", "12345678901234567890123456789"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_bad(&cases[i]);
}

/* A small err buffer is never overrun and is terminated. */
static void test_short_error_buffer(void **state)
{
    (void)state;
    setenv("TOYSOCK_ADDR", "999.1.1.1/24", 1);
    struct toysock_config cfg;
    char err[16];
    memset(err, 'x', sizeof(err));
    assert_int_equal(toysock_config_from_env(&cfg, err, 12), -EINVAL);
    assert_int_equal(strlen(err), 11);
    assert_int_equal(err[12], 'x');
    assert_int_equal(strncmp(err, "TOYSOCK_ADD", 11), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_good_values, setup),
        cmocka_unit_test_setup(test_bad_values, setup),
        cmocka_unit_test_setup(test_short_error_buffer, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
