// Package sqlite is the embedded default session store, a SQLite database
// file (pure Go driver, no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/broker/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// Store is a session store in one SQLite database file.
//
// It runs in WAL journal mode, so readers never block the writer, and by
// default with synchronous=FULL, so a committed transaction is fsync'd
// before Save returns: with the broker's WAL off the store is the only copy,
// so a commit must be durable when it is acknowledged. Writers take the lock
// up front (BEGIN IMMEDIATE) and wait up to the busy timeout for each other
// instead of failing.
//
// Opened with Options.DeferSync it runs with synchronous=NORMAL instead:
// commits are atomic and consistent and survive a killed process, but a
// power loss can roll the last ones back, until Sync. SQLite's documentation
// of PRAGMA synchronous says that in WAL mode under NORMAL the WAL file is
// synced before each checkpoint and the database file after each completed
// one, so Sync runs PRAGMA wal_checkpoint(FULL), which waits for the writer
// and readers and copies the whole WAL file: every commit made before it is
// then in the fsync'd database file. A full checkpoint that finds nothing
// left to copy syncs nothing, and needs not: the checkpoint that copied the
// frames completed and synced both files. (With synchronous=OFF no
// checkpoint would sync, so Sync could not make anything durable.)
//
// Opened with encryption, the state column holds each state sealed under
// the active key with its session id as associated data, and the
// session_id column a keyed hash of the id, never the id (see store.Codec);
// the checkpoint stays readable.
type Store struct {
	db        *sql.DB
	path      string
	codec     store.Codec
	deferSync bool
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Syncer = (*Store)(nil)
)

// busyTimeout is how long a writer waits for another's transaction.
const busyTimeout = 10 * time.Second

const schema = `
CREATE TABLE IF NOT EXISTS nautilus_session_state (
	session_id TEXT PRIMARY KEY,
	state      TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nautilus_wal_checkpoint (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	wal_index  INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);`

// Options configure OpenWith.
type Options struct {
	// Path is the database file, created when missing.
	Path string
	// Encryption seals every state (nil: none).
	Encryption *backend.Encryption
	// DeferSync lets Save return before its commit is fsync'd; Sync makes
	// the commits durable. Only for a caller that keeps its own durable copy
	// of what it saves until Sync returns, such as the broker's WAL.
	DeferSync bool
}

// Open opens (creating if missing) the database at path, sealing every
// state under enc (nil: none), with every Save durable when it returns.
// See OpenWith.
func Open(ctx context.Context, path string, enc *backend.Encryption) (*Store, error) {
	return OpenWith(ctx, Options{Path: path, Encryption: enc})
}

