package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// TLSConfig turns on TLS for the API: cert_file and key_file are the
// server's PEM certificate chain and key; client_ca_file, when set, makes
// the server require a client certificate signed by one of its CAs (mTLS).
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// TimeoutsConfig bounds how long a connection may take: Read to send a
// request's headers and body, Write to take the answer once the headers are
// read, Idle to send the next request on a kept-alive connection.
type TimeoutsConfig struct {
	Read  time.Duration `yaml:"read"`
	Write time.Duration `yaml:"write"`
	Idle  time.Duration `yaml:"idle"`
}

// RateLimitConfig is a token bucket per caller: RequestsPerSecond refill,
// up to Burst requests at once. RequestsPerSecond 0 turns the limit off.
type RateLimitConfig struct {
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"` // default: RequestsPerSecond rounded up
}

// Defaults of the api section's transport settings.
const (
	DefaultReadTimeout    = 30 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
	DefaultMaxConnections = 1024
)

func (c APIConfig) withDefaults() APIConfig {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.Timeouts.Read, DefaultReadTimeout}, {&c.Timeouts.Write, DefaultWriteTimeout}, {&c.Timeouts.Idle, DefaultIdleTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	fillDefaults(c.intSettings())
	c.RateLimit = c.RateLimit.withDefaults()
	return c
}

// withDefaults makes the burst of a limit that is on at least one second's
// worth of requests.
func (r RateLimitConfig) withDefaults() RateLimitConfig {
	if r.RequestsPerSecond > 0 && r.Burst == 0 {
		r.Burst = max(1, int(math.Ceil(r.RequestsPerSecond)))
	}
	return r
}

func (c *APIConfig) intSettings() []intSetting {
	return []intSetting{
		{"api.max_connections", &c.MaxConnections, DefaultMaxConnections},
		{"api.rate_limit.burst", &c.RateLimit.Burst, 0}, // its default depends on the rate
	}
}

func (c APIConfig) validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"api.timeouts.read", c.Timeouts.Read}, {"api.timeouts.write", c.Timeouts.Write}, {"api.timeouts.idle", c.Timeouts.Idle}} {
		if d.v < 0 {
			return configErr(d.key, "%s: want a positive duration such as 30s (unset: the default)", d.v)
		}
	}
	if err := checkPositive(c.intSettings()); err != nil {
		return err
	}
	if r := c.RateLimit.RequestsPerSecond; r < 0 {
		return configErr("api.rate_limit.requests_per_second", "%g: want a positive number (0 or unset: no limit)", r)
	}
	t := c.TLS
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		return configErr("api.tls.cert_file", "missing: key_file is set")
	case t.CertFile != "" && t.KeyFile == "":
		return configErr("api.tls.key_file", "missing: cert_file is set")
	case t.CertFile == "" && t.ClientCAFile != "":
		return configErr("api.tls.cert_file", "missing: client_ca_file needs TLS")
	}
	return nil
}

// Server returns an http.Server for h with the timeouts of c.
func (c APIConfig) Server(h http.Handler) *http.Server {
	c = c.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadTimeout:       c.Timeouts.Read,
		ReadHeaderTimeout: c.Timeouts.Read,
		WriteTimeout:      c.Timeouts.Write,
		IdleTimeout:       c.Timeouts.Idle,
	}
}

// Listen listens on the TCP address addr with the transport of c: at most
// MaxConnections connections at once (the next waits in the kernel's
// backlog until one closes), and TLS when api.tls is set. A certificate
// that cannot be loaded is a *ConfigError naming its setting.
func (c APIConfig) Listen(addr string) (net.Listener, error) {
	c = c.withDefaults()
	var tlsConfig *tls.Config
	if c.TLS.CertFile != "" {
		var err error
		if tlsConfig, err = c.TLS.load(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	ln = newLimitListener(ln, c.MaxConnections)
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, nil
}

// load reads the certificates of t.
func (t TLSConfig) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, configErr("api.tls.cert_file", "load %s with key %s: %w", t.CertFile, t.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, configErr("api.tls.client_ca_file", "%w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErr("api.tls.client_ca_file", "%s: no PEM certificate in it", t.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// limitListener accepts a connection only while fewer than cap(sem) are
// open; Accept waits for one to close otherwise.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{} // closed by Close: a waiting Accept gives up
	once sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	conn, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: conn, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn frees its slot once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
