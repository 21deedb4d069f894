/* Congestion control: Reno (RFC 5681) and CUBIC (RFC 9438) as window
 * arithmetic behind struct tcp_cc_ops. Windows are in bytes; CUBIC's curve
 * is evaluated in integers (milliseconds, bytes, an integer cube root), so
 * there is no floating point and no libm.
 *
 *   connection -> cc->ops->on_ack()  -> cc_slow_start() or the CA step
 *              -> cc->ops->on_loss() / on_recovered() / on_rto()
 */
#include <string.h>

#include "tcp_cc.h"

/* ---- Shared pieces ---- */

static uint32_t clamp_cwnd(uint64_t w)
{
    return w > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : (uint32_t)w;
}

/* Is the window in use? Growing an unused window lets it claim capacity
 * that was never probed (RFC 7661 §4.3; RFC 9438 §5.8). flight may or may
 * not still include acked: the tests leave room for both. Slow start uses
 * Linux's looser half-window rule, since the window doubles as it goes. */
static bool cc_cwnd_limited(const struct tcp_cc *cc, uint32_t acked, uint32_t flight)
{
    uint64_t used = (uint64_t)flight + acked;
    if (cc->cwnd < cc->ssthresh)
        return 2 * used > cc->cwnd;
    return used + cc->mss > cc->cwnd;
}

/* RFC 5681 §3.1 slow start with RFC 3465 §2.2 byte counting, L = 2*SMSS:
 * cwnd += min(acked, 2*mss), never past ssthresh. Returns the acked bytes
 * left over for congestion avoidance once cwnd reaches ssthresh. */
static uint32_t cc_slow_start(struct tcp_cc *cc, uint32_t acked)
{
    uint32_t inc = acked < 2 * cc->mss ? acked : 2 * cc->mss;
    uint32_t room = cc->ssthresh - cc->cwnd; /* cwnd < ssthresh here */
    if (inc < room) {
        cc->cwnd = clamp_cwnd((uint64_t)cc->cwnd + inc);
        return 0;
    }
    cc->cwnd = clamp_cwnd(cc->ssthresh);
    return acked - room;
}

/* ---- Reno (RFC 5681) ---- */

static void reno_init(struct tcp_cc *cc, uint64_t now_us)
{
    cc->u.reno.acked_accum = 0;
}

static void reno_on_ack(struct tcp_cc *cc, uint32_t acked, uint32_t flight, uint32_t rtt_us,
                        uint64_t now_us)
{
    if (acked == 0 || !cc_cwnd_limited(cc, acked, flight))
        return;
    if (cc->cwnd < cc->ssthresh) {
        acked = cc_slow_start(cc, acked);
        if (acked == 0)
            return;
    }
    /* Congestion avoidance, RFC 5681 §3.1 (and RFC 3465 §2.1): one mss
     * each time a full cwnd of bytes has been acknowledged, which is the
     * mss*mss/cwnd per ack of the text made exact per RTT. */
    uint64_t accum = (uint64_t)cc->u.reno.acked_accum + acked;
    if (accum >= cc->cwnd) {
        uint64_t steps = accum / cc->cwnd;
        accum -= steps * cc->cwnd;
        cc->cwnd = clamp_cwnd(cc->cwnd + steps * cc->mss);
    }
    cc->u.reno.acked_accum = (uint32_t)accum;
}

/* RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
static uint32_t reno_ssthresh(const struct tcp_cc *cc, uint32_t flight)
{
    uint32_t half = flight / 2;
    return half > 2 * cc->mss ? half : 2 * cc->mss;
}

static void reno_on_loss(struct tcp_cc *cc, uint32_t flight, uint64_t now_us)
{
    cc->ssthresh = reno_ssthresh(cc, flight);
    cc->cwnd = cc->ssthresh;
    cc->u.reno.acked_accum = 0;
}

static void cc_on_recovered(struct tcp_cc *cc, uint64_t now_us)
{
    /* RFC 6582 §3.2 step 3, option 2 (also RFC 6675 / RFC 6937 exit):
     * cwnd = ssthresh. */
    if (cc->ssthresh != UINT32_MAX)
        cc->cwnd = cc->ssthresh;
}

static void reno_on_rto(struct tcp_cc *cc, uint32_t flight, uint64_t now_us)
{
    cc->ssthresh = reno_ssthresh(cc, flight);
    cc->cwnd = cc->mss; /* the loss window, LW */
    cc->u.reno.acked_accum = 0;
}

static const struct tcp_cc_ops reno_ops = {
    .name = "reno",
    .init = reno_init,
    .on_ack = reno_on_ack,
    .on_loss = reno_on_loss,
    .on_recovered = cc_on_recovered,
    .on_rto = reno_on_rto,
};

