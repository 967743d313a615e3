package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/broker"
	"github.com/stretchr/testify/require"
)

// With no keys, serve will not listen where other hosts reach it, and
// creates nothing before refusing.
func TestServeRefusesOpenBindWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, dir, registryA+persistenceYAML(broker.ModeSynchronous, true, "jsonl"))
	for _, bind := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.7:0", "example.com:0"} {
		code, out := runServe(t, "--config", config, "--bind", bind)
		require.Equal(t, exitUsage, code, "%s: %s", bind, out)
		require.Contains(t, out, "--bind "+bind+" is reachable from other hosts and api.keys is empty")
		require.Contains(t, out, "api.allow_unauthenticated: true")
	}
	_, err := os.Stat(filepath.Join(dir, "state"))
	require.True(t, os.IsNotExist(err), "nothing created: %v", err)
}

func TestCheckUnauthenticated(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	open := broker.Config{API: broker.APIConfig{AllowUnauthenticated: true}}
	keyed := broker.Config{API: broker.APIConfig{Keys: []broker.APIKey{{ID: "k"}}}}
	for _, tc := range []struct {
		bind  string
		cfg   broker.Config
		ok    bool
		warns bool
	}{
		{"127.0.0.1:8000", broker.Config{}, true, false},
		{"127.8.9.10:8000", broker.Config{}, true, false},
		{"[::1]:8000", broker.Config{}, true, false},
		{"localhost:8000", broker.Config{}, true, false},
		{"0.0.0.0:8000", broker.Config{}, false, false},
		{"10.0.0.1:8000", broker.Config{}, false, false},
		{"0.0.0.0:8000", open, true, true},
		{"0.0.0.0:8000", keyed, true, false},
	} {
		logged.Reset()
		err := checkUnauthenticated(tc.bind, tc.cfg, log)
		require.Equal(t, tc.ok, err == nil, "%s: %v", tc.bind, err)
		require.Equal(t, tc.warns, bytes.Contains(logged.Bytes(), []byte("level=WARN")), "%s: %s", tc.bind, logged.String())
	}
}

// The server behind keys: 401 without one, the agent bound to its key, and
// nothing of a secret in the log.
func TestServeWithKeys(t *testing.T) {
	config := writeConfig(t, t.TempDir(), registryA+authYAML+persistenceYAML(broker.ModeAsync, true, "jsonl"))
	s := startServer(t, config, nil)
	resp, err := http.Post(s.url+"/v1/request", "application/json", bytes.NewReader([]byte(`{"agent_id":"agent-a","intent":"cve"}`)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	code, body, ok := s.request("agent-a", "s", "employee pii")
	require.True(t, ok)
	require.Equal(t, http.StatusOK, code, "%v", body)
	code, body, _ = s.request("agent-b", "s", "budget financial")
	require.Equal(t, http.StatusForbidden, code, "agent-b cannot poison agent-a's session: %v", body)
	require.Equal(t, []string{"agent-a"}, strs(s.sessionState("s")["agents_seen"]))
	s.stop()
	s.requireNoSecret()
}
