//go:build unix

package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/broker/store/sqlite"
	"github.com/nautilus-go/nautilus/internal/modetest"
	"github.com/stretchr/testify/require"
)

// The broker's state is private under umask 022, which leaves a file
// created 0644 readable by everyone: the store and WAL directories it
// creates are 0700, and the session store, its -wal and -shm (SQLite gives
// them the database file's mode) and the WAL's files are 0600. Not
// parallel: the umask is the process's.
func TestBrokerStateIsPrivate(t *testing.T) {
	modetest.Umask022(t)
	state := filepath.Join(t.TempDir(), "state")
	cfg := diskConfig(filepath.Join(state, "store"), ModeSynchronous, true)
	cfg.Persistence.WALPath = filepath.Join(state, "wal")
	b := newBroker(t, cfg, nil)
	ask(t, b, "s", "a", "budget")

	db := cfg.SessionStore.SQLitePath
	for _, name := range []string{db, db + "-wal", db + "-shm"} {
		fi, err := os.Stat(name)
		require.NoError(t, err, "SQLite keeps %s while the store is open", name)
		require.Equal(t, "0600", modetest.Octal(fi.Mode()), name)
	}
	got, want := modetest.Modes(t, state, modetest.Private)
	require.Equal(t, want, got)
	seen := len(got)
	require.GreaterOrEqual(t, seen, 7, "the walk saw the directories, the store's three files and the WAL's")
}

// sqlite.Open leaves an existing store's mode alone: creating the file
// first only applies to a new store.
func TestSQLiteStoreKeepsAnExistingFilesMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := sqlite.Open(context.Background(), path, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, os.Chmod(path, 0o640))
	s, err = sqlite.Open(context.Background(), path, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, "0640", modetest.Octal(fi.Mode()))
}

// octal formats m's permission bits as chmod takes them, for readable failures.
