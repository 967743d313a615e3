package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/nautilus-go/nautilus/broker/store/postgres"
	"github.com/nautilus-go/nautilus/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// fivePII is piiRegistry plus a fifth PII source: more than the limit of
// three, so a session can try to pass it.
func fivePII() []Source {
	return append(piiRegistry(), Source{ID: "medical", Type: "static", Classification: "cui",
		DataTypes: []string{"pii", "medical_record"}})
}

// sharedStores opens, per case, one store that several brokers share.
func sharedStores(t *testing.T) map[string]func(t *testing.T, brokerID string) store.Store {
	return map[string]func(t *testing.T, brokerID string) store.Store{
		"memory": func() func(*testing.T, string) store.Store {
			var once sync.Once
			var s *memory.Store
			return func(t *testing.T, _ string) store.Store {
				once.Do(func() { s = memory.New() })
				return s
			}
		}(),
		"postgres": func() func(*testing.T, string) store.Store {
			var dsn string
			return func(t *testing.T, brokerID string) store.Store {
				if dsn == "" {
					dsn = pgtest.DSN(t)
				}
				s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn, BrokerID: brokerID})
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return s
			}
		}(),
	}
}

// Requests for sessions spread at random over brokers sharing a store, on
// PostgreSQL and the shared memory store: the session is never answered
// data from more than three PII sources, and every answered source is in
// its exposure. Random timing may not catch a missing lock;
// TestSharedSessionLockSpansReadToWrite proves the lock deterministically.
func TestSharedStoreKeepsTheLimitAcrossBrokers(t *testing.T) {
	for name, open := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			var brokers []*Broker
			for i := range 3 {
				id := fmt.Sprintf("b%d", i)
				cfg := diskConfig(t.TempDir(), ModeSynchronous, true)
				cfg.Sources = fivePII()
				brokers = append(brokers, newBroker(t, cfg, &Options{Store: open(t, id), SharedStore: true}))
			}
			const clients, perClient, sessions = 8, 25, 4
			var mu sync.Mutex
			answered := map[string]map[string]bool{}
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(c), 1))
					for range perClient {
						session := fmt.Sprintf("s%d", rng.IntN(sessions))
						src := fivePII()[rng.IntN(5)]
						resp, err := brokers[rng.IntN(len(brokers))].Handle(context.Background(), Request{
							AgentID: "a", Intent: src.DataTypes[1], Context: RequestContext{SessionID: session}})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						if answered[session] == nil {
							answered[session] = map[string]bool{}
						}
						for _, id := range resp.SourcesQueried {
							answered[session][id] = true
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			for session, srcs := range answered {
				require.LessOrEqual(t, len(srcs), 3, "session %s answered from %v", session, srcs)
				st := stateOfSession(t, brokers[0], session)
				for src := range srcs {
					require.Contains(t, st.SourcesVisited, src, "session %s", session)
				}
				require.Len(t, st.PIISourcesAccessedList, len(srcs), "session %s: exposure is what was answered", session)
			}
		})
	}
}

// A broker restarting on WAL records its store never got (it died between
// the WAL append and the store write) merges them into sessions that other
// brokers have served meanwhile, losing neither side.
func TestReplayMergesIntoASharedStore(t *testing.T) {
	for name, open := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dirA := t.TempDir()
			cfgA := diskConfig(dirA, ModeSynchronous, true)
			cfgA.Sources = fivePII()
			cfgB := diskConfig(t.TempDir(), ModeSynchronous, true)
			cfgB.Sources = fivePII()
			storeA := open(t, "a")
			a := newBroker(t, cfgA, &Options{Store: storeA, SharedStore: true})
			b := newBroker(t, cfgB, &Options{Store: open(t, "b"), SharedStore: true})

			ask(t, a, "s", "x", "crm_record")
			ask(t, a, "s", "x", "payroll_record")
			// a dies with its records in its WAL only: its WAL is kept,
			// its checkpoint wound back so both replay.
			require.NoError(t, a.wal.Close())
			require.NoError(t, storeA.SetCheckpoint(ctx, 0))
			ask(t, b, "s", "y", "badge_record")
			before := stateOfSession(t, b, "s")

			a = newBroker(t, cfgA, &Options{Store: open(t, "a"), SharedStore: true})
			got := stateOfSession(t, a, "s")
			require.Equal(t, []string{"badge", "crm", "payroll"}, got.PIISourcesAccessedList)
			require.Equal(t, []string{"x", "y"}, got.AgentsSeen)
			require.Equal(t, before.LastRequestID, got.LastRequestID, "b's request is still the last")
			require.Contains(t, got.ExposureFlags, flagCrossAgent)
			require.Equal(t, got, stateOfSession(t, b, "s"), "both brokers read one state")
			// The limit holds across them: a fourth PII source is denied.
			resp := ask(t, b, "s", "y", "hr_record")
			require.Empty(t, resp.SourcesQueried)
		})
	}
}

