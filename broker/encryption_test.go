package broker

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/all"
	"github.com/stretchr/testify/require"
)

// writeKey writes a hex key file of mode 0600 filled with b and returns its path.
func writeKey(t *testing.T, dir, name string, b byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(hex.EncodeToString(bytes.Repeat([]byte{b}, backend.KeySize))+"\n"), 0o600))
	return p
}

// grepTree fails t for every file under dir whose bytes hold marker.
func grepTree(t *testing.T, dir string, marker []byte) (files int) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if i := bytes.Index(b, marker); i >= 0 {
			t.Errorf("%s holds %q at offset %d", path, marker, i)
		}
		return nil
	}))
	return files
}

// TestEncryptionLeavesNothingReadableOnDisk writes a marker through the
// broker, as session id, agent, source and data type, with the WAL on and
// encryption on, over each durable backend, and finds it in no file of the
// WAL or the session store, while a restart still reads the session.
func TestEncryptionLeavesNothingReadableOnDisk(t *testing.T) {
	const marker = "qz7marker"
	for _, name := range []string{"jsonl", "tidwall", "pebble", "bbolt"} {
		t.Run(name, func(t *testing.T) {
			dir, keys := t.TempDir(), t.TempDir()
			cfg := diskConfig(dir, ModeSynchronous, true)
			cfg.Sources = append(cfg.Sources, Source{ID: "source-" + marker, Type: "static",
				Classification: "unclassified", DataTypes: []string{marker}})
			cfg.Persistence.WALBackend = name
			cfg.Persistence.Encryption = &EncryptionConfig{Active: "k1",
				Keys: []EncryptionKeyRef{{ID: "k1", File: writeKey(t, keys, "k1", 1)}}}
			session, agent := "session-"+marker, "agent-"+marker

			b, err := New(context.Background(), cfg, nil)
			require.NoError(t, err)
			r := ask(t, b, session, agent, marker)
			require.Equal(t, []string{"source-" + marker}, r.SourcesQueried)
			_, last, err := b.wal.Bounds(context.Background())
			require.NoError(t, err)
			require.Equal(t, uint64(1), last, "the request's record is in the WAL")
			grepTree(t, dir, []byte(marker)) // while open: SQLite's -wal file, the WAL's open files
			require.NoError(t, b.Close())
			require.Positive(t, grepTree(t, dir, []byte(marker)))

			b = newBroker(t, cfg, nil)
			require.Equal(t, []string{marker}, stateOfSession(t, b, session).DataTypesSeen)
		})
	}
}

// TestEncryptedStoreKeys checks the session store with encryption: a wrong
// or missing key fails the open with ErrKey naming the key id; after a
// rotation the older key still reads and a save moves the state under the
// active key; a state moved to another session's row is ErrCorrupt.
func TestEncryptedStoreKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	k1 := backend.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, backend.KeySize)}
	k2 := backend.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, backend.KeySize)}
	enc := func(active string, keys ...backend.Key) *backend.Encryption {
		return &backend.Encryption{Active: active, Keys: keys}
	}
	s, err := OpenEncryptedSQLiteStore(ctx, path, enc("k1", k1))
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, []SessionState{
		{SessionID: "a", State: State{DataTypesSeen: []string{"pii"}}},
		{SessionID: "b", State: State{DataTypesSeen: []string{"cve"}}},
	}, 1))
	require.NoError(t, s.Close())

	for name, e := range map[string]*backend.Encryption{
		"wrong_secret": enc("k1", backend.Key{ID: "k1", Secret: bytes.Repeat([]byte{9}, backend.KeySize)}),
		"missing":      enc("k2", k2),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := OpenEncryptedSQLiteStore(ctx, path, e)
			require.ErrorIs(t, err, backend.ErrKey)
			var ke *backend.KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, "k1", ke.ID)
		})
	}

	s, err = OpenEncryptedSQLiteStore(ctx, path, enc("k2", k1, k2))
	require.NoError(t, err)
	st, ok, err := s.Load(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []string{"pii"}, st.DataTypesSeen)
	st.DataTypesSeen = append(st.DataTypesSeen, "employee")
	require.NoError(t, s.Save(ctx, []SessionState{{SessionID: "a", State: st}}, 0))
	require.NoError(t, s.Close())

	// b is still under k1: without it the store does not open, rather than
	// lose b's state as if b were new.
	_, err = OpenEncryptedSQLiteStore(ctx, path, enc("k2", k2))
	require.ErrorIs(t, err, backend.ErrKey)
	require.ErrorContains(t, err, `"k1"`)

	s, err = OpenEncryptedSQLiteStore(ctx, path, enc("k2", k1, k2))
	require.NoError(t, err)
	st, ok, err = s.Load(ctx, "b")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Save(ctx, []SessionState{{SessionID: "b", State: st}}, 0))
	require.NoError(t, s.Close())

	// Both now live under k2 alone.
	s, err = OpenEncryptedSQLiteStore(ctx, path, enc("k2", k2))
	require.NoError(t, err)
	st, ok, err = s.Load(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []string{"employee", "pii"}, st.DataTypesSeen)
	var n int
	require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM nautilus_session_state`).Scan(&n))
	require.Equal(t, 2, n, "each save replaced its row under k1")
	require.NoError(t, s.Close())

	// Give b's row a's sealed state: it must not open as b's.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	s2 := &SQLiteStore{codec: stateCodec{cipher: mustCipher(t, enc("k2", k1, k2))}}
	keyA, keyB := s2.codec.rowKeys("a")[0], s2.codec.rowKeys("b")[0]
	_, err = db.Exec(`UPDATE nautilus_session_state SET state = (SELECT state FROM nautilus_session_state WHERE session_id = ?) WHERE session_id = ?`, keyA, keyB)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	s, err = OpenEncryptedSQLiteStore(ctx, path, enc("k2", k1, k2))
	require.NoError(t, err)
	defer s.Close()
	_, _, err = s.Load(ctx, "b")
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorContains(t, err, `"b"`)
}

func mustCipher(t *testing.T, enc *backend.Encryption) *backend.Cipher {
	t.Helper()
	c, err := backend.NewCipher(enc)
	require.NoError(t, err)
	return c
}

// TestEncryptionConfigFromFile checks persistence.encryption as the file
// spells it, key paths relative to the file, and that a key file readable by
// others refuses startup naming the key.
func TestEncryptionConfigFromFile(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k1.key", 1)
	t.Setenv("NAUTILUS_TEST_K0", hex.EncodeToString(bytes.Repeat([]byte{7}, backend.KeySize)))
	yaml := `
sources: [{id: nvd, type: static, classification: unclassified, data_types: [cve]}]
session_store: {backend: sqlite, sqlite_path: data/sessions.db}
persistence:
  wal_enabled: true
  wal_path: data/wal
  encryption:
    active: k1
    keys:
      - {id: k1, file: k1.key}
      - {id: k0, env: NAUTILUS_TEST_K0}
`
	path := filepath.Join(dir, "nautilus.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "k1.key"), cfg.Persistence.Encryption.Keys[0].File)
	b := newBroker(t, cfg, nil)
	ask(t, b, "s1", "agent-a", "cve")
	require.NoError(t, b.Close())

	require.NoError(t, os.Chmod(filepath.Join(dir, "k1.key"), 0o644))
	_, err = New(context.Background(), cfg, nil)
	require.ErrorIs(t, err, backend.ErrKey)
	require.ErrorContains(t, err, `"k1"`)
	require.ErrorContains(t, err, "persistence.encryption")
}
