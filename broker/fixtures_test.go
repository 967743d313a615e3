package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/stretchr/testify/require"
)

// registryA is registry A of docs/broker.md ("Registry A and the scenarios").
func registryA() []Source {
	return []Source{
		{ID: "hr", Type: "static", Classification: "cui", DataTypes: []string{"pii", "employee"},
			Rows: []map[string]any{{"name": "Ada", "role": "engineer"}}},
		{ID: "fin", Type: "static", Classification: "cui", DataTypes: []string{"financial", "budget"},
			Rows: []map[string]any{{"quarter": "Q1", "budget": 100}}},
		{ID: "nvd", Type: "static", Classification: "unclassified", DataTypes: []string{"cve", "vulnerability"},
			Rows: []map[string]any{{"id": "CVE-2024-0001"}}},
	}
}

// piiRegistry is S4's: four PII sources with one unique type each.
func piiRegistry() []Source {
	var out []Source
	for _, id := range []string{"crm", "payroll", "badge", "hr"} {
		out = append(out, Source{ID: id, Type: "static", Classification: "cui",
			DataTypes: []string{"pii", id + "_record"}})
	}
	return out
}

func memoryConfig(sources []Source) Config {
	return Config{
		Sources:      sources,
		SessionStore: SessionStoreConfig{Backend: StoreMemory},
	}
}

// newBroker opens a broker and closes it at the end of the test.
func newBroker(t *testing.T, cfg Config, opts *Options) *Broker {
	t.Helper()
	b, err := New(context.Background(), cfg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

func ask(t *testing.T, b *Broker, session, agent, intent string) Response {
	t.Helper()
	resp, err := b.Handle(context.Background(), Request{AgentID: agent, Intent: intent,
		Context: RequestContext{SessionID: session, Clearance: "secret"}})
	require.NoError(t, err)
	return resp
}

func stateOfSession(t *testing.T, b *Broker, id string) State {
	t.Helper()
	st, ok, err := b.Session(context.Background(), id)
	require.NoError(t, err)
	require.True(t, ok, "session %s unknown", id)
	return st
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func timeAt(unix int64) *testClock { return &testClock{now: time.Unix(unix, 0)} }

func (c *testClock) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(seconds int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Duration(seconds) * time.Second)
}
