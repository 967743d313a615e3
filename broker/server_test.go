package broker

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServerIsAliveBeforeItsBrokerAndCountsTheWALOnMetrics checks the
// stack NewServer builds: /healthz answers and /readyz refuses until
// OpenBroker returns, then requests are served and /metrics carries the
// process's, the broker's and the WAL's metrics.
func TestServerIsAliveBeforeItsBrokerAndCountsTheWALOnMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := memoryConfig(registryA())
	cfg.Persistence.WALEnabled = true
	cfg.Persistence.WALPath = filepath.Join(dir, "wal")
	cfg.Persistence.WALBackend = "jsonl"

	s, err := NewServer(cfg, "127.0.0.1:0", nil)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.HTTP.Serve(s.Listener) }()
	url := "http://" + s.Listener.Addr().String()

	status, _ := get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, status)
	status, _ = get(t, url+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status)

	b, err := s.OpenBroker(context.Background())
	require.NoError(t, err)
	status, _ = get(t, url+"/readyz")
	require.Equal(t, http.StatusOK, status)
	status, out := post(t, url, requestJSON("a1", "employee pii", "s1"))
	require.Equal(t, http.StatusOK, status, out)

	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, want := range []string{"go_goroutines ", "process_open_fds ", `nautilus_broker_request_duration_seconds_count{outcome="ok"} 1`,
		`nautilus_wal_records_appended_total{backend="jsonl"} 1`} {
		require.Contains(t, string(body), want)
	}

	require.NoError(t, s.HTTP.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, http.ErrServerClosed)
	require.NoError(t, b.Close())
}

// TestServerRefusesABadAPISectionAsConfigError: a listener the api
// section cannot build fails NewServer with the key at fault.
func TestServerRefusesABadAPISectionAsConfigError(t *testing.T) {
	cfg := memoryConfig(registryA())
	cfg.API.TLS.CertFile = filepath.Join(t.TempDir(), "missing.pem")
	cfg.API.TLS.KeyFile = cfg.API.TLS.CertFile
	_, err := NewServer(cfg, "127.0.0.1:0", nil)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.True(t, strings.HasPrefix(ce.Key, "api.tls"), ce.Key)
}
