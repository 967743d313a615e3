// Package postgres is a session store in a PostgreSQL database, which
// several brokers can share: each keeps its own WAL and its own checkpoint
// (filed under its broker id), and LockSession serialises a session across
// all of them.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
)

// Config opens a Store.
type Config struct {
	// DSN is the connection string, URL or keyword/value form, as libpq
	// takes it (pool_max_conns and the other pgxpool settings apply).
	DSN string
	// BrokerID names this broker's checkpoint; brokers sharing the
	// database must each have their own.
	BrokerID string
	// Encryption seals every state (nil: none), as store.Codec does.
	Encryption *backend.Encryption
}

// Store is a session store in PostgreSQL.
//
// Save is one transaction that writes the states and this broker's
// checkpoint; connections run with synchronous_commit on, so an
// acknowledged Save is in the server's fsync'd WAL whatever the server's
// default.
// States are BYTEA: JSON, or sealed with its session id as associated data
// and filed under a keyed hash of the id when encryption is on.
type Store struct {
	data     *pgxpool.Pool // Load, Save, checkpoints
	locks    *pgxpool.Pool // one connection per held session lock
	codec    store.Codec
	brokerID string
	where    string // for errors: host, database and broker id, never the password

	closing context.Context // done once Close starts: waiting LockSession calls give up
	stop    context.CancelFunc
	mu      sync.Mutex
	held    map[*heldLock]struct{}
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Locker = (*Store)(nil)
	_ store.Syncer = (*Store)(nil)
)

// schemaLock is the advisory lock key that serialises schema creation among
// brokers starting at once: concurrent CREATE TABLE IF NOT EXISTS of the
// same table can fail on the catalog's unique index.
const schemaLock int64 = 0x6e61757469_6c7573 // "nautilus"

const schema = `
CREATE TABLE IF NOT EXISTS nautilus_session_state (
	session_id TEXT PRIMARY KEY,
	state      BYTEA NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS nautilus_wal_checkpoint (
	broker_id  TEXT PRIMARY KEY,
	wal_index  BIGINT NOT NULL CHECK (wal_index >= 0),
	updated_at TIMESTAMPTZ NOT NULL
);`

// unlockTimeout bounds the unlock statement; past it the connection is
// closed instead, which releases the lock on the server just the same.
const unlockTimeout = 5 * time.Second

// Open connects, creates the tables when missing and, with encryption,
// checks the stored rows' keys and the key of the most recently saved
// state, so a missing or wrong key fails here with backend.ErrKey.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.BrokerID == "" {
		return nil, errors.New("postgres: session store: empty broker id")
	}
	codec, err := store.NewCodec(cfg.Encryption)
	if err != nil {
		return nil, fmt.Errorf("postgres: session store: %w", err)
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN) // its errors redact the password
	if err != nil {
		return nil, fmt.Errorf("postgres: session store: %w", err)
	}
	// An acknowledged Save must be in the server's fsync'd WAL, whatever
	// the server's or the role's default.
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	s := &Store{
		codec:    codec,
		brokerID: cfg.BrokerID,
		where:    fmt.Sprintf("host %s database %s broker %s", pc.ConnConfig.Host, pc.ConnConfig.Database, cfg.BrokerID),
		held:     map[*heldLock]struct{}{},
	}
	s.closing, s.stop = context.WithCancel(context.Background())
	if s.data, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, s.errorf("%w", err)
	}
	if s.locks, err = pgxpool.NewWithConfig(ctx, pc.Copy()); err != nil {
		s.data.Close()
		return nil, s.errorf("%w", err)
	}
	err = s.init(ctx)
	if err == nil && codec.Encrypted() {
		err = s.checkKey(ctx)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("postgres: session store (%s): "+format, append([]any{s.where}, args...)...)
}

