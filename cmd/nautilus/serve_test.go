package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker"
	"github.com/stretchr/testify/require"
)

// runServe runs serve in-process and returns its exit status and output;
// for configurations that exit before listening.
func runServe(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := serve(args, &out, &out)
	return code, out.String()
}

func TestBadConfigExits2NamingTheKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		name, config string
		args         []string
		want         string
	}{
		{"unknown key", registryA + "persistence: {mode: async, wal_enabld: true}\n", nil, "persistence.wal_enabld: unknown key"},
		{"unknown nested key", "sources:\n  - {id: hr, type: static, classification: cui, data_types: [pii], colour: red}\n", nil, "sources[0].colour: unknown key"},
		{"unknown backend", registryA + "persistence: {wal_enabled: true, wal_backend: nosuch}\n", nil, `persistence.wal_backend: unknown backend "nosuch"`},
		{"unknown backend flag", registryA, []string{"--wal-enabled", "--wal-backend", "nosuch"}, `persistence.wal_backend: unknown backend "nosuch"`},
		{"unwritable wal_path", registryA + "persistence: {wal_enabled: true, wal_path: " + filepath.Join(file, "wal") + "}\n", nil, "persistence.wal_path"},
		{"unwritable wal_path flag", registryA, []string{"--wal-enabled=true", "--wal-path", filepath.Join(file, "wal")}, "persistence.wal_path"},
		{"unset variable", registryA + "persistence: {wal_path: \"${NAUTILUS_TEST_UNSET_VAR}\"}\n", nil, "persistence.wal_path: environment variable NAUTILUS_TEST_UNSET_VAR is not set"},
		{"bad mode", registryA + "persistence: {mode: eventually}\n", nil, `persistence.mode: unknown mode "eventually"`},
		{"bad classification", "sources: [{id: x, type: static, classification: secretish, data_types: [a]}]\n", nil, "sources[0].classification"},
		{"bad wal param", registryA + "persistence: {wal_enabled: true, wal_params: {no_such_param: 1}}\n", nil, "persistence.wal_params"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			config := writeConfig(t, sub, tc.config+"session_store: {backend: memory}\n")
			code, out := runServe(t, append([]string{"--config", config, "--bind", "127.0.0.1:0"}, tc.args...)...)
			require.Equal(t, 2, code, out)
			require.Contains(t, out, tc.want)
		})
	}
	code, out := runServe(t, "--bind", "127.0.0.1:0")
	require.Equal(t, 2, code)
	require.Contains(t, out, "--config is required")
	code, out = runServe(t, "--config", filepath.Join(dir, "missing.yaml"))
	require.Equal(t, 2, code)
	require.Contains(t, out, "missing.yaml")
}

// A config error names the file, the line, the key and the type wanted.
func TestConfigErrorNamesFileKeyAndType(t *testing.T) {
	config := writeConfig(t, t.TempDir(), registryA+"persistence:\n  wal_enabled: maybe\n")
	code, out := runServe(t, "--config", config)
	require.Equal(t, 2, code, out)
	require.Equal(t, "nautilus serve: broker: config "+config+`:6: persistence.wal_enabled: want a bool, got "maybe"`+"\n", out)
}

// A bad wal_params key is refused before anything is created: no WAL
// directory, no lock file, no session store.
func TestBadWALParamCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, dir, registryA+`
session_store: {backend: sqlite, sqlite_path: ./state/sessions.db}
persistence:
  wal_enabled: true
  wal_path: ./state/wal
  wal_params:
    segment_bytez: 1KiB
`)
	code, out := runServe(t, "--config", config, "--bind", "127.0.0.1:0")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, config+":11: persistence.wal_params.segment_bytez: backend jsonl: unknown param segment_bytez")
	require.NoDirExists(t, filepath.Join(dir, "state"), "neither the WAL directory nor the store's")

	code, out = runServe(t, "--config", config, "--bind", "127.0.0.1:0", "--wal-backend", "bbolt")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "persistence.wal_params.segment_bytez: backend bbolt: unknown param segment_bytez",
		"checked against the backend the flag chose")
	require.NoDirExists(t, filepath.Join(dir, "state"))
}

// An empty config, or one of only comments, would start a broker with no
// sources: refused, naming the file.
func TestEmptyConfigRefused(t *testing.T) {
	for _, text := range []string{"", "# sources to come\n\n# nothing yet\n"} {
		config := writeConfig(t, t.TempDir(), text)
		code, out := runServe(t, "--config", config, "--bind", "127.0.0.1:0")
		require.Equal(t, 2, code, out)
		require.Equal(t, "nautilus serve: broker: config "+config+": empty (or only comments): a broker needs at least its sources\n", out)
	}
}

