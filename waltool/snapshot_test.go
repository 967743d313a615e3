//go:build unix

package waltool

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/tidwall"
	"github.com/nautilus-go/nautilus/internal/modetest"
)

// The copy a tool works on holds the same records as the log, so it is as
// private: 0700 directories, 0600 files, under umask 022, which would leave
// a file created 0644 readable by everyone. Not parallel: the umask is the
// process's.
func TestSnapshotIsPrivate(t *testing.T) {
	modetest.Umask022(t)
	cfg := backend.Config{Backend: "tidwall", Dir: t.TempDir()} // tidwall has a subdirectory
	w, err := backend.Open(context.Background(), cfg)
	require.NoError(t, err)
	_, err = w.Append(context.Background(), []byte("record"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	s, err := takeSnapshot(cfg)
	require.NoError(t, err)
	defer s.remove()
	got, want := modetest.Modes(t, s.root, modetest.Private)
	require.Equal(t, want, got)
	seen := len(got)
	require.GreaterOrEqual(t, seen, 4, "the root, the copy, its subdirectory and a segment")
}
