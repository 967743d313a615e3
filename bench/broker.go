package bench

import (
	"context"
	"errors"
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
	// BrokerSyncWALAudit is BrokerSyncWAL with the audit trail on, in the
	// same backend and sync mode: one chained event appended per request
	// before its answer. Beside BrokerSyncWAL it shows what the trail costs.
	BrokerSyncWALAudit = "sync+wal+audit"
	// BrokerAsync hands the store write to the background writer and
	// answers, with no WAL: a crash loses answered requests. broker-http
	// only, beside BrokerAsyncWAL.
	BrokerAsync = "async"
	// NoWAL is the backend column of BrokerSync and BrokerAsync rows.
	NoWAL = "no-wal"
)

// brokerSessions is how many sessions each client cycles through.
const brokerSessions = 4

// brokerIntents are the intents each client cycles through, over the
// sources of brokerSources: each routes one source and grows the session's
// exposure until it holds every type.
var brokerIntents = [...]string{"employee pii", "cve vulnerability", "budget financial", "employee records"}

// brokerSources is registry A of docs/broker.md.
func brokerSources() []broker.Source {
	return []broker.Source{
		{ID: "hr", Type: "static", Classification: "cui", DataTypes: []string{"pii", "employee"}},
		{ID: "fin", Type: "static", Classification: "cui", DataTypes: []string{"financial", "budget"}},
		{ID: "nvd", Type: "static", Classification: "unclassified", DataTypes: []string{"cve", "vulnerability"}},
	}
}

// brokerRows plans the broker workload: per session store and clients
// count, the default (no WAL) once, then each registered backend
// synchronous, synchronous with the audit trail, and async (which a shared
// store, postgres, refuses).
func brokerRows(o Options, subjects []subject, run int) []row {
	var rows []row
	for _, st := range o.Stores {
		for i, mode := range o.Sync {
			for _, c := range o.Clients {
				r := row{workload: WorkloadBroker, sync: mode, size: 0, batch: 1, concurrency: c, ops: rowOps(o.Ops, c, o.Rounds), run: run,
					store: st, pgDSN: o.PGDSN}
				if i == 0 { // the no-WAL row does not depend on the WAL's sync mode
					noWAL := r
					noWAL.subject, noWAL.mode = subject{name: NoWAL}, BrokerSync
					rows = append(rows, noWAL)
				}
				rows = append(rows, walRows(r, subjects, storeModes(st, BrokerSyncWAL, BrokerSyncWALAudit, BrokerAsyncWAL))...)
			}
		}
	}
	return rows
}

// walRows returns r with each subject the broker can use as its WAL, in
// each of modes.
func walRows(r row, subjects []subject, modes []string) []row {
	var rows []row
	for _, s := range subjects {
		// The broker reads keys from files, not from walbench, and its
		// configuration names no cluster walbench starts.
		if s.baseline || s.encrypted || s.cluster {
			continue
		}
		for _, m := range modes {
			withWAL := r
			withWAL.subject, withWAL.mode = s, m
			rows = append(rows, withWAL)
		}
	}
	return rows
}

// storeModes returns the modes the store allows: a postgres store is
// shared, and a shared store refuses async persistence.
func storeModes(store string, modes ...string) []string {
	if store != StorePostgres {
		return modes
	}
	var out []string
	for _, m := range modes {
		if m != BrokerAsyncWAL && m != BrokerAsync {
			out = append(out, m)
		}
	}
	return out
}

// brokerRequestKinds is how many distinct requests a client cycles
// through: every intent on every one of its sessions.
const brokerRequestKinds = brokerSessions * len(brokerIntents)

