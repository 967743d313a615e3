package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/broker/identity"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/nautilus-go/nautilus/broker/store/postgres"
	"github.com/nautilus-go/nautilus/broker/store/sqlite"
)

// Request is one agent's request for data.
type Request struct {
	AgentID string         `json:"agent_id"`
	Intent  string         `json:"intent"`
	Context RequestContext `json:"context"`
}

// RequestContext carries the session and the agent's credentials.
type RequestContext struct {
	SessionID string `json:"session_id"` // empty: no session tracking, or a new one with tokens on
	// SessionToken, from an earlier answer, names the session instead of
	// SessionID and binds it to the agent.
	SessionToken string `json:"session_token,omitempty"`
	Clearance    string `json:"clearance"`
	Purpose      string `json:"purpose"`
	// PurposeTTLSeconds, when > 0 on a session's first such request, starts
	// the session's purpose clock: once it runs out every source is denied.
	PurposeTTLSeconds float64 `json:"purpose_ttl_seconds,omitempty"`
}

// Response is the broker's answer.
type Response struct {
	RequestID      string                      `json:"request_id"`
	Data           map[string][]map[string]any `json:"data"`
	SourcesQueried []string                    `json:"sources_queried"`
	SourcesDenied  []string                    `json:"sources_denied"`
	SourcesSkipped []string                    `json:"sources_skipped"`
	Denials        []Denial                    `json:"denials"`
	RuleTrace      []string                    `json:"rule_trace"`
	Exposure       State                       `json:"exposure"`
	// SessionID and SessionToken name the request's session when session
	// tokens are on: the token is what the next request presents.
	SessionID    string `json:"session_id,omitempty"`
	SessionToken string `json:"session_token,omitempty"`
}

// Denial says which rule denied a source, and why.
type Denial struct {
	SourceID string `json:"source_id"`
	Reason   string `json:"reason"`
	RuleName string `json:"rule_name"`
}

// RequestError is a request the broker refuses as malformed.
type RequestError struct {
	Field string
	Msg   string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return "broker: bad request: " + e.Msg
	}
	return fmt.Sprintf("broker: bad request: %s: %s", e.Field, e.Msg)
}

// ErrClosed is returned by Handle after Close.
var ErrClosed = errors.New("broker: closed")

// Broker routes requests to sources and records each session's exposure.
// Its methods are safe for concurrent use.
type Broker struct {
	cfg        Config
	opts       Options
	log        *slog.Logger
	sources    map[string]Source
	knownTypes []string
	store      sessionStore
	locker     store.Locker // non-nil when other brokers share the store
	wal        backend.WAL  // nil with the WAL off
	audit      *audit.Trail // nil with the audit trail off
	async      bool
	metrics    *metrics
	ids        *identities
	tokens     *identity.Tokens    // nil with session tokens off
	enc        *backend.Encryption // nil with persistence.encryption off

	sessMu   sync.Mutex
	sessions map[string]*session

	seq         atomic.Uint64 // last sequence number handed out with the WAL off
	checkpoints checkpoints
	persisted   atomic.Uint64 // highest checkpoint committed to the store
	truncate    chan struct{}
	writer      *writer    // async mode only
	committer   *committer // synchronous mode only

	lifeMu   sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
	stop     chan struct{}
	bg       sync.WaitGroup
}

// New opens the session store and the WAL that cfg selects, replays every
// WAL record the store does not yet reflect into the store, and returns a
// broker ready to serve. A configuration mistake is a *ConfigError; a damaged
// WAL is an error satisfying errors.Is(err, backend.ErrCorrupt), and then the
// store has not been written.
func New(ctx context.Context, cfg Config, opts *Options) (*Broker, error) {
	cfg = cfg.withDefaults()
	ids := cfg.ids
	if ids == nil {
		var err error
		if ids, err = cfg.validate(os.LookupEnv); err != nil {
			return nil, err
		}
	} else if _, err := cfg.validate(nil); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	b := &Broker{
		cfg:      cfg,
		opts:     o,
		log:      o.Logger,
		sources:  map[string]Source{},
		async:    cfg.Persistence.Mode == ModeAsync,
		sessions: map[string]*session{},
		truncate: make(chan struct{}, 1),
		stop:     make(chan struct{}),
		ids:      ids,
	}
	if cfg.SessionTokens.Enabled {
		t, err := identity.NewTokens(ids.tokens, time.Duration(cfg.SessionTokens.TTLSeconds)*time.Second, o.Now)
		if err != nil {
			return nil, &ConfigError{Key: "session_tokens", Err: err}
		}
		b.tokens = t
	}
	for _, s := range cfg.Sources {
		b.sources[s.ID] = s
		b.knownTypes = append(b.knownTypes, s.DataTypes...)
	}
	b.knownTypes = sortedSet(b.knownTypes)
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	b.metrics = m
	if b.enc, err = cfg.Persistence.Encryption.load(); err != nil {
		return nil, err
	}

	if err := b.openStore(ctx); err != nil {
		return nil, err
	}
	if cfg.Persistence.WALEnabled {
		if err := b.openWAL(ctx); err != nil {
			b.store.Close()
			return nil, err
		}
		if err := b.replay(ctx); err != nil {
			b.wal.Close()
			b.store.Close()
			return nil, err
		}
	} else if b.async {
		b.log.Warn("broker: async persistence with the WAL off loses answered requests on a crash",
			"mode", cfg.Persistence.Mode, "wal_enabled", false)
	}
	if cfg.Audit.Enabled {
		if err := b.openAudit(ctx); err != nil {
			if b.wal != nil {
				b.wal.Close()
			}
			b.store.Close()
			return nil, err
		}
	}
	if b.async {
		b.writer = newWriter(b)
		b.bg.Add(1)
		go b.writer.run()
	} else {
		b.committer = newCommitter(b)
		b.bg.Add(1)
		go b.committer.run()
	}
	b.bg.Add(2)
	go b.evictLoop()
	go b.truncateLoop()
	return b, nil
}

