/* core/bucket.c: the token bucket. */
#include "core/bucket.h"

#include <time.h>

/* Add rate * dt tokens, carrying the fraction of a byte to the next call so
 * that frequent small refills add up exactly. After 10 s of silence any
 * bucket is full (the cap also keeps rate * dt far from overflowing). */
static void
refill(pn_bucket_t *b, uint64_t now_us)
{
    if (now_us <= b->last_us)
        return;
    uint64_t dt = now_us - b->last_us;
    b->last_us = now_us;
    if (dt >= 10000000) {
        b->tokens = b->burst;
        b->rem = 0;
        return;
    }
    uint64_t acc = b->rem + b->rate * dt;
    uint64_t add = acc / 1000000;
    b->rem = acc % 1000000;
    if (b->tokens + add >= b->burst) {
        b->tokens = b->burst;
        b->rem = 0;
    } else {
        b->tokens += add;
    }
}

void
pn_bucket_init(pn_bucket_t *b, uint64_t rate, uint64_t burst, uint64_t now_us)
{
    b->rate = rate;
    b->burst = burst ? burst : 1;
    b->tokens = b->burst;
    b->last_us = now_us;
    b->rem = 0;
    b->taken = 0;
}

uint64_t
pn_bucket_take(pn_bucket_t *b, uint64_t want, uint64_t now_us)
{
    if (b->rate == 0)
        return want;
    refill(b, now_us);
    uint64_t got = want < b->tokens ? want : b->tokens;
    b->tokens -= got;
    b->taken += got;
    return got;
}

/* Change <b>'s rate and burst at <now_us>, what accrued at the old rate kept
 * (up to the new burst): see bucket.h. */
void
pn_bucket_set_rate(pn_bucket_t *b, uint64_t rate, uint64_t burst, uint64_t now_us)
{
    if (b->rate != 0) {
        refill(b, now_us);
    } else {
        b->tokens = burst;
        b->last_us = now_us;
    }
    b->rate = rate;
    b->burst = burst;
    if (b->tokens > burst)
        b->tokens = burst;
}

int
pn_bucket_take_all(pn_bucket_t *b, uint64_t n, uint64_t now_us)
{
    if (b->rate == 0)
        return 1;
    refill(b, now_us);
    if (b->tokens < n)
        return 0;
    b->tokens -= n;
    b->taken += n;
    return 1;
}

void
pn_bucket_put_back(pn_bucket_t *b, uint64_t n)
{
    if (b->rate == 0)
        return;
    b->tokens = b->tokens + n > b->burst ? b->burst : b->tokens + n;
    b->taken -= n < b->taken ? n : b->taken;
}

uint64_t
pn_bucket_wait_us(pn_bucket_t *b, uint64_t want, uint64_t now_us)
{
    if (b->rate == 0)
        return 0;
    refill(b, now_us);
    if (want > b->burst)
        want = b->burst;
    if (b->tokens >= want)
        return 0;
    return ((want - b->tokens) * 1000000 + b->rate - 1) / b->rate;
}

uint64_t
pn_bucket_take_chunk(pn_bucket_t *b, uint64_t want, uint64_t chunk, uint64_t now_us,
                     uint64_t *wait_us)
{
    *wait_us = 0;
    if (b->rate == 0 || want == 0)
        return want;
    uint64_t need = chunk < want ? chunk : want;
    uint64_t us = pn_bucket_wait_us(b, need, now_us);
    if (us > 0) {
        *wait_us = us;
        return 0;
    }
    return pn_bucket_take(b, want, now_us);
}

uint64_t
pn_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
