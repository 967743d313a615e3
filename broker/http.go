package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MaxRequestBytes bounds a POST /v1/request body.
const MaxRequestBytes = 1 << 20

// Handler is the broker's HTTP API. It answers /healthz at once and the
// rest with 503 until Serve hands it the broker, which is how /readyz stays
// 503 while the WAL is replayed.
type Handler struct {
	broker  atomic.Pointer[Broker]
	mux     *http.ServeMux
	limiter *RateLimiter
	rateKey RateKey
}

// HandlerOptions configure a Handler; nil means the defaults.
type HandlerOptions struct {
	// Metrics serves GET /metrics (nil: 404), typically promhttp.HandlerFor
	// over the registry given as Options.Registerer.
	Metrics http.Handler
	// RateLimiter, when set, limits the /v1 requests of each RateKey; an
	// answer over the limit is 429 with Retry-After.
	RateLimiter *RateLimiter
	// RateKey names the caller a request is counted against (nil: the API
	// key's id when the request carries a configured key, else ClientIP).
	RateKey RateKey
}

// NewHandler returns a Handler that is not ready yet.
func NewHandler(opts *HandlerOptions) *Handler {
	h := &Handler{mux: http.NewServeMux()}
	h.rateKey = h.callerKey
	if opts != nil {
		h.limiter = opts.RateLimiter
		if opts.RateKey != nil {
			h.rateKey = opts.RateKey
		}
	}
	h.mux.Handle("POST /v1/request", h.v1(h.request))
	h.mux.Handle("GET /v1/sessions/{id}", h.v1(h.session))
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if h.broker.Load() == nil {
			writeError(w, http.StatusServiceUnavailable, "not ready: replaying the WAL")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if opts != nil && opts.Metrics != nil {
		h.mux.Handle("GET /metrics", opts.Metrics)
	}
	return h
}

// Serve makes the handler answer with b; from now on /readyz is 200.
func (h *Handler) Serve(b *Broker) { h.broker.Store(b) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.limiter != nil && strings.HasPrefix(r.URL.Path, "/v1/") {
		if ok, wait := h.limiter.Allow(h.rateKey(r)); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(wait.Seconds())))))
			writeError(w, http.StatusTooManyRequests, "rate limit exceeded: retry after "+wait.Round(time.Millisecond).String())
			return
		}
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		serveUnrouted(h.mux, w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// v1 runs a /v1 route: 503 until the broker is ready, then, with api.keys
// configured, 401 unless the request carries "Authorization: Bearer" with
// one of them; the route finds the caller with CallerFrom.
func (h *Handler) v1(route func(http.ResponseWriter, *http.Request, *Broker)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := h.broker.Load()
		if b == nil {
			writeError(w, http.StatusServiceUnavailable, "not ready: replaying the WAL")
			return
		}
		caller, authed, ok := b.authenticate(bearerSecret(r.Header.Get("Authorization")))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nautilus"`)
			writeError(w, http.StatusUnauthorized, "missing or unknown API key (Authorization: Bearer <key>)")
			return
		}
		if authed {
			r = r.WithContext(WithCaller(r.Context(), caller))
		}
		route(w, r, b)
	})
}

// bearerSecret returns the credential of an "Authorization: Bearer" header
// (the scheme is case-insensitive); a key without the scheme, or in
// another, is no key.
func bearerSecret(header string) string {
	scheme, secret, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return secret
}

// callerKey is the default RateKey: a configured API key's id, so a key
// cannot escape its limit by changing address, else the client's address,
// which also limits guessing at keys.
func (h *Handler) callerKey(r *http.Request) string {
	if b := h.broker.Load(); b != nil {
		if caller, authed, ok := b.authenticate(bearerSecret(r.Header.Get("Authorization"))); ok && authed {
			return "key " + caller.KeyID
		}
	}
	return "ip " + ClientIP(r)
}

func (h *Handler) request(w http.ResponseWriter, r *http.Request, b *Broker) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxRequestBytes))
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			writeError(w, http.StatusRequestTimeout, "reading request body: "+err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	req, err := decodeRequest(body, b.cfg.Limits)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	answered := make(chan struct{})
	defer close(answered)
	resp, err := b.handle(r.Context(), req, answered)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
	// The answer is on the wire before async mode's store write may crash.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request, b *Broker) {
	id := r.PathValue("id")
	if err := b.cfg.Limits.checkSessionID("session id", id); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st, ok, err := b.SessionFor(r.Context(), id)
	var forbidden *ForbiddenError
	switch {
	case errors.As(err, &forbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !ok:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown session %q", id))
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

// serveUnrouted answers a request no route matches: the mux's 404 or 405
// (with its Allow header) as a JSON error, a redirect as the mux makes it.
func serveUnrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	cw := &statusCatcher{ResponseWriter: w}
	mux.ServeHTTP(cw, r)
	switch cw.status {
	case http.StatusNotFound:
		writeError(w, cw.status, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		writeError(w, cw.status, fmt.Sprintf("method %s not allowed on %s (allowed: %s)",
			r.Method, r.URL.Path, w.Header().Get("Allow")))
	}
}

// statusCatcher holds back a 404 or 405 and its text body; any other answer
// goes through.
type statusCatcher struct {
	http.ResponseWriter
	status int
}

func (c *statusCatcher) WriteHeader(code int) {
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		c.status = code
		c.Header().Del("X-Content-Type-Options")
		return
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *statusCatcher) Write(p []byte) (int, error) {
	if c.status != 0 {
		return len(p), nil
	}
	return c.ResponseWriter.Write(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"broker: encode response"}`)
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
