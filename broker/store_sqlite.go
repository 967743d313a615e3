package broker

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

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// SQLiteStore is the embedded default Store, a SQLite database file.
//
// It runs in WAL journal mode, so readers never block the writer, with
// synchronous=FULL, so a committed transaction is fsync'd before Save
// returns. NORMAL would be faster but can lose the last commits on power
// loss; the broker truncates its own WAL behind the store's checkpoint, and
// with the WAL off the store is the only copy, so a commit must be durable
// when it is acknowledged. Writers take the lock up front (BEGIN IMMEDIATE)
// and wait up to the busy timeout for each other instead of failing.
//
// Opened with encryption, the state column holds each state sealed under
// the active key with its session id as associated data, and the
// session_id column a keyed hash of the id, never the id (see
// OpenEncryptedSQLiteStore); the checkpoint stays readable.
type SQLiteStore struct {
	db    *sql.DB
	path  string
	codec stateCodec
}

// sqliteBusyTimeout is how long a writer waits for another's transaction.
const sqliteBusyTimeout = 10 * time.Second

const sqliteSchema = `
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

// OpenSQLiteStore opens (creating if missing) the database at path.
func OpenSQLiteStore(ctx context.Context, path string) (*SQLiteStore, error) {
	return OpenEncryptedSQLiteStore(ctx, path, nil)
}

// OpenEncryptedSQLiteStore opens the database at path sealing every state
// under enc (nil: none). It checks the key of the most recently saved
// state, so a missing or wrong key fails here with backend.ErrKey naming the
// key id.
func OpenEncryptedSQLiteStore(ctx context.Context, path string, enc *backend.Encryption) (*SQLiteStore, error) {
	c, err := backend.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("broker: session store %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))
	q.Set("_txlock", "immediate")
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("broker: open session store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("broker: open session store %s: %w", path, err)
	}
	s := &SQLiteStore{db: db, path: path, codec: stateCodec{cipher: c}}
	err = s.init(ctx)
	if err == nil && c != nil {
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

// checkKey checks that every state is filed under a configured key and
// that the most recently saved one was sealed with its secret (session ids
// are not stored, so no state can be opened here). A state under a key no
// longer configured would otherwise be silently missed, as a new session.
func (s *SQLiteStore) checkKey(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT session_id FROM nautilus_session_state`)
	if err != nil {
		return fmt.Errorf("broker: session store %s: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return fmt.Errorf("broker: session store %s: %w", s.path, err)
		}
		if err := s.codec.checkRowKey(key); err != nil {
			return fmt.Errorf("broker: session store %s: %w", s.path, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("broker: session store %s: %w", s.path, err)
	}
	var data []byte
	err = s.db.QueryRowContext(ctx, `SELECT state FROM nautilus_session_state ORDER BY updated_at DESC LIMIT 1`).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker: session store %s: %w", s.path, err)
	}
	if err := s.codec.cipher.CheckKey(data); err != nil {
		return fmt.Errorf("broker: session store %s: %w", s.path, err)
	}
	return nil
}

func (s *SQLiteStore) init(ctx context.Context) error {
	// Only create the tables when missing, so opening an existing store
	// writes nothing: a refused startup leaves the file as it was.
	var n int
	err := s.db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('nautilus_session_state', 'nautilus_wal_checkpoint')`).Scan(&n)
	if err != nil {
		return fmt.Errorf("broker: session store %s: %w", s.path, err)
	}
	if n == 2 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, sqliteSchema); err != nil {
		return fmt.Errorf("broker: session store %s: create tables: %w", s.path, err)
	}
	return nil
}

// Load implements Store.
func (s *SQLiteStore) Load(ctx context.Context, sessionID string) (State, bool, error) {
	var data []byte
	err := sql.ErrNoRows
	for _, key := range s.codec.rowKeys(sessionID) {
		err = s.db.QueryRowContext(ctx, `SELECT state FROM nautilus_session_state WHERE session_id = ?`, key).Scan(&data)
		if !errors.Is(err, sql.ErrNoRows) {
			break
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("broker: session store %s: load %q: %w", s.path, sessionID, err)
	}
	st, err := s.codec.decode(sessionID, data)
	if err != nil {
		return State{}, false, fmt.Errorf("%w (in %s)", err, s.path)
	}
	return st, true, nil
}

// Save implements Store.
func (s *SQLiteStore) Save(ctx context.Context, states []SessionState, checkpoint uint64) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("broker: session store %s: begin: %w", s.path, err)
	}
	defer tx.Rollback()
	for _, st := range states {
		b, err := s.codec.encode(st.SessionID, st.State)
		if err != nil {
			return err
		}
		var state any = string(b) // JSON as TEXT, as stores without encryption have it
		if s.codec.cipher != nil {
			state = b // sealed bytes as a BLOB
		}
		keys := s.codec.rowKeys(st.SessionID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO nautilus_session_state (session_id, state, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
			keys[0], state, now); err != nil {
			return fmt.Errorf("broker: session store %s: save %q: %w", s.path, st.SessionID, err)
		}
		for _, old := range keys[1:] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM nautilus_session_state WHERE session_id = ?`, old); err != nil {
				return fmt.Errorf("broker: session store %s: save %q: drop its copy under an older key: %w", s.path, st.SessionID, err)
			}
		}
	}
	if checkpoint > 0 {
		// max(): concurrent synchronous requests commit out of order, and a
		// later commit must never lower what an earlier one recorded.
		if _, err := tx.ExecContext(ctx, `INSERT INTO nautilus_wal_checkpoint (id, wal_index, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET wal_index = max(wal_index, excluded.wal_index), updated_at = excluded.updated_at`,
			int64(checkpoint), now); err != nil {
			return fmt.Errorf("broker: session store %s: save checkpoint %d: %w", s.path, checkpoint, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("broker: session store %s: commit: %w", s.path, err)
	}
	return nil
}

// Checkpoint implements Store.
func (s *SQLiteStore) Checkpoint(ctx context.Context) (uint64, error) {
	var idx int64
	err := s.db.QueryRowContext(ctx, `SELECT wal_index FROM nautilus_wal_checkpoint WHERE id = 1`).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("broker: session store %s: read checkpoint: %w", s.path, err)
	}
	if idx < 0 {
		return 0, fmt.Errorf("broker: session store %s: negative checkpoint %d", s.path, idx)
	}
	return uint64(idx), nil
}

// SetCheckpoint implements Store.
func (s *SQLiteStore) SetCheckpoint(ctx context.Context, checkpoint uint64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO nautilus_wal_checkpoint (id, wal_index, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET wal_index = excluded.wal_index, updated_at = excluded.updated_at`,
		int64(checkpoint), time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("broker: session store %s: set checkpoint %d: %w", s.path, checkpoint, err)
	}
	return nil
}

// Close implements Store.
func (s *SQLiteStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("broker: close session store %s: %w", s.path, err)
	}
	return nil
}
