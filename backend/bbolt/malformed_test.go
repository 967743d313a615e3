package bbolt_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	walbbolt "github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
)

// randomBytes returns n bytes from seed.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// A wal.db that bbolt did not write (empty, random bytes, a text file), in a
// fresh directory or in place of a log's, fails Open with a
// *backend.CorruptError naming it, and nothing in the directory changes:
// bbolt alone would initialise an empty file as a new database, and a log
// whose file was emptied would open as an empty log.
func TestMalformedDatabaseFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one page of zeros", make([]byte, 4096)},
		{"random bytes", randomBytes(64<<10, 1)},
		{"text", []byte("this is not a database\n")},
	} {
		for _, where := range []string{"fresh", "in place of a log's"} {
			t.Run(tc.name+"/"+where, func(t *testing.T) {
				dir := t.TempDir()
				if where != "fresh" {
					w := mustOpen(t, dir)
					kvtest.Fill(t, w, 1, 10)
					require.NoError(t, w.Close())
				}
				path := filepath.Join(dir, walbbolt.FileName)
				require.NoError(t, os.WriteFile(path, tc.data, 0o600))
				before := kvtest.Snapshot(t, dir)

				_, err := openDir(context.Background(), dir)
				ce := requireCorrupt(t, err)
				require.Equal(t, path, ce.File)
				require.Contains(t, err.Error(), path)
				require.Equal(t, before, kvtest.Snapshot(t, dir), "nothing changed, the file not initialised over")
			})
		}
	}
}
