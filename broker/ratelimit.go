package broker

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// RateKey names the caller a request is counted against.
type RateKey func(*http.Request) string

// ClientIP is the default RateKey: the host of the request's RemoteAddr.
// Behind a proxy every caller shares the proxy's address; a deployment with
// API keys should count per key instead, by passing a RateKey that returns
// the key's id.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RateLimiter is a token bucket per key: each key may make Burst requests
// at once and RequestsPerSecond on average. Safe for concurrent use.
type RateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// NewRateLimiter returns the limiter cfg describes, or nil when
// cfg.RequestsPerSecond is 0 (no limit). now is the clock (nil: time.Now).
func NewRateLimiter(cfg RateLimitConfig, now func() time.Time) *RateLimiter {
	if cfg.RequestsPerSecond <= 0 {
		return nil
	}
	cfg = cfg.withDefaults()
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{rate: cfg.RequestsPerSecond, burst: float64(cfg.Burst), now: now,
		buckets: map[string]*bucket{}, lastSweep: now()}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until there is one.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = l.refill(b, now)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return false, wait
}

func (l *RateLimiter) refill(b *bucket, now time.Time) float64 {
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		return math.Min(l.burst, b.tokens+elapsed*l.rate)
	}
	return b.tokens
}

// sweep drops the buckets that have refilled, which are the same as no
// bucket, once per time a bucket takes to refill: the map holds only the
// keys seen lately, however many keys callers make up.
func (l *RateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep).Seconds() < l.burst/l.rate {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if l.refill(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// size is how many buckets are held.
func (l *RateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
