/* The toysock command: `toysock daemon` keeps a stack up on the configured
 * link until SIGINT/SIGTERM and prints its counters on exit. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toysock/toysock.h"
#include "wire/wire.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: toysock [OPTIONS] daemon\n"
            "\n"
            "  daemon      bring a stack up on the configured link and keep it up\n"
            "              (answering ARP and ping) until SIGINT or SIGTERM;\n"
            "              print its counters on exit\n"
            "\n"
            "options (each sets the environment variable in brackets):\n"
            "  --driver tap|pcap   [TOYSOCK_DRIVER]\n"
            "  --iface NAME        [TOYSOCK_IFACE]\n"
            "  --addr A.B.C.D/P    [TOYSOCK_ADDR]\n"
            "  --gateway A.B.C.D   [TOYSOCK_GATEWAY]\n"
            "  --mac XX:..:XX      [TOYSOCK_MAC]\n"
            "  --mtu N             [TOYSOCK_MTU]\n"
            "  --log LEVEL         [TOYSOCK_LOG]\n"
            "  --pcap FILE         [TOYSOCK_PCAP]\n"
            "  --impair SPEC       [TOYSOCK_IMPAIR]\n"
            "  -h, --help          this text\n");
}

/* Options are the environment variables by another name. */
static int apply_options(int argc, char **argv)
{
    static const struct option options[] = {
        {"driver", required_argument, NULL, 'd'}, {"iface", required_argument, NULL, 'i'},
        {"addr", required_argument, NULL, 'a'},   {"gateway", required_argument, NULL, 'g'},
        {"mac", required_argument, NULL, 'm'},    {"mtu", required_argument, NULL, 'M'},
        {"log", required_argument, NULL, 'l'},    {"pcap", required_argument, NULL, 'p'},
        {"impair", required_argument, NULL, 'I'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        const char *var = NULL;
        switch (c) {
        case 'd': var = "TOYSOCK_DRIVER"; break;
        case 'i': var = "TOYSOCK_IFACE"; break;
        case 'a': var = "TOYSOCK_ADDR"; break;
        case 'g': var = "TOYSOCK_GATEWAY"; break;
        case 'm': var = "TOYSOCK_MAC"; break;
        case 'M': var = "TOYSOCK_MTU"; break;
        case 'l': var = "TOYSOCK_LOG"; break;
        case 'p': var = "TOYSOCK_PCAP"; break;
        case 'I': var = "TOYSOCK_IMPAIR"; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
        setenv(var, optarg, 1);
    }
    return optind;
}

static int run_daemon(void)
{
    struct toysock_config cfg;
    char err[512];
    if (toysock_config_from_env(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "toysock: %s\n", err);
        return 2;
    }
    /* Signals are taken synchronously by sigwait; the stack thread inherits
     * the mask and never sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct toysock *ts;
    if (toysock_open(&cfg, &ts, err, sizeof(err)) < 0) {
        fprintf(stderr, "toysock: %s\n", err);
        return 1;
    }
    char addr[16], mac[18];
    ipv4_fmt(cfg.addr, addr, sizeof(addr));
    ether_fmt(cfg.mac, mac, sizeof(mac));
    fprintf(stderr, "toysock: up on %s (%s driver) as %s/%u, mac %s, mtu %u\n", cfg.iface,
            cfg.driver, addr, cfg.prefix_len, mac, cfg.mtu);
    fflush(stderr);

    int sig;
    sigwait(&stop, &sig);

    struct toysock_stat stats[256];
    int n = toysock_stats(ts, stats, 256);
    toysock_close(ts);
    fprintf(stderr, "toysock: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fprintf(stderr, "toysock: counters\n");
    for (int i = 0; i < n && i < 256; i++)
        if (stats[i].value != 0)
            fprintf(stderr, "  %s %llu\n", stats[i].name, (unsigned long long)stats[i].value);
    return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    int first = apply_options(argc, argv);
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[first], "daemon") == 0)
        return run_daemon();
    fprintf(stderr, "toysock: unknown command '%s'\n", argv[first]);
    usage(stderr);
    return 2;
}
