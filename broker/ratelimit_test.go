package broker

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateLimiterTokenBucket(t *testing.T) {
	clock := timeAt(1_000)
	l := NewRateLimiter(RateLimitConfig{RequestsPerSecond: 2, Burst: 3}, clock.get)
	for i := 0; i < 3; i++ {
		ok, _ := l.Allow("k")
		require.True(t, ok, "request %d of the burst", i)
	}
	ok, wait := l.Allow("k")
	require.False(t, ok)
	require.Equal(t, 500*time.Millisecond, wait, "one token at 2/s")
	ok, _ = l.Allow("other")
	require.True(t, ok, "keys have buckets of their own")

	clock.now = clock.now.Add(250 * time.Millisecond)
	ok, wait = l.Allow("k")
	require.False(t, ok)
	require.Equal(t, 250*time.Millisecond, wait)
	clock.now = clock.now.Add(250 * time.Millisecond)
	ok, _ = l.Allow("k")
	require.True(t, ok)
	ok, _ = l.Allow("k")
	require.False(t, ok, "the refilled token is spent")

	// A long pause refills to the burst, not beyond it.
	clock.advance(3600)
	for i := 0; i < 3; i++ {
		ok, _ := l.Allow("k")
		require.True(t, ok)
	}
	ok, _ = l.Allow("k")
	require.False(t, ok)

	require.Nil(t, NewRateLimiter(RateLimitConfig{}, nil), "0 requests per second: no limit")
	l = NewRateLimiter(RateLimitConfig{RequestsPerSecond: 0.5}, clock.get)
	ok, _ = l.Allow("k")
	require.True(t, ok, "the default burst is at least 1")
	ok, wait = l.Allow("k")
	require.False(t, ok)
	require.Equal(t, 2*time.Second, wait)
}

// Made-up keys do not grow the limiter: buckets that have refilled go.
func TestRateLimiterForgetsRefilledBuckets(t *testing.T) {
	clock := timeAt(1_000)
	l := NewRateLimiter(RateLimitConfig{RequestsPerSecond: 10, Burst: 10}, clock.get)
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprintf("caller-%d", i))
	}
	require.Equal(t, 1000, l.size())
	clock.advance(2)
	l.Allow("caller-0")
	require.Equal(t, 1, l.size())
}

func TestHTTPRateLimit(t *testing.T) {
	clock := timeAt(1_000)
	h := NewHandler(&HandlerOptions{
		RateLimiter: NewRateLimiter(RateLimitConfig{RequestsPerSecond: 1, Burst: 2}, clock.get),
		// As an API key id would: the caller is named by a header here.
		RateKey: func(r *http.Request) string { return r.Header.Get("X-Caller") },
	})
	h.Serve(newBroker(t, memoryConfig(registryA()), nil))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	send := func(caller string) *http.Response {
		req, err := http.NewRequest("GET", srv.URL+"/v1/sessions/s", nil)
		require.NoError(t, err)
		req.Header.Set("X-Caller", caller)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	for i := 0; i < 2; i++ {
		code, _ := decodeBody(t, send("a"))
		require.Equal(t, http.StatusNotFound, code, "within the burst: the unknown session's 404")
	}
	resp := send("a")
	code, body := decodeBody(t, resp)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, "rate limit exceeded: retry after 1s", body["error"])

	code, _ = decodeBody(t, send("b"))
	require.Equal(t, http.StatusNotFound, code, "another caller is not limited by a's bucket")
	code, _ = get(t, srv.URL+"/healthz")
	require.Equal(t, http.StatusOK, code, "probes are not rate limited")

	clock.advance(1)
	code, _ = decodeBody(t, send("a"))
	require.Equal(t, http.StatusNotFound, code, "a token came back after a second")
}

func TestClientIP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	require.Equal(t, "192.0.2.7", ClientIP(r))
	r.RemoteAddr = "[2001:db8::1]:443"
	require.Equal(t, "2001:db8::1", ClientIP(r))
}

// With API keys configured, the default RateKey counts each key on its own,
// whatever address it comes from, and callers without a valid key by their
// address, so guessing at keys is limited too.
func TestHTTPRateLimitPerAPIKey(t *testing.T) {
	clock := timeAt(1_000)
	h := NewHandler(&HandlerOptions{
		RateLimiter: NewRateLimiter(RateLimitConfig{RequestsPerSecond: 1, Burst: 1}, clock.get),
	})
	h.Serve(newBroker(t, authConfig(registryA()), nil))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL, hc: srv.Client()}

	code, _, _ := c.as(secretA).do(http.MethodGet, "/v1/sessions/s", "")
	require.Equal(t, http.StatusNotFound, code, "a's one request within the burst")
	code, _, _ = c.as(secretA).do(http.MethodGet, "/v1/sessions/s", "")
	require.Equal(t, http.StatusTooManyRequests, code, "a's second request")
	code, _, _ = c.as(secretB).do(http.MethodGet, "/v1/sessions/s", "")
	require.Equal(t, http.StatusNotFound, code, "b has a bucket of its own on the same address")

	code, _, _ = c.as("wrong-key-0123456789").do(http.MethodGet, "/v1/sessions/s", "")
	require.Equal(t, http.StatusUnauthorized, code, "the address's one request")
	code, _, _ = c.as("another-wrong-key-0123").do(http.MethodGet, "/v1/sessions/s", "")
	require.Equal(t, http.StatusTooManyRequests, code, "a second guess from the same address")
}