// OpenWith opens (creating if missing) the database at o.Path. With
// encryption it checks the stored rows' keys and the key of the most
// recently saved state, so a missing or wrong key fails here with
// backend.ErrKey naming the key id.
func OpenWith(ctx context.Context, o Options) (*Store, error) {
	path := o.Path
	codec, err := store.NewCodec(o.Encryption)
	if err != nil {
		return nil, fmt.Errorf("sqlite: session store %s: %w", path, err)
	}
	synchronous := "FULL"
	if o.DeferSync {
		synchronous = "NORMAL"
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", synchronous)
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_txlock", "immediate")
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: open session store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open session store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, codec: codec, deferSync: o.DeferSync}
	err = s.init(ctx)
	if err == nil && codec.Encrypted() {
		err = s.checkKey(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate creates the database file, empty, with vfs.FileMode when it
// is missing: SQLite would create it 0644, and it gives its -wal and -shm
// files the mode of the database file, so all three stay private. An empty
// file is an empty database to SQLite.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, vfs.FileMode)
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("sqlite: session store %s: "+format, append([]any{s.path}, args...)...)
}

// checkKey checks the stored rows against the configured keys (see
// store.Codec.CheckStored).
func (s *Store) checkKey(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT session_id FROM nautilus_session_state`)
	if err != nil {
		return s.errorf("%w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return s.errorf("%w", err)
		}
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return s.errorf("%w", err)
	}
	var newest []byte
	err = s.db.QueryRowContext(ctx, `SELECT state FROM nautilus_session_state ORDER BY updated_at DESC LIMIT 1`).Scan(&newest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.errorf("%w", err)
	}
	if err := s.codec.CheckStored(keys, newest); err != nil {
		return s.errorf("%w", err)
	}
	return nil
}

func (s *Store) init(ctx context.Context) error {
	// Only create the tables when missing, so opening an existing store
	// writes nothing: a refused startup leaves the file as it was.
	var n int
	err := s.db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('nautilus_session_state', 'nautilus_wal_checkpoint')`).Scan(&n)
	if err != nil {
		return s.errorf("%w", err)
	}
	if n == 2 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return s.errorf("create tables: %w", err)
	}
	return nil
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, sessionID string) ([]byte, bool, error) {
	var data []byte
	err := sql.ErrNoRows
	for _, key := range s.codec.RowKeys(sessionID) {
		err = s.db.QueryRowContext(ctx, `SELECT state FROM nautilus_session_state WHERE session_id = ?`, key).Scan(&data)
		if !errors.Is(err, sql.ErrNoRows) {
			break
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.errorf("load %q: %w", sessionID, err)
	}
	state, err := s.codec.Open(sessionID, data)
	if err != nil {
		return nil, false, fmt.Errorf("%w (in %s)", err, s.path)
	}
	return state, true, nil
}

// Save implements store.Store.
func (s *Store) Save(ctx context.Context, states []store.Entry, checkpoint uint64) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for _, e := range states {
		b, err := s.codec.Seal(e.SessionID, e.State)
		if err != nil {
			return err
		}
		var state any = string(b) // JSON as TEXT, as stores without encryption have it
		if s.codec.Encrypted() {
			state = b // sealed bytes as a BLOB
		}
		keys := s.codec.RowKeys(e.SessionID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO nautilus_session_state (session_id, state, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
			keys[0], state, now); err != nil {
			return s.errorf("save %q: %w", e.SessionID, err)
		}
		for _, old := range keys[1:] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM nautilus_session_state WHERE session_id = ?`, old); err != nil {
				return s.errorf("save %q: drop its copy under an older key: %w", e.SessionID, err)
			}
		}
	}
	if checkpoint > 0 {
		// max(): concurrent synchronous requests commit out of order, and a
		// later commit must never lower what an earlier one recorded.
		if _, err := tx.ExecContext(ctx, `INSERT INTO nautilus_wal_checkpoint (id, wal_index, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET wal_index = max(wal_index, excluded.wal_index), updated_at = excluded.updated_at`,
			int64(checkpoint), now); err != nil {
			return s.errorf("save checkpoint %d: %w", checkpoint, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.errorf("commit: %w", err)
	}
	return nil
}

// Checkpoint implements store.Store.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var idx int64
	err := s.db.QueryRowContext(ctx, `SELECT wal_index FROM nautilus_wal_checkpoint WHERE id = 1`).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.errorf("read checkpoint: %w", err)
	}
	if idx < 0 {
		return 0, s.errorf("negative checkpoint %d", idx)
	}
	return uint64(idx), nil
}

// SetCheckpoint implements store.Store.
func (s *Store) SetCheckpoint(ctx context.Context, checkpoint uint64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO nautilus_wal_checkpoint (id, wal_index, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET wal_index = excluded.wal_index, updated_at = excluded.updated_at`,
		int64(checkpoint), time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return s.errorf("set checkpoint %d: %w", checkpoint, err)
	}
	return nil
}

// Sync implements store.Syncer: a full checkpoint under DeferSync (see
// Store), nothing otherwise, every commit being fsync'd already.
func (s *Store) Sync(ctx context.Context) error {
	if !s.deferSync {
		return nil
	}
	var busy, logFrames, copied int64
	err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(FULL)`).Scan(&busy, &logFrames, &copied)
	if err != nil {
		return s.errorf("sync: checkpoint: %w", err)
	}
	if busy != 0 {
		return s.errorf("sync: checkpoint copied %d of %d WAL frames and could not finish", copied, logFrames)
	}
	return nil
}

// Close implements store.Store. Under DeferSync it syncs first: SQLite's
// own checkpoint at close ignores its errors, and a caller that closes
// expects what it saved to be there.
func (s *Store) Close() error {
	var err error
	if s.deferSync {
		err = s.Sync(context.Background())
	}
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("sqlite: close session store %s: %w", s.path, cerr))
	}
	return err
}
