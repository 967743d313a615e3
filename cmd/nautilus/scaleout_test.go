package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// piiSources are the proof's five PII sources, one data type each, so a
// session can try to reach all five; cumulative-pii-limit allows three.
var piiSources = []string{"crm", "payroll", "badge", "hr", "medical"}

func scaleOutSources() string {
	s := "sources:\n"
	for _, id := range piiSources {
		s += fmt.Sprintf("  - {id: %s, type: static, classification: cui, data_types: [pii, %s_record], rows: [{id: %s}]}\n", id, id, id)
	}
	return s + "  - {id: nvd, type: static, classification: unclassified, data_types: [cve], rows: []}\n"
}

// scaleOutRequests is how many requests the proof's clients send in all;
// NAUTILUS_SCALEOUT_REQUESTS raises it (scripts/scale-out-proof).
func scaleOutRequests(t *testing.T) int {
	n := 1200
	if v := os.Getenv("NAUTILUS_SCALEOUT_REQUESTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "NAUTILUS_SCALEOUT_REQUESTS")
	}
	return n
}

// answer is one request a client got a 200 for.
type answer struct {
	session, requestID string
	routed             []string
}

// TestScaleOut is the proof that several brokers keep one truth: three
// `nautilus serve` processes share one Postgres session store, each with its
// WAL on a 3-node JetStream cluster (R3). 16 clients send requests for
// shared sessions to random brokers, each session trying all five PII
// sources. Mid-load one broker and one NATS node are killed with SIGKILL and
// restarted. From the clients' answers: no session is ever answered data
// from more than three PII sources, and every answered request is in its
// session's exposure and in exactly one broker's audit trail, once.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, three NATS servers and three brokers")
	}
	dsn := pgtest.DSN(t)
	cluster := startNATSCluster(t, 3)

	const clients, sessions = 16, 24
	total := scaleOutRequests(t)
	brokers := make([]*server, 3)
	configs := make([]string, 3)
	dirs := make([]string, 3)
	env := []string{"NAUTILUS_PG_DSN=" + dsn}
	for i := range brokers {
		dirs[i] = t.TempDir()
		configs[i] = writeConfig(t, dirs[i], scaleOutSources()+authYAML+fmt.Sprintf(`
session_store: {backend: postgres, broker_id: b%d, dsn_env: NAUTILUS_PG_DSN}
persistence:
  mode: synchronous
  wal_enabled: true
  wal_path: ./state/wal
  wal_backend: jetstream
  wal_params: {url: "%s", stream: nautilus-b%d, replicas: "3"}
audit: {enabled: true, path: ./state/audit, backend: jsonl, sync: always}
`, i, cluster.URLs(), i))
		brokers[i] = startServer(t, configs[i], env)
	}

	var (
		mu      sync.RWMutex // guards brokers
		cutOff  atomic.Int64
		amu     sync.Mutex
		answers []answer
		sent    atomic.Int64
		wg      sync.WaitGroup
		midway  = make(chan struct{})
		done    = make(chan struct{})
	)
	killAt := int64(total / 3)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for {
				n := sent.Add(1)
				if n > int64(total) {
					return
				}
				if n == killAt {
					close(midway)
				}
				session := fmt.Sprintf("shared-%02d", rng.IntN(sessions))
				intent := "cve"
				if rng.IntN(5) > 0 {
					intent = piiSources[rng.IntN(len(piiSources))] + "_record"
				}
				mu.RLock()
				s := brokers[rng.IntN(len(brokers))]
				mu.RUnlock()
				code, body, ok := s.request("agent-a", session, intent)
				if !ok {
					cutOff.Add(1)
				}
				if !ok || code != http.StatusOK {
					continue // refused or cut off: not answered, nothing to check
				}
				amu.Lock()
				answers = append(answers, answer{session: session, requestID: body["request_id"].(string),
					routed: strs(body["sources_queried"])})
				amu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-midway:
		killAndRestart(t, &mu, brokers, configs, env, cluster)
	case <-done:
		t.Fatal("the clients finished before the kill")
	}
	<-done
	require.NotEmpty(t, answers)

	// Invariants, from the clients' answers.
	pii := map[string]map[string]bool{} // session -> PII sources answered
	violations := 0
	for _, a := range answers {
		if pii[a.session] == nil {
			pii[a.session] = map[string]bool{}
		}
		for _, src := range a.routed {
			if slices.Contains(piiSources, src) {
				pii[a.session][src] = true
			}
		}
	}
	for session, seen := range pii {
		if len(seen) > 3 {
			violations++
			t.Errorf("session %s was answered data from %d PII sources: %v", session, len(seen), seen)
		}
	}
	states := map[string]map[string]any{}
	lost := 0
	for _, a := range answers {
		st, ok := states[a.session]
		if !ok {
			st = brokers[rand.IntN(len(brokers))].sessionState(a.session)
			states[a.session] = st
		}
		visited := strs(st["sources_visited"])
		for _, src := range a.routed {
			if !slices.Contains(visited, src) {
				lost++
				t.Errorf("answered request %s routed to %s, which session %s's exposure lacks", a.requestID, src, a.session)
			}
		}
	}
	for _, s := range brokers {
		s.stop()
		s.requireNoSecret()
	}
	events := map[string]int{}
	for _, dir := range dirs {
		countAudited(t, dir, events)
	}
	doubled := 0
	for _, a := range answers {
		if n := events[a.requestID]; n != 1 {
			doubled++
			t.Errorf("answered request %s is in the audit trails %d times, want once", a.requestID, n)
		}
	}
	t.Logf("scale-out: brokers=3 nats_nodes=3 clients=%d sessions=%d requests=%d answered=%d cut_off=%d lost=%d limit_violations=%d audit_not_once=%d",
		clients, sessions, total, len(answers), cutOff.Load(), lost, violations, doubled)
}

// killAndRestart kills broker 1 and NATS node 2 with SIGKILL while the
// clients go on sending (a request cut off at the dead broker is not
// answered), then starts both again on their own state.
func killAndRestart(t *testing.T, mu *sync.RWMutex, brokers []*server, configs, env []string, cluster *natsCluster) {
	mu.RLock()
	victim := brokers[1]
	mu.RUnlock()
	require.NoError(t, victim.cmd.Process.Kill())
	cluster.kill(2)
	victim.wait()
	require.True(t, victim.killedBySIGKILL())
	cluster.restart(2)
	restarted := startServer(t, configs[1], env)
	mu.Lock()
	brokers[1] = restarted
	mu.Unlock()
}

// countAudited adds one to events for each event in the audit trail under
// dir, after proving the chain unbroken.
func countAudited(t *testing.T, dir string, events map[string]int) {
	t.Helper()
	cfg := backend.Config{Backend: "jsonl", Dir: filepath.Join(dir, "state", "audit")}
	rep, err := audit.Verify(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Nil(t, rep.Break, "the chain is unbroken")
	var out strings.Builder
	require.NoError(t, audit.Tail(context.Background(), cfg, 0, &out))
	for line := range strings.Lines(out.String()) {
		e, err := audit.Decode([]byte(strings.TrimSuffix(line, "\n")))
		require.NoError(t, err)
		if e.Status == http.StatusOK {
			events[e.RequestID]++
		}
	}
}