func TestEnvExpansionAndRelativePaths(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NAUTILUS_TEST_MODE", "async")
	config := writeConfig(t, dir, registryA+`
session_store: {backend: sqlite, sqlite_path: ./state/sessions.db}
persistence: {mode: "${NAUTILUS_TEST_MODE}", wal_enabled: true, wal_path: ./state/wal}
`)
	s := startServer(t, config, nil)
	code, _, ok := s.request("a", "s", "cve")
	require.True(t, ok)
	require.Equal(t, 200, code)
	require.Contains(t, s.output(), "mode=async")
	resp, err := http.Get(s.url + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(metrics), `nautilus_broker_request_duration_seconds_count{outcome="ok"} 1`)
	require.Contains(t, string(metrics), "nautilus_broker_wal_append_duration_seconds_count 1")
	require.Contains(t, string(metrics), "nautilus_broker_wal_records_replayed_total 0")
	require.Contains(t, string(metrics), `nautilus_wal_records_appended_total{backend="jsonl"} 1`)
	s.stop()
	require.FileExists(t, filepath.Join(dir, "state", "sessions.db"), "relative to the config file's folder")
	require.DirExists(t, filepath.Join(dir, "state", "wal"))
}

// A WAL damaged in the middle refuses startup with the file, offset and
// index, exits non-zero, and leaves the session store's bytes as they were.
func TestCorruptWALRefusesStart(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, dir, registryA+persistenceYAML(broker.ModeSynchronous, true, "jsonl"))
	s := startServer(t, config, nil)
	code, _, _ := s.request("a", "s", "cve")
	require.Equal(t, 200, code)
	s.stop()

	// Two more records after the checkpoint, the first then damaged.
	walDir := filepath.Join(dir, "state", "wal")
	w, err := backend.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: walDir})
	require.NoError(t, err)
	var first uint64
	for _, intent := range []string{"employee", "budget"} {
		data, err := broker.EncodeRecord(broker.Record{V: 1, RequestID: "req-" + intent, SessionID: "s", AgentID: "a",
			Ops: []broker.Op{{Op: broker.OpAssert, Template: "session_exposure",
				Slots: broker.Slots{"session_id": "s", "category": "data_types_seen", "value": intent}}}})
		require.NoError(t, err)
		idx, err := w.Append(context.Background(), data)
		require.NoError(t, err)
		if first == 0 {
			first = idx
		}
	}
	require.NoError(t, w.Close())
	segments, err := filepath.Glob(filepath.Join(walDir, "*.jsonl"))
	require.NoError(t, err)
	require.Len(t, segments, 1)
	seg, err := os.ReadFile(segments[0])
	require.NoError(t, err)
	require.Equal(t, 1, bytes.Count(seg, []byte(`"value":"employee"`)))
	require.NoError(t, os.WriteFile(segments[0], bytes.Replace(seg, []byte(`"value":"employee"`), []byte(`"value":"employeX"`), 1), 0o644))

	storePath := filepath.Join(dir, "state", "sessions.db")
	before, err := os.ReadFile(storePath)
	require.NoError(t, err)

	s = launch(t, config, nil)
	addr := make(chan string, 1)
	s.readLog(addr)
	s.wait()
	require.Error(t, s.err, "serve refused to start")
	require.Equal(t, 1, s.cmd.ProcessState.ExitCode(), s.output())
	out := s.output()
	t.Log(out)
	require.Contains(t, out, segments[0], "names the file")
	require.Regexp(t, regexp.MustCompile(`at offset \d+`), out, "names the offset")
	require.Contains(t, out, "(index "+strings.TrimSpace(jsonNumber(first))+")", "names the index")

	after, err := os.ReadFile(storePath)
	require.NoError(t, err)
	require.Equal(t, before, after, "the store is untouched")
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestUnknownCommand(t *testing.T) {
	code, out, errOut := runCLI("frobnicate")
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Contains(t, errOut, `unknown command "frobnicate"`)
	require.Contains(t, errOut, "serve", "the usage lists the commands")
	code, out, errOut = runCLI("help")
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	require.Contains(t, out, "  serve ")
}

// The quickstart's config loads as written and serves scenario S1.
func TestQuickstartConfig(t *testing.T) {
	cfg, err := broker.LoadConfig(filepath.Join("..", "..", "examples", "quickstart", "nautilus.yaml"))
	require.NoError(t, err)
	require.True(t, cfg.Persistence.WALEnabled)
	require.Equal(t, "jsonl", cfg.Persistence.WALBackend)
	abs, err := filepath.Abs(filepath.Join("..", "..", "examples", "quickstart", ".nautilus", "wal"))
	require.NoError(t, err)
	require.Equal(t, abs, cfg.Persistence.WALPath, "relative to the file's folder")

	dir := t.TempDir()
	cfg.Persistence.WALPath = filepath.Join(dir, "wal")
	cfg.SessionStore.SQLitePath = filepath.Join(dir, "sessions.db")
	b, err := broker.New(context.Background(), cfg, nil)
	require.NoError(t, err)
	defer b.Close()
	r, err := b.Handle(context.Background(), broker.Request{AgentID: "agent-a", Intent: "employee pii",
		Context: broker.RequestContext{SessionID: "s1", Clearance: "secret"}})
	require.NoError(t, err)
	require.Equal(t, []string{"hr"}, r.SourcesQueried)
	require.Len(t, r.Data["hr"], 2)
	require.Equal(t, []string{"employee", "pii"}, r.Exposure.DataTypesSeen)
}
