package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/sqlite"
	"github.com/nautilus-go/nautilus/broker/store/storetest"
	"github.com/stretchr/testify/require"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "sessions.db")
		return func(enc *backend.Encryption) (store.Store, error) {
			return sqlite.Open(context.Background(), path, enc)
		}
	}, storetest.Options{Encrypted: true})
}

func TestConformanceDeferSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "sessions.db")
		return func(enc *backend.Encryption) (store.Store, error) {
			return sqlite.OpenWith(context.Background(), sqlite.Options{Path: path, Encryption: enc, DeferSync: true})
		}
	}, storetest.Options{Encrypted: true})
}

// TestSyncCheckpointsIntoTheDatabaseFile checks where a deferred commit
// lives: before Sync only in SQLite's unsynced WAL file, after it in the
// database file, which the checkpoint fsyncs. A copy of the database file
// alone, as a power loss that took the unsynced WAL file would leave it,
// lacks the commit before Sync and has it after.
func TestSyncCheckpointsIntoTheDatabaseFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	s, err := sqlite.OpenWith(ctx, sqlite.Options{Path: path, DeferSync: true})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Sync(ctx)) // the schema
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: []byte(`{"a":1}`)}}, 3))

	dbFileOnly := func(name string) store.Store {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		cp := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(cp, data, 0o600))
		c, err := sqlite.Open(ctx, cp, nil)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	before := dbFileOnly("before.db")
	_, ok, err := before.Load(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok, "a deferred commit is not in the database file before Sync")

	require.NoError(t, s.Sync(ctx))
	after := dbFileOnly("after.db")
	got, ok, err := after.Load(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok, "Sync checkpoints the commit into the database file")
	require.JSONEq(t, `{"a":1}`, string(got))
	cp, err := after.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(3), cp)
}

// TestEncryptedRows checks what an encrypted store keeps: one row per
// session, filed under a keyed hash, and a state moved to another
// session's row does not open as that session's (backend.ErrCorrupt).
func TestEncryptedRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	enc := &backend.Encryption{Active: "k1", Keys: []backend.Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, backend.KeySize)}}}
	s, err := sqlite.Open(ctx, path, enc)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: []byte(`{"a":1}`)}, {SessionID: "b", State: []byte(`{"b":1}`)}}, 0))
	require.NoError(t, s.Close())

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM nautilus_session_state WHERE session_id LIKE 'k1:%'`).Scan(&n))
	require.Equal(t, 2, n, "both rows under k1's keyed hash, not the ids")
	codec, err := store.NewCodec(enc)
	require.NoError(t, err)
	keyA, keyB := codec.RowKeys("a")[0], codec.RowKeys("b")[0]
	_, err = db.Exec(`UPDATE nautilus_session_state SET state = (SELECT state FROM nautilus_session_state WHERE session_id = ?) WHERE session_id = ?`, keyA, keyB)
	require.NoError(t, err)

	s, err = sqlite.Open(ctx, path, enc)
	require.NoError(t, err)
	defer s.Close()
	_, _, err = s.Load(ctx, "b")
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorContains(t, err, `"b"`)
}

func BenchmarkSave(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sessions.db"), nil)
	require.NoError(b, err)
	defer s.Close()
	storetest.BenchmarkSave(b, s)
}
