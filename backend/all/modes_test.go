//go:build unix

package all_test

import (
	"context"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/internal/damage"
	"github.com/nautilus-go/nautilus/internal/modetest"
)

// Every built-in backend creates its files and directories with exactly
// the modes of Config.Modes under umask 022, which leaves a file created
// 0644 readable by everyone: 0600 and 0700 by default, the widened modes
// when set (the lock file stays 0600). Not parallel: the umask is the
// process's.
func TestEveryBuiltinCreatesPrivateFiles(t *testing.T) {
	modetest.Umask022(t)
	for _, name := range []string{"bbolt", "jsonl", "pebble", "tidwall"} {
		for _, tc := range []struct {
			name      string
			file, dir os.FileMode
		}{
			{"default", 0, 0},
			{"widened", 0o640, 0o750},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				top := filepath.Join(t.TempDir(), "private")
				cfg := backend.Config{Backend: name, Dir: filepath.Join(top, "wal"), FileMode: tc.file, DirMode: tc.dir}
				ctx := context.Background()
				w, err := backend.Open(ctx, cfg)
				require.NoError(t, err)
				for i := range 50 {
					_, err := w.Append(ctx, make([]byte, 100+i))
					require.NoError(t, err)
				}
				require.NoError(t, w.TruncateFront(ctx, 26))
				require.NoError(t, w.Close())
				w, err = backend.Open(ctx, cfg)
				require.NoError(t, err)
				_, err = w.Append(ctx, []byte("after reopen"))
				require.NoError(t, err)
				require.NoError(t, w.Close())

				file, dir := cfg.Modes()
				got, want := modetest.Modes(t, top, func(_ string, d iofs.DirEntry) os.FileMode {
					switch {
					case d.IsDir():
						return dir
					case d.Name() == backend.LockFileName:
						return vfs.FileMode
					}
					return file
				})
				require.Greater(t, len(got), 3, "the walk saw the directories and the backend's files")
				require.Equal(t, want, got)
			})
		}
	}
}

// octal formats m's permission bits as chmod takes them, for readable failures.
// The copies Open keeps of a torn segment and those Salvage keeps of what
// it cuts or moves aside (pebble.broken is a copy of Pebble's whole
// directory) hold the log's records, so they are as private as the log,
// under umask 022.
func TestEveryBuiltinKeepsPrivateCopies(t *testing.T) {
	modetest.Umask022(t)
	for _, name := range damage.Backends() {
		t.Run(name+"/torn", func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			tear := damage.Torn(t, name, dir, 9)
			w, err := backend.Open(context.Background(), damage.Config(name, dir))
			require.NoError(t, err)
			require.NoError(t, w.Close())
			if !tear.Visible {
				t.Skipf("%s's library drops a torn write itself, keeping no copy", name)
			}
			requirePrivateTree(t, tear.File+backend.BrokenSuffix)
		})
		t.Run(name+"/salvage", func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			damage.Corrupt(t, name, dir, 9)
			rep, err := backend.Salvage(context.Background(), damage.Config(name, dir))
			require.NoError(t, err)
			copies := 0
			for _, f := range rep.Files {
				if f.Copy != "" {
					requirePrivateTree(t, f.Copy)
					copies++
				}
			}
			require.Positive(t, copies, "Salvage kept a copy of what it changed: %+v", rep.Files)
		})
	}
}

// requirePrivateTree requires root, a file or a directory, and everything
// under it to be 0600 (files) or 0700 (directories).
func requirePrivateTree(t *testing.T, root string) {
	t.Helper()
	got, want := modetest.Modes(t, root, modetest.Private)
	require.Equal(t, want, got)
}