/* ---- CUBIC (RFC 9438) ----
 *
 * W_cubic(t) = C * (t - K)^3 + W_max (§4.2, Figure 1), C = 0.4 segments
 * per second cubed. With t and K in milliseconds and windows in bytes:
 *   C * d^3 segments = 4 * d_ms^3 / 10^10 segments,
 *   K = cbrt((W_max - cwnd_epoch) / C) s = cbrt((W_max - cwnd_epoch) *
 *       2.5e9 / mss) ms.
 * beta_cubic = 0.7 = 7/10; alpha_cubic = 3 (1 - beta) / (1 + beta) = 9/17;
 * fast convergence shrinks W_max to cwnd * (1 + beta) / 2 = 17/20 cwnd. */

#define CUBIC_DIST_MAX_MS 1000000u /* |t - K| beyond 1000 s saturates */

/* floor(cbrt(x)), bit by bit: each round decides one bit of the root. */
static uint32_t icbrt64(uint64_t x)
{
    uint64_t y = 0;
    for (int s = 63; s >= 0; s -= 3) {
        y <<= 1;
        uint64_t b = 3 * y * (y + 1) + 1;
        if ((x >> s) >= b) {
            x -= b << s;
            y++;
        }
    }
    return (uint32_t)y;
}

/* C * d^3 in bytes for d milliseconds. */
static uint64_t cubic_offset(const struct tcp_cc *cc, uint64_t d_ms)
{
    if (d_ms > CUBIC_DIST_MAX_MS)
        d_ms = CUBIC_DIST_MAX_MS;
    uint64_t milli_segments = d_ms * d_ms * d_ms * 4 / 10000000u; /* <= 4e11 */
    return milli_segments * cc->mss / 1000;
}

/* W_cubic(t) in bytes, t in milliseconds since the epoch. */
static uint64_t cubic_w(const struct tcp_cc *cc, uint64_t t_ms)
{
    uint64_t origin = cc->u.cubic.origin, k = cc->u.cubic.k_ms;
    if (t_ms >= k)
        return origin + cubic_offset(cc, t_ms - k);
    uint64_t off = cubic_offset(cc, k - t_ms);
    return off < origin ? origin - off : 0;
}

static void cubic_init(struct tcp_cc *cc, uint64_t now_us)
{
    memset(&cc->u.cubic, 0, sizeof(cc->u.cubic));
    cc->u.cubic.last_ack_us = now_us;
}

/* The first ack in congestion avoidance after a reduction (or after slow
 * start) starts an epoch: §4.2 K from W_max and cwnd_epoch; after an RTO
 * or without a known W_max, K = 0 and the curve is centred on cwnd
 * (§4.8, §4.10); §4.3 W_est starts at cwnd_epoch. */
static void cubic_epoch_start(struct tcp_cc *cc, uint64_t now_us)
{
    cc->u.cubic.in_epoch = true;
    cc->u.cubic.epoch_us = now_us;
    cc->u.cubic.acked_accum = 0;
    cc->u.cubic.est_accum = 0;
    cc->u.cubic.w_est = cc->cwnd;
    if (cc->cwnd < cc->u.cubic.w_max) {
        uint64_t gap = cc->u.cubic.w_max - cc->cwnd;
        cc->u.cubic.k_ms = icbrt64(gap * 2500000000u / cc->mss);
        cc->u.cubic.origin = cc->u.cubic.w_max;
    } else {
        cc->u.cubic.k_ms = 0;
        cc->u.cubic.origin = cc->cwnd;
    }
}