// newBrokerTrial starts an in-process broker with the session store r.store
// selects (SQLite in dir, or a postgres schema of the row's own), driven by r.concurrency clients, each cycling through its sessions and
// the intents. Each client first touches its sessions once, unmeasured, so
// that loading a session from the store is not counted. In async mode a
// round's window ends with its last answer; the time the background writer
// then needs to store the backlog (Broker.Flush) is added to Drain, outside
// the window.
func newBrokerTrial(ctx context.Context, r row, dir string) (*trial, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	count := &commitCounter{}
	opts, closeStore, err := rowStoreOptions(ctx, r)
	if err != nil {
		return nil, err
	}
	opts.WALObserver = count
	b, err := broker.New(ctx, brokerConfig(r, dir), &opts)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start broker: %w", err), closeStore())
	}
	t := newTrial(r)
	t.res.Size = 0
	t.syncs = walSyncs{count, r}
	t.close = sync.OnceValue(func() error { return errors.Join(b.Close(), closeStore()) })
	reqs := make([][]broker.Request, r.concurrency)
	for c := range reqs {
		reqs[c] = make([]broker.Request, brokerRequestKinds)
		for k := range reqs[c] {
			reqs[c][k] = brokerRequest(c, k, brokerSessions)
		}
		for k := 0; k < brokerSessions; k++ {
			if _, err := b.Handle(ctx, reqs[c][k]); err != nil {
				t.close()
				return nil, fmt.Errorf("warm-up request: %w", err)
			}
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.close()
		return nil, fmt.Errorf("flush after warm-up: %w", err)
	}
	if r.mode == BrokerAsyncWAL {
		t.between = func(ctx context.Context) error {
			start := time.Now()
			if err := b.Flush(ctx); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			t.res.Drain += time.Since(start)
			return nil
		}
	}
	t.op = func(ctx context.Context, client, seq int) error {
		_, err := b.Handle(ctx, reqs[client][seq%brokerRequestKinds])
		return err
	}
	return t, nil
}

// brokerConfig is the configuration of a broker row's broker, its files in
// dir: the store r.store selects (the postgres one's DSN in EnvPGDSN, as a
// deployment keeps it), and the WAL and audit trail that r.mode selects.
func brokerConfig(r row, dir string) broker.Config {
	cfg := broker.Config{
		Sources:      brokerSources(),
		SessionStore: broker.SessionStoreConfig{Backend: broker.StoreSQLite, SQLitePath: filepath.Join(dir, "sessions.db")},
		Persistence:  broker.PersistenceConfig{Mode: broker.ModeSynchronous},
	}
	if r.store == StorePostgres {
		cfg.SessionStore = broker.SessionStoreConfig{Backend: broker.StorePostgres, BrokerID: pgBrokerID, DSNEnv: EnvPGDSN}
	}
	if r.mode != BrokerSync && r.mode != BrokerAsync {
		cfg.Persistence.WALEnabled = true
		cfg.Persistence.WALPath = filepath.Join(dir, "wal")
		cfg.Persistence.WALBackend = r.subject.name
		cfg.Persistence.WALSync = r.sync.String()
	}
	if r.mode == BrokerAsyncWAL || r.mode == BrokerAsync {
		cfg.Persistence.Mode = broker.ModeAsync
	}
	if r.mode == BrokerSyncWALAudit {
		cfg.Audit = broker.AuditConfig{Enabled: true, Path: filepath.Join(dir, "audit"),
			Backend: r.subject.name, Sync: r.sync.String()}
	}
	return cfg
}

// brokerRequest is client c's request of kind k when the client has
// sessions sessions of its own: session k mod sessions, the intents in turn.
func brokerRequest(c, k, sessions int) broker.Request {
	return broker.Request{
		AgentID: fmt.Sprintf("agent-%d", c),
		Intent:  brokerIntents[(k/sessions)%len(brokerIntents)],
		Context: broker.RequestContext{
			SessionID: fmt.Sprintf("client-%d-session-%d", c, k%sessions),
			Clearance: "secret",
		},
	}
}

// walSyncs counts the broker WAL's fsyncs for a window: one per WAL commit
// when the WAL fsyncs; the SQLite store's own fsyncs are not counted.
type walSyncs struct {
	count *commitCounter
	r     row
}

func (s walSyncs) syncs() int64 {
	if s.r.mode == BrokerSync || s.r.mode == BrokerAsync || !commitsSync(s.r.subject.name, s.r.sync) {
		return 0
	}
	return s.count.commits.Load() + s.count.synced.Load()
}
