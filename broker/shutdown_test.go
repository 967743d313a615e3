package broker

import (
	"context"
	"errors"
	"fmt"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
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

// flakyStore holds the first Save until gate is closed and fails every
// later one while failing is set.
type flakyStore struct {
	store.Store
	gate    chan struct{}
	calls   atomic.Int64
	first   atomic.Int64 // states in the first Save
	failing atomic.Bool
}

func (f *flakyStore) Save(ctx context.Context, states []store.Entry, cp uint64) error {
	if f.calls.Add(1) == 1 {
		f.first.Store(int64(len(states)))
		<-f.gate
	} else if f.failing.Load() {
		return errors.New("disk full")
	}
	return f.Store.Save(ctx, states, cp)
}

// Requests queued while a store transaction runs share the next one; when
// it fails, every one of them gets the error, their records stay in the
// WAL behind the checkpoint, and the next start replays them all.
func TestGroupCommitFailureAnswersEveryRequest(t *testing.T) {
	inner := memory.New()
	flaky := &flakyStore{Store: inner, gate: make(chan struct{})}
	cfg := memoryConfig(registryA())
	cfg.Persistence = PersistenceConfig{Mode: ModeSynchronous, WALEnabled: true, WALBackend: "jsonl", WALPath: t.TempDir()}
	b, err := New(context.Background(), cfg, &Options{Store: flaky})
	require.NoError(t, err)

	const queued = 5
	errs := make(chan error, queued+1)
	send := func(session string) {
		_, err := b.Handle(context.Background(), Request{AgentID: "a", Intent: "cve",
			Context: RequestContext{SessionID: session, Clearance: "secret"}})
		errs <- err
	}
	go send("first") // its transaction waits at the gate
	require.Eventually(t, func() bool { return flaky.calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	for i := range queued {
		go send(fmt.Sprintf("queued-%d", i))
	}
	require.Eventually(t, func() bool { return len(b.committer.in) == queued }, 10*time.Second, time.Millisecond,
		"the requests queue behind the running transaction")
	require.Empty(t, errs, "no request is answered before its transaction commits")
	flaky.failing.Store(true)
	close(flaky.gate)
	var failed int
	for range queued + 1 {
		if err := <-errs; err != nil {
			require.ErrorContains(t, err, "stored in the WAL but not in the session store: disk full")
			failed++
		}
	}
	require.Equal(t, queued, failed, "every request of the failed transaction got its error")
	require.Equal(t, int64(2), flaky.calls.Load(), "the queued requests shared one transaction")
	require.Equal(t, uint64(1), histogram(t, b.metrics.storeBatch).GetSampleCount(), "the failed transaction is not counted")
	require.NoError(t, b.Close())

	reg := prometheus.NewRegistry()
	b = newBroker(t, cfg, &Options{Store: inner, Registerer: reg})
	require.Equal(t, float64(queued), testutil.ToFloat64(b.metrics.replayed), "the WAL kept the failed requests")
	for i := range queued {
		require.Equal(t, []string{"cve"}, stateOfSession(t, b, fmt.Sprintf("queued-%d", i)).DataTypesSeen)
	}
}

// Concurrent synchronous requests share store transactions: the batch
// histogram counts every request once, in fewer transactions than requests.
func TestGroupCommitBatchesConcurrentRequests(t *testing.T) {
	flaky := &flakyStore{Store: memory.New(), gate: make(chan struct{})}
	b := newBroker(t, memoryConfig(registryA()), &Options{Store: flaky})
	var opened sync.Once
	open := func() { opened.Do(func() { close(flaky.gate) }) }
	t.Cleanup(open) // before Close, should the test stop early
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ask(t, b, fmt.Sprintf("s%d", i), "a", "cve")
		}()
	}
	require.Eventually(t, func() bool {
		return flaky.calls.Load() == 1 && len(b.committer.in) == n-int(flaky.first.Load())
	}, 10*time.Second, time.Millisecond, "the others queue behind the first transaction")
	open()
	wg.Wait()
	h := histogram(t, b.metrics.storeBatch)
	require.Equal(t, float64(n), h.GetSampleSum(), "every request stored once")
	want := uint64(2) // the first transaction, then one for all that queued behind it
	if flaky.first.Load() == n {
		want = 1 // the first transaction took every request (a slow machine let them all arrive first)
	}
	require.Equal(t, want, h.GetSampleCount(), "%d requests in the first transaction", flaky.first.Load())
}

func histogram(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	require.NoError(t, h.Write(&m))
	return m.GetHistogram()
}
