package broker

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nautilus-go/nautilus/backend/walmetrics"
)

// Server is the broker's serving stack: a Prometheus registry with the Go
// and process collectors served at /metrics, the rate limiter the
// configuration asks for, and the api section's listener and server. It
// answers /healthz at once and the API once OpenBroker has returned, so a
// long replay does not keep it from saying it is alive.
type Server struct {
	// HTTP serves the broker's Handler; the caller runs HTTP.Serve on
	// Listener (or on a listener wrapping it) and shuts it down.
	HTTP *http.Server
	// Listener is the api section's listener, with its TLS and connection
	// limit, bound to the address given to NewServer.
	Listener net.Listener
	// Registry holds the process's, the broker's and the WAL's metrics.
	Registry *prometheus.Registry

	cfg     Config
	opts    Options // for New
	handler *Handler
}

// ServerOptions tune NewServer.
type ServerOptions struct {
	// Logger receives the server's connection errors and the broker's
	// warnings (nil: slog.Default()).
	Logger *slog.Logger
	// Broker is the base of the options OpenBroker passes to New, which
	// sets their Logger, Registerer, WALObserver and WrapWAL itself.
	Broker Options
}

// NewServer listens on addr as cfg's api section says and builds the
// handler and the server; the broker is opened by OpenBroker. A bad api
// section is a *ConfigError.
func NewServer(cfg Config, addr string, opts *ServerOptions) (*Server, error) {
	cfg = cfg.withDefaults()
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	handler := NewHandler(&HandlerOptions{
		Metrics:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		RateLimiter: NewRateLimiter(cfg.API.RateLimit, nil),
	})
	ln, err := cfg.API.Listen(addr)
	if err != nil {
		return nil, err
	}
	srv := cfg.API.Server(handler)
	// TLS handshake and connection errors go to the structured log.
	srv.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	bo := o.Broker
	bo.Logger, bo.Registerer = o.Logger, reg
	if cfg.Persistence.WALEnabled {
		m := walmetrics.New(reg, prometheus.Labels{"backend": cfg.Persistence.WALBackend})
		m.SyncAlways = cfg.Persistence.WALSync != "none"
		bo.WALObserver, bo.WrapWAL = m, m.Wrap
	}
	return &Server{HTTP: srv, Listener: ln, Registry: reg, cfg: cfg, opts: bo, handler: handler}, nil
}

// OpenBroker opens the broker, its metrics and, with the WAL on, the WAL's
// on the server's registry, and hands it to the handler. It is called once;
// the caller closes the broker after shutting the server down.
func (s *Server) OpenBroker(ctx context.Context) (*Broker, error) {
	b, err := New(ctx, s.cfg, &s.opts)
	if err != nil {
		return nil, err
	}
	s.handler.Serve(b)
	return b, nil
}
