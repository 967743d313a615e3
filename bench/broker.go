package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nautilus-go/nautilus/broker"
)

// Broker modes: where the broker's WAL and store writes sit on a request's path.
const (
	// BrokerSync is the broker's default: synchronous store writes, no WAL.
	BrokerSync = "sync"
	// BrokerSyncWAL writes the WAL record, then the store, then answers.
	BrokerSyncWAL = "sync+wal"
	// BrokerAsyncWAL answers once the WAL record is durable; a background
	// writer updates the store.
	BrokerAsyncWAL = "async+wal"
	// NoWAL is the backend column of BrokerSync rows.
	NoWAL = "no-wal"
)

// brokerSessions is how many sessions each client cycles through.
const brokerSessions = 4

// brokerIntents are the intents each client cycles through, over the
// sources of brokerSources: each routes one source and grows the session's
// exposure until it holds every type.
var brokerIntents = []string{"employee pii", "cve vulnerability", "budget financial", "employee records"}

// brokerSources is BROKER.md's registry A.
func brokerSources() []broker.Source {
	return []broker.Source{
		{ID: "hr", Type: "static", Classification: "cui", DataTypes: []string{"pii", "employee"}},
		{ID: "fin", Type: "static", Classification: "cui", DataTypes: []string{"financial", "budget"}},
		{ID: "nvd", Type: "static", Classification: "unclassified", DataTypes: []string{"cve", "vulnerability"}},
	}
}

// brokerRows plans the broker workload: per clients count, the default
// (no WAL) once, then each registered backend synchronous and async.
func brokerRows(o Options, subjects []subject, run int) []row {
	var rows []row
	for i, mode := range o.Sync {
		for _, c := range o.Clients {
			r := row{workload: WorkloadBroker, sync: mode, size: 0, batch: 1, concurrency: c, ops: o.Ops, run: run}
			if i == 0 { // the no-WAL row does not depend on the WAL's sync mode
				noWAL := r
				noWAL.subject, noWAL.mode = subject{name: NoWAL}, BrokerSync
				rows = append(rows, noWAL)
			}
			for _, s := range subjects {
				if s.baseline {
					continue
				}
				for _, m := range []string{BrokerSyncWAL, BrokerAsyncWAL} {
					withWAL := r
					withWAL.subject, withWAL.mode = s, m
					rows = append(rows, withWAL)
				}
			}
		}
	}
	return rows
}

// runBroker drives an in-process broker with a SQLite session store from
// r.concurrency clients, r.ops requests in all, recording each Handle's
// latency. In async mode the window ends with the last answer; the time the
// writer then needs to store the backlog is reported as Drain.
func runBroker(ctx context.Context, r row, dir string) (Result, error) {
	res := r.result()
	res.Size = 0
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	cfg := broker.Config{
		Sources:      brokerSources(),
		SessionStore: broker.SessionStoreConfig{Backend: broker.StoreSQLite, SQLitePath: filepath.Join(dir, "sessions.db")},
		Persistence: broker.PersistenceConfig{
			Mode:       broker.ModeSynchronous,
			WALEnabled: r.mode != BrokerSync,
			WALPath:    filepath.Join(dir, "wal"),
			WALBackend: r.subject.name,
			WALSync:    r.sync.String(),
		},
	}
	if r.mode == BrokerAsyncWAL {
		cfg.Persistence.Mode = broker.ModeAsync
	}
	if r.mode == BrokerSync {
		cfg.Persistence.WALBackend = ""
	}
	count := &commitCounter{}
	b, err := broker.New(ctx, cfg, &broker.Options{WALObserver: count})
	if err != nil {
		return res, fmt.Errorf("start broker: %w", err)
	}
	res, err = driveBroker(ctx, b, r, count)
	if cerr := b.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close broker: %w", cerr)
	}
	return res, err
}

// brokerRequest is client c's i-th request.
func brokerRequest(c, i int) broker.Request {
	return broker.Request{
		AgentID: fmt.Sprintf("agent-%d", c),
		Intent:  brokerIntents[i%len(brokerIntents)],
		Context: broker.RequestContext{
			SessionID: fmt.Sprintf("client-%d-session-%d", c, i%brokerSessions),
			Clearance: "secret",
		},
	}
}

func driveBroker(ctx context.Context, b *broker.Broker, r row, count *commitCounter) (Result, error) {
	res := r.result()
	res.Size = 0
	// Requests are built before the window, so it measures Handle alone.
	// Each client first touches its sessions once, unmeasured, so that
	// loading a session from the store is not counted.
	reqs := make([][]broker.Request, r.concurrency)
	for c := range reqs {
		n := r.ops / r.concurrency
		if c < r.ops%r.concurrency {
			n++
		}
		for i := 0; i < brokerSessions; i++ {
			if _, err := b.Handle(ctx, brokerRequest(c, i)); err != nil {
				return res, fmt.Errorf("warm-up request: %w", err)
			}
		}
		reqs[c] = make([]broker.Request, n)
		for i := range reqs[c] {
			reqs[c][i] = brokerRequest(c, brokerSessions+i)
		}
	}
	if err := b.Flush(ctx); err != nil {
		return res, fmt.Errorf("flush after warm-up: %w", err)
	}

	samples := make([]int64, r.ops)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		start    = make(chan struct{})
	)
	off := 0
	for c := range reqs {
		mine, todo := samples[off:off+len(reqs[c])], reqs[c]
		off += len(todo)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j, req := range todo {
				t := time.Now()
				if _, err := b.Handle(ctx, req); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				mine[j] = int64(time.Since(t))
			}
		}()
	}
	w := startWindow(walSyncs{count, r})
	close(start)
	wg.Wait()
	w.stop(&res)
	if firstErr != nil {
		return res, fmt.Errorf("request: %w", firstErr)
	}
	t := time.Now()
	if err := b.Flush(ctx); err != nil {
		return res, fmt.Errorf("flush: %w", err)
	}
	if r.mode == BrokerAsyncWAL {
		res.Drain = time.Since(t)
	}
	res.Ops = int64(r.ops)
	res.Records = res.Ops
	res.Latency = Summarize(samples)
	return res, nil
}

// walSyncs counts the broker WAL's fsyncs for a window: one per WAL commit
// when the WAL fsyncs; the SQLite store's own fsyncs are not counted.
type walSyncs struct {
	count *commitCounter
	r     row
}

func (s walSyncs) syncs() int64 {
	if s.r.mode == BrokerSync || !commitsSync(s.r.subject.name, s.r.sync) {
		return 0
	}
	return s.count.commits.Load() + s.count.synced.Load()
}