// With a shared store, async mode is refused: it answers before the store
// write, so another broker would not see the request.
func TestSharedStoreRefusesAsync(t *testing.T) {
	cfg := diskConfig(t.TempDir(), ModeAsync, true)
	_, err := New(context.Background(), cfg, &Options{Store: memory.New(), SharedStore: true})
	require.ErrorContains(t, err, "persistence.mode")
}

// gatedWAL holds the first Append after arm until release is closed.
type gatedWAL struct {
	backend.WAL
	armed    atomic.Bool
	inAppend chan struct{}
	release  chan struct{}
}

func (w *gatedWAL) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	if w.armed.CompareAndSwap(true, false) {
		close(w.inAppend)
		<-w.release
	}
	return w.WAL.Append(ctx, data...)
}

// lockWatcher tells when a broker asks the shared store for a session lock.
type lockWatcher struct {
	*memory.Store
	asked chan struct{}
}

func (l lockWatcher) LockSession(ctx context.Context, id string) (func(), error) {
	select {
	case l.asked <- struct{}{}:
	default:
	}
	return l.Store.LockSession(ctx, id)
}

// The session lock spans read to store write across brokers: while broker
// a's request waits between its read and its write (in its WAL append),
// broker b's request for the same session waits for it, then reads what a
// wrote. Without the lock b would read the state before a's request and
// one of the two updates would be lost.
func TestSharedSessionLockSpansReadToWrite(t *testing.T) {
	shared := memory.New()
	gate := &gatedWAL{inAppend: make(chan struct{}), release: make(chan struct{})}
	cfgA := diskConfig(t.TempDir(), ModeSynchronous, true)
	cfgA.Sources = fivePII()
	a := newBroker(t, cfgA, &Options{Store: shared, SharedStore: true,
		WrapWAL: func(w backend.WAL) backend.WAL { gate.WAL = w; return gate }})
	cfgB := diskConfig(t.TempDir(), ModeSynchronous, true)
	cfgB.Sources = fivePII()
	watcher := lockWatcher{Store: shared, asked: make(chan struct{}, 1)}
	b := newBroker(t, cfgB, &Options{Store: watcher, SharedStore: true})

	gate.armed.Store(true)
	handle := func(br *Broker, agent, intent string, done chan<- Response) {
		resp, err := br.Handle(context.Background(), Request{AgentID: agent, Intent: intent,
			Context: RequestContext{SessionID: "s", Clearance: "secret"}})
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}
	aDone, bDone := make(chan Response, 1), make(chan Response, 1)
	go handle(a, "x", "crm_record", aDone)
	<-gate.inAppend // a has read the session and holds its lock
	go handle(b, "y", "payroll_record", bDone)
	select {
	case <-watcher.asked: // b waits for a's lock
	case <-bDone:
		close(gate.release)
		t.Fatal("b's request finished while a held the session between its read and its write")
	}
	close(gate.release)
	<-aDone
	resp := <-bDone
	require.Equal(t, []string{"crm", "payroll"}, resp.Exposure.PIISourcesAccessedList, "b read what a wrote")
	require.Equal(t, []string{"crm", "payroll"}, stateOfSession(t, a, "s").PIISourcesAccessedList)
}
