package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jsonl"
)

// trail reads every event of the audit trail in dir, after proving its
// chain unbroken.
func trail(t *testing.T, dir string) []audit.Event {
	t.Helper()
	cfg := backend.Config{Backend: "jsonl", Dir: dir}
	rep, err := audit.Verify(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Nil(t, rep.Break)
	var out strings.Builder
	require.NoError(t, audit.Tail(context.Background(), cfg, 0, &out))
	var events []audit.Event
	for line := range strings.Lines(out.String()) {
		e, err := audit.Decode([]byte(strings.TrimSuffix(line, "\n")))
		require.NoError(t, err)
		events = append(events, e)
	}
	require.Len(t, events, int(rep.Events))
	return events
}

// Every request that reaches Handle leaves one event, whatever its answer,
// with what was decided and nothing secret; the chain goes on after a
// restart.
func TestAuditOneEventPerRequest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	cfg := withTokens(t, authConfig(registryA()), false, false)
	cfg.Audit = AuditConfig{Enabled: true, Path: dir}
	b := newBroker(t, cfg, nil)
	h := NewHandler(nil)
	h.Serve(b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := client{t: t, url: srv.URL, hc: srv.Client()}
	a := c.as(secretA)

	type asked struct {
		code    int
		resp    map[string]any
		agent   string
		outcome string
	}
	var all []asked
	post := func(cl client, agent, intent string, ctx map[string]any, wantAgent, outcome string) map[string]any {
		code, r := cl.ask(agent, intent, ctx)
		all = append(all, asked{code, r, wantAgent, outcome})
		return r
	}
	r := post(a, "", "employee pii", sid("s1"), "agent-a", audit.OutcomeOK)
	token := r["session_token"].(string)
	post(a, "", "budget financial", map[string]any{"session_token": token}, "agent-a", audit.OutcomeOK)
	post(a, "", "employee pii", sid("s1"), "agent-a", audit.OutcomeDenied) // the combination flag denies hr now
	post(c.as(secretB), "", "cve", map[string]any{"session_token": token}, "agent-b", audit.OutcomeDenied)
	post(a, "agent-b", "cve", nil, "agent-b", audit.OutcomeDenied)
	post(c.as(secretAdmin), "", "cve", nil, "", audit.OutcomeError)
	require.NoError(t, b.Close())

	events := trail(t, dir)
	require.Len(t, events, len(all))
	for i, e := range events {
		want := all[i]
		require.Equal(t, uint64(i+1), e.Seq)
		require.Equal(t, want.code, e.Status, "event %d", i+1)
		require.Equal(t, want.outcome, e.Outcome, "event %d", i+1)
		require.Equal(t, want.agent, e.AgentID, "event %d", i+1)
		require.True(t, strings.HasPrefix(e.RequestID, "req-"))
		if want.code != http.StatusOK {
			continue
		}
		require.Equal(t, want.resp["request_id"], e.RequestID)
		require.Equal(t, want.resp["session_id"], e.SessionID)
		require.ElementsMatch(t, list(want.resp["sources_queried"]), e.Routed)
		var denied []string
		for _, d := range e.Denied {
			denied = append(denied, d.Source)
			require.NotEmpty(t, d.Rule)
			require.NotEmpty(t, d.Reason)
		}
		require.ElementsMatch(t, list(want.resp["sources_denied"]), denied)
	}
	require.Equal(t, []string{"employee", "pii"}, events[0].DataTypes)
	require.Equal(t, []string{"hr"}, events[0].Routed)
	require.Equal(t, []string{"hr"}, []string{events[2].Denied[0].Source})

	// Nothing secret in the trail's files.
	require.NoError(t, filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, secret := range []string{secretA, secretB, secretAdmin, signingKey1, token} {
			require.NotContains(t, string(data), secret, path)
		}
		return nil
	}))

	// The chain goes on where it ended.
	b = newBroker(t, cfg, nil)
	ask(t, b, "s2", "agent-a", "cve")
	require.NoError(t, b.Close())
	events = trail(t, dir)
	require.Len(t, events, len(all)+1)
	require.Equal(t, "s2", events[len(all)].SessionID)
}

// failingWAL is a WAL whose appends fail once fail is set.
type failingWAL struct {
	mu      sync.Mutex
	records [][]byte
	fail    *atomic.Bool
}

var errInjected = errors.New("injected append failure")

