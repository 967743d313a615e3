package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker"
	"github.com/stretchr/testify/require"
)

// crashCase is one crash: the failpoint a request dies at, and what the
// restarted broker must show for it.
type crashCase struct {
	mode       string
	wal        bool
	failpoint  string
	answered   bool // the killed request got its 200 before the kill
	keptUpdate bool // its exposure is in the state after restart
}

// crashCases is the full matrix: every failpoint in both modes with the
// WAL on, and the store failpoints with the WAL off.
func crashCases() []crashCase {
	var cases []crashCase
	for _, mode := range []string{broker.ModeSynchronous, broker.ModeAsync} {
		for _, fp := range broker.Failpoints {
			afterAppend := fp != "before-wal-append"
			storePoint := fp == "before-store-write" || fp == "after-store-write"
			cases = append(cases, crashCase{mode: mode, wal: true, failpoint: fp,
				answered: mode == broker.ModeAsync && storePoint, keptUpdate: afterAppend})
		}
		// With the WAL off only the store write makes a request durable;
		// async answers before it, so a crash there loses an answered request.
		cases = append(cases,
			crashCase{mode: mode, failpoint: "before-store-write", answered: mode == broker.ModeAsync},
			crashCase{mode: mode, failpoint: "after-store-write", answered: mode == broker.ModeAsync, keptUpdate: true})
	}
	return cases
}

// durableBackends are the registered WAL backends that persist.
func durableBackends() []string {
	var out []string
	for _, name := range backend.Drivers() {
		if name != "memory" {
			out = append(out, name)
		}
	}
	return out
}

func TestCrashAtFailpoints(t *testing.T) {
	for _, be := range durableBackends() {
		for _, c := range crashCases() {
			if !c.wal && be != "jsonl" {
				continue // without the WAL the backend plays no part
			}
			name := fmt.Sprintf("%s/%s/wal=%t/%s", be, c.mode, c.wal, c.failpoint)
			t.Run(name, func(t *testing.T) { runCrashCase(t, be, c) })
		}
	}
}

func runCrashCase(t *testing.T, be string, c crashCase) {
	dir := t.TempDir()
	config := writeConfig(t, dir, registryA+authYAML+persistenceYAML(c.mode, c.wal, be)+auditYAML(c.mode, be))

	// Build some exposure first.
	var answered []string
	s := startServer(t, config, nil)
	for _, intent := range []string{"employee pii", "cve"} {
		code, body, ok := s.request("agent-a", "s", intent)
		require.True(t, ok)
		require.Equal(t, http.StatusOK, code)
		answered = append(answered, body["request_id"].(string))
	}
	s.stop()

	// The request that dies: it would raise pii-financial-combination and
	// lift the classification from cui to confidential, exactly one rank.
	s = startServer(t, config, []string{broker.FailpointEnv + "=" + c.failpoint})
	code, body, ok := s.request("agent-a", "s", "budget financial")
	s.wait()
	require.True(t, s.killedBySIGKILL(), "the failpoint fired: %v\n%s", s.err, s.output())
	require.Equal(t, c.answered, ok && code == http.StatusOK, "answered before the crash (status %d)", code)
	if c.answered {
		answered = append(answered, body["request_id"].(string))
	}
	requireAudited(t, dir, be, answered)

	s = startServer(t, config, nil)
	st := s.sessionState("s")
	require.NotNil(t, st)
	require.Equal(t, []string{"agent-a"}, strs(st["agents_seen"]))
	require.Equal(t, float64(1), st["pii_sources_accessed"])
	if c.keptUpdate {
		require.Equal(t, []string{"budget", "cve", "employee", "financial", "pii"}, strs(st["data_types_seen"]))
		require.Equal(t, []string{"fin", "hr", "nvd"}, strs(st["sources_visited"]))
		require.Equal(t, []string{"pii-financial-combination"}, strs(st["exposure_flags"]))
		require.Equal(t, "confidential", st["cumulative_classification"], "the raise applied exactly once")
		_, r, _ := s.request("agent-a", "s", "employee pii")
		require.Equal(t, []string{"hr"}, strs(r["sources_denied"]), "the flag is in force after restart")
	} else {
		require.Equal(t, []string{"cve", "employee", "pii"}, strs(st["data_types_seen"]))
		require.Empty(t, strs(st["exposure_flags"]))
		require.Equal(t, "cui", st["cumulative_classification"])
	}
	code, _, ok = s.request("agent-b", "s", "cve")
	require.True(t, ok)
	require.Equal(t, http.StatusForbidden, code, "the session stays agent-a's after the crash")
	s.stop()
	s.requireNoSecret()
	requireAudited(t, dir, be, answered) // and the restarted broker went on with the chain
}

