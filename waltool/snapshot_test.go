//go:build unix

package waltool

import (
	"context"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/tidwall"
)

// The copy a tool works on holds the same records as the log, so it is as
// private: 0700 directories, 0600 files, under umask 022, which would leave
// a file created 0644 readable by everyone. Not parallel: the umask is the
// process's.
func TestSnapshotIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	cfg := backend.Config{Backend: "tidwall", Dir: t.TempDir()} // tidwall has a subdirectory
	w, err := backend.Open(context.Background(), cfg)
	require.NoError(t, err)
	_, err = w.Append(context.Background(), []byte("record"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	s, err := takeSnapshot(cfg)
	require.NoError(t, err)
	defer s.remove()
	seen := 0
	require.NoError(t, filepath.WalkDir(s.root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := "0600"
		if fi.IsDir() {
			want = "0700"
		}
		require.Equal(t, want, fmt.Sprintf("%#o", uint32(fi.Mode().Perm())), path)
		seen++
		return nil
	}))
	require.GreaterOrEqual(t, seen, 4, "the root, the copy, its subdirectory and a segment")
}