func (s *Store) init(ctx context.Context) error {
	// Only create the tables when missing, so opening an existing store
	// writes nothing and needs no CREATE privilege.
	var n int
	err := s.data.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()
		AND tablename IN ('nautilus_session_state', 'nautilus_wal_checkpoint')`).Scan(&n)
	if err != nil {
		return s.errorf("%w", err)
	}
	if n == 2 {
		return nil
	}
	err = pgx.BeginFunc(ctx, s.data, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		return s.errorf("create tables: %w", err)
	}
	return nil
}

// checkKey checks the stored rows against the configured keys (see
// store.Codec.CheckStored).
func (s *Store) checkKey(ctx context.Context) error {
	rows, err := s.data.Query(ctx, `SELECT session_id FROM nautilus_session_state`)
	if err != nil {
		return s.errorf("%w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return s.errorf("%w", err)
	}
	var newest []byte
	err = s.data.QueryRow(ctx, `SELECT state FROM nautilus_session_state ORDER BY updated_at DESC LIMIT 1`).Scan(&newest)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s.errorf("%w", err)
	}
	if err := s.codec.CheckStored(keys, newest); err != nil {
		return s.errorf("%w", err)
	}
	return nil
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, sessionID string) ([]byte, bool, error) {
	keys := s.codec.RowKeys(sessionID)
	// Several keys only after a rotation: take the copy under the earliest.
	var data []byte
	err := s.data.QueryRow(ctx, `SELECT state FROM nautilus_session_state WHERE session_id = ANY($1)
		ORDER BY array_position($1, session_id) LIMIT 1`, keys).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.errorf("load %q: %w", sessionID, err)
	}
	state, err := s.codec.Open(sessionID, data)
	if err != nil {
		return nil, false, s.errorf("%w", err)
	}
	return state, true, nil
}

// Save implements store.Store: one transaction in one round trip.
func (s *Store) Save(ctx context.Context, states []store.Entry, checkpoint uint64) error {
	if checkpoint > 1<<63-1 {
		return s.errorf("save: checkpoint %d does not fit a BIGINT", checkpoint)
	}
	var batch pgx.Batch
	for _, e := range states {
		sealed, err := s.codec.Seal(e.SessionID, e.State)
		if err != nil {
			return err
		}
		keys := s.codec.RowKeys(e.SessionID)
		batch.Queue(`INSERT INTO nautilus_session_state (session_id, state, updated_at) VALUES ($1, $2, clock_timestamp())
			ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`, keys[0], sealed)
		if len(keys) > 1 {
			batch.Queue(`DELETE FROM nautilus_session_state WHERE session_id = ANY($1)`, keys[1:])
		}
	}
	if checkpoint > 0 {
		// GREATEST: concurrent synchronous requests commit out of order, and
		// a later commit must never lower what an earlier one recorded.
		batch.Queue(`INSERT INTO nautilus_wal_checkpoint (broker_id, wal_index, updated_at) VALUES ($1, $2, clock_timestamp())
			ON CONFLICT (broker_id) DO UPDATE SET wal_index = GREATEST(nautilus_wal_checkpoint.wal_index, excluded.wal_index),
			updated_at = excluded.updated_at`, s.brokerID, int64(checkpoint))
	}
	// A batch outside an explicit transaction runs as one implicit
	// transaction (a single Sync ends the pipeline): all of it or none.
	err := s.data.SendBatch(ctx, &batch).Close()
	if err != nil {
		return s.errorf("save %d states, checkpoint %d: %w", len(states), checkpoint, err)
	}
	return nil
}

// Checkpoint implements store.Store: this broker's checkpoint.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var idx int64
	err := s.data.QueryRow(ctx, `SELECT wal_index FROM nautilus_wal_checkpoint WHERE broker_id = $1`, s.brokerID).Scan(&idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.errorf("read checkpoint: %w", err)
	}
	return uint64(idx), nil // the CHECK constraint keeps it >= 0
}

// SetCheckpoint implements store.Store.
func (s *Store) SetCheckpoint(ctx context.Context, checkpoint uint64) error {
	if checkpoint > 1<<63-1 {
		return s.errorf("set checkpoint %d: does not fit a BIGINT", checkpoint)
	}
	_, err := s.data.Exec(ctx, `INSERT INTO nautilus_wal_checkpoint (broker_id, wal_index, updated_at) VALUES ($1, $2, clock_timestamp())
		ON CONFLICT (broker_id) DO UPDATE SET wal_index = excluded.wal_index, updated_at = excluded.updated_at`,
		s.brokerID, int64(checkpoint))
	if err != nil {
		return s.errorf("set checkpoint %d: %w", checkpoint, err)
	}
	return nil
}

// heldLock is a session lock and the connection that holds it.
type heldLock struct {
	conn *pgxpool.Conn
	key  int64
	once sync.Once
}

// lockKey maps a session id to the 64-bit advisory lock key. It is not
// keyed by the encryption keys, so brokers mid-rotation (different active
// keys) still agree on it; two ids sharing a key only wait for each other.
func lockKey(sessionID string) int64 {
	sum := sha256.Sum256([]byte("nautilus session lock\x00" + sessionID))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// LockSession implements store.Locker with a session-level advisory lock
// held on a connection of its own until unlock. Should the broker crash,
// the server drops the connection and with it the lock.
func (s *Store) LockSession(ctx context.Context, sessionID string) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel) // Close ends the wait
	defer stop()
	conn, err := s.locks.Acquire(ctx)
	if err != nil {
		return nil, s.errorf("lock session %q: %w", sessionID, err)
	}
	h := &heldLock{conn: conn, key: lockKey(sessionID)}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, h.key); err != nil {
		// The lock may have been granted as ctx ended: closing the
		// connection drops it either way.
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil, s.errorf("lock session %q: %w", sessionID, err)
	}
	s.mu.Lock()
	if s.closing.Err() != nil {
		s.mu.Unlock()
		s.release(h, true)
		return nil, s.errorf("lock session %q: store closed", sessionID)
	}
	s.held[h] = struct{}{}
	s.mu.Unlock()
	return func() { s.release(h, false) }, nil
}

// release gives h's lock back and its connection to the pool; drop closes
// the connection instead, which releases the lock on the server too.
func (s *Store) release(h *heldLock, drop bool) {
	h.once.Do(func() {
		s.mu.Lock()
		delete(s.held, h)
		s.mu.Unlock()
		if !drop {
			ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
			var released bool
			err := h.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, h.key).Scan(&released)
			cancel()
			drop = err != nil || !released
		}
		if drop {
			h.conn.Conn().Close(context.Background())
		}
		h.conn.Release()
	})
}

// Sync implements store.Syncer and has nothing to do: every Save is
// durable when it returns (synchronous_commit on). It stays so even behind
// a broker's WAL because brokers sharing the database read each other's
// states, and a state another broker has read must not roll back.
func (s *Store) Sync(ctx context.Context) error { return ctx.Err() }

// Close implements store.Store. Session locks still held are released.
func (s *Store) Close() error {
	s.stop()
	s.mu.Lock()
	held := make([]*heldLock, 0, len(s.held))
	for h := range s.held {
		held = append(held, h)
	}
	s.mu.Unlock()
	for _, h := range held {
		s.release(h, true)
	}
	if s.locks != nil {
		s.locks.Close()
	}
	if s.data != nil {
		s.data.Close()
	}
	return nil
}
