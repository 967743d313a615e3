package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
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
