package waltool_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/all"
	"github.com/nautilus-go/nautilus/waltool"
)

var (
	rekeyK1 = backend.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, backend.KeySize)}
	rekeyK2 = backend.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, backend.KeySize)}
)

func rekeyRecord(i uint64) []byte { return fmt.Appendf(nil, "rekey-marker record %d", i) }

// writeLog writes records 1..last to a log in dir with enc, then cuts
// everything before first.
func writeLog(t *testing.T, name, dir string, enc *backend.Encryption, first, last uint64) {
	t.Helper()
	w, err := backend.Open(ctx, backend.Config{Backend: name, Dir: dir, Encryption: enc})
	require.NoError(t, err)
	for i := uint64(1); i <= last; i++ {
		_, err := w.Append(ctx, rekeyRecord(i))
		require.NoError(t, err)
	}
	require.NoError(t, w.TruncateFront(ctx, first))
	require.NoError(t, w.Close())
}

// requireLog checks that the log in dir opens with enc and holds
// first..last as writeLog wrote them.
func requireLog(t *testing.T, name, dir string, enc *backend.Encryption, first, last uint64) {
	t.Helper()
	w, err := backend.Open(ctx, backend.Config{Backend: name, Dir: dir, Encryption: enc})
	require.NoError(t, err)
	defer w.Close()
	f, l, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{first, last}, [2]uint64{f, l})
	want := first
	require.NoError(t, w.Replay(ctx, first, func(i uint64, data []byte) error {
		require.Equal(t, want, i)
		require.Equal(t, rekeyRecord(i), data)
		want++
		return nil
	}))
	require.Equal(t, last+1, want)
}

// requireNoPlaintext fails for any file under dir holding a record's text.
func requireNoPlaintext(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.False(t, bytes.Contains(b, []byte("rekey-marker")), "%s holds plaintext", path)
		return nil
	}))
}

// TestRekeyEncryptsAPlaintextLog rewrites a log written without encryption
// under the active key, keeping its indexes, leaving no plaintext and no
// temporary directory.
func TestRekeyEncryptsAPlaintextLog(t *testing.T) {
	for _, name := range []string{"jsonl", "tidwall", "pebble", "bbolt"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			writeLog(t, name, dir, nil, 4, 30)
			enc := &backend.Encryption{Active: "k1", Keys: []backend.Key{rekeyK1}}

			_, err := waltool.Rekey(ctx, backend.Config{Backend: name, Dir: dir, Encryption: enc})
			require.ErrorIs(t, err, backend.ErrCorrupt, "plaintext is refused unless asked for")

			migrate := *enc
			migrate.ReadPlaintext = true
			rep, err := waltool.Rekey(ctx, backend.Config{Backend: name, Dir: dir, Encryption: &migrate})
			require.NoError(t, err)
			require.Equal(t, waltool.RekeyReport{First: 4, Last: 30, Records: 27}, rep)
			requireLog(t, name, dir, enc, 4, 30)
			requireNoPlaintext(t, dir)
			_, err = os.Stat(waltool.RekeyDir(dir))
			require.ErrorIs(t, err, fs.ErrNotExist)
		})
	}
}

// TestRekeyRotates rewrites a log under k1 with k2 active, after which k1
// is no longer needed.
func TestRekeyRotates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	writeLog(t, "jsonl", dir, &backend.Encryption{Active: "k1", Keys: []backend.Key{rekeyK1}}, 1, 10)
	both := &backend.Encryption{Active: "k2", Keys: []backend.Key{rekeyK1, rekeyK2}}
	_, err := waltool.Rekey(ctx, backend.Config{Backend: "jsonl", Dir: dir, Encryption: both})
	require.NoError(t, err)
	requireLog(t, "jsonl", dir, &backend.Encryption{Active: "k2", Keys: []backend.Key{rekeyK2}}, 1, 10)
}

// TestRekeyInterruptedBeforeSwap stops Rekey once the new log is durable and
// before the swap, as a crash there would: the old log is in place and reads
// as before, and the next Rekey removes the leftover and completes.
func TestRekeyInterruptedBeforeSwap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	old := &backend.Encryption{Active: "k1", Keys: []backend.Key{rekeyK1}}
	writeLog(t, "jsonl", dir, old, 1, 12)
	both := &backend.Encryption{Active: "k2", Keys: []backend.Key{rekeyK1, rekeyK2}}
	cfg := backend.Config{Backend: "jsonl", Dir: dir, Encryption: both}

	crash := errors.New("interrupted before the swap")
	waltool.SetBeforeSwap(func() error { return crash })
	_, err := waltool.Rekey(ctx, cfg)
	waltool.SetBeforeSwap(nil)
	require.ErrorIs(t, err, crash)
	requireLog(t, "jsonl", dir, old, 1, 12)
	_, err = os.Stat(waltool.RekeyDir(dir))
	require.NoError(t, err, "the new log is left beside the old one")

	_, err = waltool.Rekey(ctx, cfg)
	require.NoError(t, err)
	requireLog(t, "jsonl", dir, &backend.Encryption{Active: "k2", Keys: []backend.Key{rekeyK2}}, 1, 12)
	_, err = os.Stat(waltool.RekeyDir(dir))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestRekeyRefusesAnOpenLog checks that Rekey leaves a log a process holds.
func TestRekeyRefusesAnOpenLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	enc := &backend.Encryption{Active: "k1", Keys: []backend.Key{rekeyK1}}
	w, err := backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Encryption: enc})
	require.NoError(t, err)
	defer w.Close()
	_, err = waltool.Rekey(ctx, backend.Config{Backend: "jsonl", Dir: dir, Encryption: enc})
	require.ErrorIs(t, err, backend.ErrLocked)
}