func (b *Broker) openStore(ctx context.Context) error {
	s, err := b.openStoreBackend(ctx)
	if err != nil {
		return err
	}
	b.store = sessionStore{s}
	if b.opts.SharedStore || b.opts.Store == nil && b.cfg.SessionStore.Backend == StorePostgres {
		l, ok := s.(store.Locker)
		if !ok {
			s.Close()
			return fmt.Errorf("broker: a shared session store must serialise sessions across brokers: %T is not a store.Locker", s)
		}
		if b.async {
			s.Close()
			return configErr("persistence.mode", "async answers before the store write, so another broker sharing the store would not see the request; use %s", ModeSynchronous)
		}
		b.locker = l
	}
	return nil
}

func (b *Broker) openStoreBackend(ctx context.Context) (store.Store, error) {
	if b.opts.Store != nil {
		return b.opts.Store, nil
	}
	cfg := b.cfg.SessionStore
	switch cfg.Backend {
	case StoreMemory:
		return memory.New(), nil
	case StorePostgres:
		dsn, err := cfg.dsn(os.LookupEnv)
		if err != nil {
			return nil, err
		}
		return postgres.Open(ctx, postgres.Config{DSN: dsn, BrokerID: cfg.BrokerID, Encryption: b.enc})
	default:
		if err := writableDir(filepath.Dir(cfg.SQLitePath)); err != nil {
			return nil, &ConfigError{Key: "session_store.sqlite_path", Err: err}
		}
		// Behind a WAL that fsyncs every record, the WAL is what makes a
		// request durable: the store's commits need only be durable before
		// the WAL is truncated behind them, which truncateWAL ensures with
		// Sync. Without it the store is the only durable copy.
		walSync, _ := backend.ParseSyncMode(b.cfg.Persistence.WALSync) // checked by Validate
		return sqlite.OpenWith(ctx, sqlite.Options{
			Path:       cfg.SQLitePath,
			Encryption: b.enc,
			DeferSync:  b.cfg.Persistence.WALEnabled && walSync == backend.SyncAlways,
		})
	}
}

func (b *Broker) openWAL(ctx context.Context) error {
	p := b.cfg.Persistence
	if err := writableDir(p.WALPath); err != nil {
		return &ConfigError{Key: "persistence.wal_path", Err: err}
	}
	sync, _ := backend.ParseSyncMode(p.WALSync) // checked by Validate
	w, err := backend.Open(ctx, backend.Config{
		Backend:    p.WALBackend,
		Dir:        p.WALPath,
		Sync:       sync,
		Params:     p.WALParams,
		Logger:     b.log,
		Observer:   b.opts.WALObserver,
		Encryption: b.enc,
	})
	if err != nil {
		var perr *backend.ParamError
		if errors.As(err, &perr) {
			return walParamsError(err)
		}
		return fmt.Errorf("broker: open WAL %s (%s): %w", p.WALPath, p.WALBackend, err)
	}
	if b.opts.WrapWAL != nil {
		w = b.opts.WrapWAL(w)
	}
	b.wal = w
	return nil
}

// writableDir creates dir if missing, private to the owner, and proves a file can be created in it.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, vfs.DirMode); err != nil {
		return fmt.Errorf("cannot create directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".nautilus-probe-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// enter admits a call unless the broker is closed.
func (b *Broker) enter() error {
	b.lifeMu.RLock()
	defer b.lifeMu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	b.inflight.Add(1)
	return nil
}

// Close stops admitting requests, waits for those in flight, lets the async
// writer store everything answered, truncates the WAL behind the store and
// closes the WAL and the store.
func (b *Broker) Close() error {
	b.lifeMu.Lock()
	if b.closed {
		b.lifeMu.Unlock()
		return nil
	}
	b.closed = true
	b.lifeMu.Unlock()
	b.inflight.Wait()
	if b.writer != nil {
		b.writer.close()
	} else {
		b.committer.close()
	}
	close(b.stop)
	b.bg.Wait()
	errs := []error{b.closeAudit()}
	if b.wal != nil {
		errs = append(errs, b.truncateWAL(context.Background()))
		errs = append(errs, b.wal.Close())
	}
	if b.opts.Store == nil {
		errs = append(errs, b.store.Close())
	}
	return errors.Join(errs...)
}

// Flush waits until every request answered so far is in the store. In
// synchronous mode that is already so.
func (b *Broker) Flush(ctx context.Context) error {
	if b.writer == nil {
		return nil
	}
	return b.writer.wait(ctx, b.lastSeq())
}

// Session returns a session's current state: from memory when the session is
// active, else from the store. ok is false for a session never seen.
func (b *Broker) Session(ctx context.Context, sessionID string) (State, bool, error) {
	if b.locker != nil {
		// Memory holds nothing between requests: the store is the truth.
		return b.store.Load(ctx, sessionID)
	}
	b.sessMu.Lock()
	s, ok := b.sessions[sessionID]
	if ok {
		s.refs++
	}
	b.sessMu.Unlock()
	if ok {
		s.mu.Lock()
		st, known := State{}, s.known
		if known {
			st = s.state.Clone()
		}
		b.release(s)
		if known {
			return st, true, nil
		}
	}
	return b.store.Load(ctx, sessionID)
}

func newRequestID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "req-" + hex.EncodeToString(b[:])
}

// timestamp formats t as records carry it.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
