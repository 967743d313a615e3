package broker

import (
	"bytes"
	"context"
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
