package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker"
	"github.com/stretchr/testify/require"
)

// TestSIGTERMUnderLoadLeavesEmptyWAL stops `serve` with SIGTERM while
// clients are sending: it exits cleanly, its WAL is empty (truncated through
// the store's checkpoint), the next start replays nothing, and every
// answered request is in its session. Every backend, both modes.
func TestSIGTERMUnderLoadLeavesEmptyWAL(t *testing.T) {
	for _, be := range durableBackends() {
		for _, mode := range []string{broker.ModeSynchronous, broker.ModeAsync} {
			t.Run(be+"/"+mode, func(t *testing.T) { runSIGTERMUnderLoad(t, be, mode) })
		}
	}
}

func runSIGTERMUnderLoad(t *testing.T, be, mode string) {
	const types, clients, stopAt = 16, 8, 60
	dir := t.TempDir()
	sources := "sources:\n"
	for i := range types {
		sources += fmt.Sprintf("  - {id: src%02d, type: static, classification: unclassified, data_types: [t%02d]}\n", i, i)
	}
	config := writeConfig(t, dir, sources+authYAML+persistenceYAML(mode, true, be))
	s := startServer(t, config, nil)

	var (
		mu       sync.Mutex
		answered = map[string][]string{} // session -> types answered
		count    int
		wg       sync.WaitGroup
		stopped  = make(chan struct{})
		stopOnce sync.Once
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session := fmt.Sprintf("t%d", c)
			for i := 0; i < 10_000; i++ { // bounded; SIGTERM ends it long before
				typ := fmt.Sprintf("t%02d", (c+i)%types)
				code, _, ok := s.request("agent-a", session, "need "+typ)
				if !ok || code != http.StatusOK {
					select {
					case <-stopped:
						return // the server is shutting down
					default:
						t.Errorf("status %d before SIGTERM", code)
						return
					}
				}
				mu.Lock()
				answered[session] = append(answered[session], typ)
				count++
				if count == stopAt {
					stopOnce.Do(func() {
						close(stopped)
						s.cmd.Process.Signal(syscall.SIGTERM)
					})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.wait()
	require.NoError(t, s.err, "serve exit after SIGTERM\n%s", s.output())

	w, err := backend.Open(context.Background(), backend.Config{Backend: be, Dir: filepath.Join(dir, "state", "wal")})
	require.NoError(t, err)
	first, last, err := w.Bounds(context.Background())
	require.NoError(t, w.Close())
	require.NoError(t, err)
	require.Equal(t, last+1, first, "the WAL is empty after SIGTERM (records %d..%d left)", first, last)

	s = startServer(t, config, nil)
	require.NotContains(t, s.output(), "replayed WAL", "the next start replays nothing")
	for session, typs := range answered {
		st := s.sessionState(session)
		require.NotNil(t, st, "session %s", session)
		require.Subset(t, strs(st["data_types_seen"]), typs, "every answered request of %s is stored", session)
	}
	t.Logf("%s/%s: SIGTERM after %d answered requests", be, mode, count)
	s.stop()
}
