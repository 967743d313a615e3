package pebble

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

// lockCounter counts the locks Pebble takes on its file system and how many
// it still holds.
type lockCounter struct {
	pebblevfs.FS
	mu           sync.Mutex
	taken, freed int
}

func (fs *lockCounter) Lock(name string) (io.Closer, error) {
	l, err := fs.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.taken++
	return &countedLock{Closer: l, fs: fs}, nil
}

func (fs *lockCounter) counts() (taken, held int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.taken, fs.taken - fs.freed
}

type countedLock struct {
	io.Closer
	fs *lockCounter
}

func (l *countedLock) Close() error {
	l.fs.mu.Lock()
	l.fs.freed++
	l.fs.mu.Unlock()
	return l.Closer.Close()
}

// Corruption Pebble reports from a background read while it opens (table
// stats and compactions start before pebble.Open returns) does not stall
// pebble.Open, so Open waits for it and closes what it opened before
// failing. Were that pebble.Open abandoned and closed later, its lock would
// outlive the failed Open, and Pebble's in-process lock registry would fail
// the next Open of the directory with "lock held by current process".
func TestCorruptionWhileOpeningReleasesPebblesLock(t *testing.T) {
	fs := &lockCounter{FS: pebblevfs.NewMem()}
	dir := filepath.Join(t.TempDir(), SubDir)
	require.NoError(t, fs.MkdirAll(dir, 0o755))
	background := make(chan error, 1)
	background <- fmt.Errorf("pebble: file 000005: block 0/100: checksum mismatch: %w", pebble.ErrCorruption)
	s := settings{memTableSize: defaultMemTableSize, bytesPerSync: defaultBytesPerSync}
	opts := pebbleOptions(s, fs, newLogger(slog.New(slog.DiscardHandler), dir), background)
	w := &wal{store: kv.Store{Name: Name, File: dir}}

	db, err := w.openDB(context.Background(), opts, background)
	require.Nil(t, db)
	require.ErrorIs(t, err, backend.ErrCorrupt)
	taken, held := fs.counts()
	require.Equal(t, 1, taken, "pebble.Open ran to its end before Open failed")
	require.Zero(t, held, "Pebble's lock is released before Open returns")
}