func (w *failingWAL) Append(_ context.Context, data ...[]byte) (uint64, error) {
	if w.fail.Load() {
		return 0, errInjected
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range data {
		w.records = append(w.records, slices.Clone(d))
	}
	return uint64(len(w.records)), nil
}

func (w *failingWAL) Replay(_ context.Context, from uint64, fn func(uint64, []byte) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := from; i <= uint64(len(w.records)); i++ {
		if err := fn(i, w.records[i-1]); err != nil {
			return err
		}
	}
	return nil
}

func (w *failingWAL) Bounds(context.Context) (uint64, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return 1, uint64(len(w.records)), nil
}

func (w *failingWAL) TruncateFront(context.Context, uint64) error { return errors.ErrUnsupported }
func (w *failingWAL) Sync(context.Context) error                  { return nil }
func (w *failingWAL) Close() error                                { return nil }

var auditFails atomic.Bool

func init() {
	backend.Register("audit-test-failing", backend.DriverFunc(func(context.Context, backend.Config) (backend.WAL, error) {
		return &failingWAL{fail: &auditFails}, nil
	}))
}

// No answer leaves without its event: when the trail cannot take it, the
// request fails, and so does every later one.
func TestAuditAppendFailureRefusesTheAnswer(t *testing.T) {
	cfg := memoryConfig(registryA())
	cfg.Audit = AuditConfig{Enabled: true, Path: t.TempDir(), Backend: "audit-test-failing"}
	b := newBroker(t, cfg, nil)
	defer auditFails.Store(false)
	ask(t, b, "s", "agent-a", "cve")
	auditFails.Store(true)
	for range 2 {
		resp, err := b.Handle(context.Background(), Request{AgentID: "agent-a", Intent: "cve",
			Context: RequestContext{SessionID: "s", Clearance: "secret"}})
		require.ErrorIs(t, err, errInjected)
		require.ErrorContains(t, err, "audit trail")
		require.Empty(t, resp.Data, "no data leaves")
		require.Equal(t, http.StatusInternalServerError, statusOf(err))
	}
}

// Concurrent requests in async mode leave one chained event each.
func TestAuditConcurrentRequests(t *testing.T) {
	dir := t.TempDir()
	cfg := memoryConfig(registryA())
	cfg.Persistence = PersistenceConfig{Mode: ModeAsync, WALEnabled: true, WALPath: filepath.Join(dir, "wal")}
	cfg.Audit = AuditConfig{Enabled: true, Path: filepath.Join(dir, "audit"), Sync: "none"}
	b := newBroker(t, cfg, nil)
	const clients, each = 6, 20
	ids := make(chan string, clients*each)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				resp, err := b.Handle(context.Background(), Request{AgentID: "agent-a", Intent: "cve",
					Context: RequestContext{SessionID: fmt.Sprintf("s%d", (c+i)%3), Clearance: "secret"}})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- resp.RequestID
			}
		})
	}
	wg.Wait()
	close(ids)
	require.NoError(t, b.Close())
	logged := map[string]bool{}
	for _, e := range trail(t, filepath.Join(dir, "audit")) {
		logged[e.RequestID] = true
	}
	require.Len(t, logged, clients*each)
	for id := range ids {
		require.True(t, logged[id], "request %s is in the trail", id)
	}
}

func TestAuditConfig(t *testing.T) {
	c, err := ParseConfig([]byte("audit: {enabled: true}\n"), "/d", env(nil))
	require.NoError(t, err)
	require.Equal(t, AuditConfig{Enabled: true, Path: "/d/.nautilus/audit", Backend: "jsonl", Sync: "always"}, c.Audit)
	c, err = ParseConfig([]byte("audit: {enabled: true, path: trail, backend: memory, sync: none}\n"), "/d", env(nil))
	require.NoError(t, err)
	require.Equal(t, AuditConfig{Enabled: true, Path: "/d/trail", Backend: "memory", Sync: "none"}, c.Audit)

	for _, tc := range []struct{ yaml, key, msg string }{
		{"audit: {sync: sometimes}", "audit.sync", `unknown value "sometimes" (want always or none)`},
		{"audit: {enabled: true, backend: nosuch}", "audit.backend", `unknown backend "nosuch"`},
		{"audit: {enabled: true, params: {nope: 1}}", "audit.params.nope", "unknown param nope"},
		{"audit: {enabled: true, path: w}\npersistence: {wal_enabled: true, wal_path: w}", "audit.path", "each log needs a directory of its own"},
		{"audit: {enabld: true}", "audit.enabld", "unknown key"},
		{"audit: {enabled: maybe}", "audit.enabled", "want a bool"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/d", env(nil))
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tc.yaml, err)
		require.Equal(t, tc.key, ce.Key, "%s: %v", tc.yaml, err)
		require.Contains(t, ce.Err.Error(), tc.msg)
	}

	// Checked before New creates anything, with the file and line named.
	dir := t.TempDir()
	path := filepath.Join(dir, "nautilus.yaml")
	require.NoError(t, os.WriteFile(path, []byte("sources: []\naudit:\n  enabled: true\n  params: {nope: 1}\n"), 0o600))
	_, err = LoadConfig(path)
	require.ErrorContains(t, err, "broker: config "+path+":4: audit.params.nope: backend jsonl: unknown param nope")
	cfg := Config{Audit: AuditConfig{Enabled: true, Path: filepath.Join(dir, "audit"), Sync: "never"},
		SessionStore: SessionStoreConfig{SQLitePath: filepath.Join(dir, "state", "sessions.db")}}
	_, err = New(context.Background(), cfg, nil)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "audit.sync", ce.Key)
	require.NoDirExists(t, filepath.Join(dir, "audit"))
	require.NoDirExists(t, filepath.Join(dir, "state"))
}