static void cubic_on_ack(struct tcp_cc *cc, uint32_t acked, uint32_t flight, uint32_t rtt_us,
                         uint64_t now_us)
{
    uint64_t since_last = now_us > cc->u.cubic.last_ack_us ? now_us - cc->u.cubic.last_ack_us : 0;
    cc->u.cubic.last_ack_us = now_us;
    if (rtt_us > 0 && (cc->u.cubic.min_rtt_us == 0 || rtt_us < cc->u.cubic.min_rtt_us))
        cc->u.cubic.min_rtt_us = rtt_us;
    if (acked == 0)
        return;
    if (!cc_cwnd_limited(cc, acked, flight)) {
        /* §5.8: t must not include application-limited periods. Slide the
         * epoch forward by the time since the previous ack. */
        if (cc->u.cubic.in_epoch)
            cc->u.cubic.epoch_us += since_last;
        return;
    }
    if (cc->cwnd < cc->ssthresh) {
        acked = cc_slow_start(cc, acked);
        if (acked == 0)
            return;
    }
    if (!cc->u.cubic.in_epoch)
        cubic_epoch_start(cc, now_us);

    uint64_t cwnd = cc->cwnd;
    uint64_t elapsed_us = now_us > cc->u.cubic.epoch_us ? now_us - cc->u.cubic.epoch_us : 0;

    /* §4.3 Reno-friendly region: W_est += alpha * segments_acked / cwnd
     * segments, alpha = 9/17 until W_est reaches cwnd_prior, then 1. */
    uint64_t alpha17 = cc->u.cubic.w_est >= cc->u.cubic.cwnd_prior ? 17 : 9;
    uint64_t est_num = cc->u.cubic.est_accum + alpha17 * acked * cc->mss;
    uint64_t est_den = 17 * cwnd;
    cc->u.cubic.w_est = clamp_cwnd(cc->u.cubic.w_est + est_num / est_den);
    cc->u.cubic.est_accum = est_num % est_den;

    if (cubic_w(cc, elapsed_us / 1000) < cc->u.cubic.w_est) {
        if (cc->u.cubic.w_est > cc->cwnd)
            cc->cwnd = cc->u.cubic.w_est;
        return;
    }

    /* §4.4, §4.5 concave and convex regions: target = W_cubic(t + RTT),
     * held within [cwnd, 1.5 cwnd]; cwnd += (target - cwnd) / cwnd per
     * segment acknowledged, i.e. (target - cwnd) * acked / cwnd bytes. */
    uint64_t target = cubic_w(cc, (elapsed_us + cc->u.cubic.min_rtt_us) / 1000);
    if (target < cwnd)
        target = cwnd;
    if (target > cwnd + cwnd / 2)
        target = cwnd + cwnd / 2;
    uint64_t num = cc->u.cubic.acked_accum + (target - cwnd) * acked;
    cc->cwnd = clamp_cwnd(cwnd + num / cwnd);
    cc->u.cubic.acked_accum = (uint32_t)(num % cwnd);
}

/* §4.6: ssthresh = max(flight_size * beta_cubic, 2*SMSS). */
static uint32_t cubic_ssthresh(const struct tcp_cc *cc, uint32_t flight)
{
    uint32_t w = (uint32_t)((uint64_t)flight * 7 / 10);
    return w > 2 * cc->mss ? w : 2 * cc->mss;
}

static void cubic_on_loss(struct tcp_cc *cc, uint32_t flight, uint64_t now_us)
{
    /* §4.7 fast convergence: a flow whose plateau keeps shrinking releases
     * bandwidth sooner by aiming below its last W_max. */
    if (cc->cwnd < cc->u.cubic.w_max)
        cc->u.cubic.w_max = (uint32_t)((uint64_t)cc->cwnd * 17 / 20);
    else
        cc->u.cubic.w_max = cc->cwnd;
    cc->u.cubic.cwnd_prior = cc->cwnd;
    cc->ssthresh = cubic_ssthresh(cc, flight);
    cc->cwnd = cc->ssthresh;
    cc->u.cubic.in_epoch = false;
}

static void cubic_on_rto(struct tcp_cc *cc, uint32_t flight, uint64_t now_us)
{
    /* §4.8: Reno's cwnd = 1 mss with ssthresh from beta_cubic; the next
     * congestion avoidance stage starts a curve with K = 0 at its cwnd. */
    cc->u.cubic.cwnd_prior = cc->cwnd;
    cc->u.cubic.w_max = 0;
    cc->ssthresh = cubic_ssthresh(cc, flight);
    cc->cwnd = cc->mss;
    cc->u.cubic.in_epoch = false;
}

static const struct tcp_cc_ops cubic_ops = {
    .name = "cubic",
    .init = cubic_init,
    .on_ack = cubic_on_ack,
    .on_loss = cubic_on_loss,
    .on_recovered = cc_on_recovered,
    .on_rto = cubic_on_rto,
};

/* ---- Registry ---- */

static const struct tcp_cc_ops *const cc_algorithms[] = {&reno_ops, &cubic_ops};

const struct tcp_cc_ops *tcp_cc_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(cc_algorithms) / sizeof(cc_algorithms[0]); i++)
        if (strcmp(cc_algorithms[i]->name, name) == 0)
            return cc_algorithms[i];
    return NULL;
}

void tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss, uint64_t now_us)
{
    memset(cc, 0, sizeof(*cc));
    if (mss == 0)
        mss = 1; /* a caller bug; keep the arithmetic defined */
    cc->ops = ops;
    cc->mss = mss;
    /* RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)). */
    uint64_t iw = (uint64_t)mss * 2 > 14600 ? (uint64_t)mss * 2 : 14600;
    if (iw > (uint64_t)mss * 10)
        iw = (uint64_t)mss * 10;
    cc->cwnd = clamp_cwnd(iw);
    cc->ssthresh = UINT32_MAX;
    ops->init(cc, now_us);
}
