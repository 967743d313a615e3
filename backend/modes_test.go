//go:build unix

package backend_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/internal/modetest"
)

// umask022 sets the usual umask, which leaves a file created 0644 readable
// by everyone, until t ends. Tests calling it are not parallel: the umask is
// the process's.
func umask022(t *testing.T) {
	modetest.Umask022(t)
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

// Open creates the directory, its missing parents and the lock file
// private, or with the widened directory mode.
func TestOpenCreatesPrivateDirectories(t *testing.T) {
	umask022(t)
	for _, tc := range []struct {
		name             string
		dirMode, wantDir os.FileMode
	}{
		{"default", 0, 0o700},
		{"widened", 0o750, 0o750},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), "top")
			dir := filepath.Join(top, "wal")
			w, err := backend.Open(t.Context(), backend.Config{Backend: "memory", Dir: dir, DirMode: tc.dirMode})
			require.NoError(t, err)
			require.NoError(t, w.Close())
			require.Equal(t, tc.wantDir, perm(t, top))
			require.Equal(t, tc.wantDir, perm(t, dir))
			require.Equal(t, os.FileMode(0o600), perm(t, filepath.Join(dir, backend.LockFileName)))
		})
	}
}

// Open warns, naming the directory and its mode, when it finds the
// directory open to group or others beyond Config.DirMode and every
// ancestor lets them search it, and opens it unchanged.
func TestOpenWarnsAboutADirectoryOpenToOthers(t *testing.T) {
	for _, tc := range []struct {
		name          string
		mode, dirMode os.FileMode
		warn          bool
	}{
		{"private", 0o700, 0, false},
		{"group_readable", 0o750, 0, true},
		{"world_writable", 0o703, 0, true},
		{"widened_on_purpose", 0o750, 0o750, false},
		{"wider_than_widened", 0o755, 0o750, true},
		{"behind_a_private_parent", 0o755, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// t.TempDir is 0755 inside a 0700 directory of the test's.
			tmp := t.TempDir()
			parent := os.FileMode(0o755)
			if tc.name == "behind_a_private_parent" {
				parent = 0o700
			}
			require.NoError(t, os.Chmod(filepath.Dir(tmp), 0o755))
			require.NoError(t, os.Chmod(tmp, parent))
			dir := filepath.Join(tmp, "wal")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, tc.mode))
			var logged bytes.Buffer
			w, err := backend.Open(t.Context(), backend.Config{Backend: "memory", Dir: dir, DirMode: tc.dirMode,
				Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			require.NoError(t, err)
			require.NoError(t, w.Close())
			if !tc.warn {
				require.NotContains(t, logged.String(), "level=WARN")
				return
			}
			for _, field := range []string{"level=WARN", "dir=" + dir, fmt.Sprintf("mode=%#o", uint32(tc.mode))} {
				require.Contains(t, logged.String(), field, "the warning names the directory and its mode")
			}
			require.Equal(t, tc.mode, perm(t, dir), "Open leaves a directory it did not create as it is")
		})
	}
}

// Config's modes only widen: a mode taking a bit from the owner, or
// holding more than permission bits, is refused before anything is created.
func TestOpenRefusesModesThatNarrow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file, dir os.FileMode
		mentions  string
	}{
		{"file_read_only", 0o400, 0, "Config.FileMode 0400"},
		{"file_setuid", os.ModeSetuid | 0o600, 0, "Config.FileMode"},
		{"dir_not_searchable", 0, 0o600, "Config.DirMode 0600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			_, err := backend.Open(t.Context(), backend.Config{Backend: "memory", Dir: dir, FileMode: tc.file, DirMode: tc.dir})
			require.ErrorContains(t, err, tc.mentions)
			require.NoDirExists(t, dir)
		})
	}
}

// The copies RepairTail and KeepCopy keep hold the same records as the file,
// so they are created with the file mode of Config.FileSystem: private by
// default, widened only when the Config widens.
func TestRepairCopiesTakeTheConfiguredMode(t *testing.T) {
	umask022(t)
	for _, tc := range []struct {
		name string
		file os.FileMode
	}{
		{"default", 0},
		{"widened", 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := backend.Config{Dir: t.TempDir(), FileMode: tc.file}
			want, _ := cfg.Modes()
			fs := cfg.FileSystem()
			path := filepath.Join(cfg.Dir, "seg")
			require.NoError(t, vfs.WriteFileAtomic(fs, path, []byte("good record|torn rec")))
			require.Equal(t, want, perm(t, path))

			require.NoError(t, backend.RepairTail(fs, path, 12, slog.New(slog.DiscardHandler), nil))
			require.Equal(t, want, perm(t, path+backend.BrokenSuffix))
			copyPath, err := backend.KeepCopy(fs, path)
			require.NoError(t, err)
			require.Equal(t, path+backend.BrokenSuffix+".2", copyPath)
			require.Equal(t, want, perm(t, copyPath))
		})
	}
}