// auditYAML turns the audit trail on, in backend be: fsync'd before each
// answer in synchronous mode; in async mode left to the OS, which a killed
// process cannot lose, except with pebble, whose SyncNone writes from a
// background goroutine (docs/crash-safety.md).
func auditYAML(mode, be string) string {
	sync := "always"
	if mode == broker.ModeAsync && be != "pebble" {
		sync = "none"
	}
	return fmt.Sprintf("audit: {enabled: true, path: ./state/audit, backend: %s, sync: %s}\n", be, sync)
}

// requireAudited proves the audit trail under dir unbroken and holding an
// event for every request id in answered.
func requireAudited(t *testing.T, dir, be string, answered []string) {
	t.Helper()
	cfg := backend.Config{Backend: be, Dir: filepath.Join(dir, "state", "audit")}
	rep, err := audit.Verify(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Nil(t, rep.Break, "the chain is unbroken")
	var out strings.Builder
	require.NoError(t, audit.Tail(context.Background(), cfg, 0, &out))
	logged := map[string]bool{}
	for line := range strings.Lines(out.String()) {
		e, err := audit.Decode([]byte(strings.TrimSuffix(line, "\n")))
		require.NoError(t, err)
		logged[e.RequestID] = true
	}
	for _, id := range answered {
		require.True(t, logged[id], "answered request %s is in the audit trail", id)
	}
}

// TestKillDuringConcurrentStream kills the async broker at a random moment
// under concurrent load: every request that got a 200 is in its session
// after restart, and nothing that was never requested is.
func TestKillDuringConcurrentStream(t *testing.T) {
	for _, be := range durableBackends() {
		t.Run(be, func(t *testing.T) { runKillStream(t, be) })
	}
}

func runKillStream(t *testing.T, be string) {
	const types, clients = 32, 8
	dir := t.TempDir()
	sources := "sources:\n"
	for i := range types {
		sources += fmt.Sprintf("  - {id: src%02d, type: static, classification: unclassified, data_types: [t%02d]}\n", i, i)
	}
	config := writeConfig(t, dir, sources+authYAML+persistenceYAML(broker.ModeAsync, true, be)+auditYAML(broker.ModeAsync, be))
	s := startServer(t, config, nil)

	killAt := 40 + rand.IntN(120) // answered requests before the kill
	var (
		mu       sync.Mutex
		answered = map[string][]string{} // session -> types answered
		ids      []string                // request ids answered
		asked    = map[string][]string{} // session -> types requested
		count    int
		wg       sync.WaitGroup
		killed   = make(chan struct{})
		killOnce sync.Once
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session := fmt.Sprintf("k%d", c%4) // two clients per session
			for {
				select {
				case <-killed:
					return
				default:
				}
				typ := fmt.Sprintf("t%02d", rand.IntN(types))
				mu.Lock()
				asked[session] = append(asked[session], typ)
				mu.Unlock()
				code, body, ok := s.request("agent-a", session, "need "+typ)
				if !ok {
					return // the kill came first
				}
				if code != http.StatusOK {
					t.Errorf("status %d: %v", code, body)
					return
				}
				mu.Lock()
				answered[session] = append(answered[session], typ)
				ids = append(ids, body["request_id"].(string))
				count++
				if count == killAt {
					killOnce.Do(func() {
						s.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("every client stopped before %d answers\n%s", killAt, s.output())
	}
	s.wait()
	require.True(t, s.killedBySIGKILL(), "%v\n%s", s.err, s.output())
	requireAudited(t, dir, be, ids)

	s = startServer(t, config, nil)
	for session, typs := range answered {
		st := s.sessionState(session)
		require.NotNil(t, st, "session %s", session)
		seen := strs(st["data_types_seen"])
		for _, typ := range typs {
			require.Contains(t, seen, typ, "answered request for %s in %s is intact", typ, session)
		}
		for _, typ := range seen {
			require.True(t, slices.Contains(asked[session], typ), "%s in %s was never requested", typ, session)
		}
	}
	t.Logf("%s: killed after %d answered requests; all intact", be, count)
	s.stop()
	s.requireNoSecret()
}
