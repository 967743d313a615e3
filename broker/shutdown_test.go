package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

// walBackends are the built-in WAL backends a broker runs on.
var walBackends = []string{"jsonl", "tidwall", "pebble", "bbolt"}

// A clean Close while clients are sending leaves the WAL empty, truncated
// through the store's checkpoint, every answered request in the store, and
// a next start that replays nothing: with every backend, in both modes.
func TestCloseUnderLoadLeavesEmptyWAL(t *testing.T) {
	for _, name := range walBackends {
		for _, mode := range []string{ModeSynchronous, ModeAsync} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				cfg := diskConfig(t.TempDir(), mode, true)
				cfg.Persistence.WALBackend = name
				b, err := New(context.Background(), cfg, nil)
				require.NoError(t, err)

				const clients = 8
				var (
					answered atomic.Int64
					loaded   = make(chan struct{})
					once     sync.Once
					wg       sync.WaitGroup
					last     [clients]map[string]State // each client's sessions' last answered exposure
					failed   [clients]error
				)
				for c := range clients {
					last[c] = map[string]State{}
					wg.Add(1)
					go func() {
						defer wg.Done()
						intents := []string{"cve", "employee pii", "budget financial"}
						for i := range 100_000 { // bounded; Close ends it long before
							session := fmt.Sprintf("c%d-s%d", c, i%3)
							resp, err := b.Handle(context.Background(), Request{AgentID: "a", Intent: intents[i%len(intents)],
								Context: RequestContext{SessionID: session, Clearance: "secret"}})
							if errors.Is(err, ErrClosed) {
								return
							}
							if err != nil {
								failed[c] = err
								return
							}
							last[c][session] = resp.Exposure
							if answered.Add(1) == 20*clients {
								once.Do(func() { close(loaded) })
							}
						}
					}()
				}
				<-loaded // Close while every client still has requests in flight
				require.NoError(t, b.Close())
				wg.Wait()
				for _, err := range failed {
					require.NoError(t, err)
				}

				w, err := backend.Open(context.Background(), backend.Config{Backend: name, Dir: cfg.Persistence.WALPath})
				require.NoError(t, err)
				first, lastIdx, err := w.Bounds(context.Background())
				require.NoError(t, w.Close())
				require.NoError(t, err)
				require.Equal(t, lastIdx+1, first, "the WAL is empty after a clean Close")
				require.GreaterOrEqual(t, lastIdx, uint64(answered.Load()), "every answered request went through the WAL")

				b = newBroker(t, cfg, nil)
				require.Zero(t, testutil.ToFloat64(b.metrics.replayed), "the next start replays nothing")
				cp, err := b.store.Checkpoint(context.Background())
				require.NoError(t, err)
				require.Equal(t, lastIdx, cp, "the store's checkpoint covers the whole WAL")
				for c := range clients {
					for session, want := range last[c] {
						require.Equal(t, want, stateOfSession(t, b, session), "session %s as last answered", session)
					}
				}
			})
		}
	}
}
