package backend_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// repairFS records the durable steps a repair takes, in order, and can fail one.
type repairFS struct {
	vfs.FS
	mu     sync.Mutex
	steps  []string
	failOn string // a step that fails with EIO instead of happening
}

func (f *repairFS) step(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s == f.failOn {
		return syscall.EIO
	}
	f.steps = append(f.steps, s)
	return nil
}

func (f *repairFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return repairFile{File: file, fs: f}, nil
}

func (f *repairFS) Rename(oldname, newname string) error {
	if err := f.step("rename " + filepath.Base(oldname) + " " + filepath.Base(newname)); err != nil {
		return err
	}
	return f.FS.Rename(oldname, newname)
}

func (f *repairFS) SyncDir(name string) error {
	if err := f.step("syncdir"); err != nil {
		return err
	}
	return f.FS.SyncDir(name)
}

type repairFile struct {
	vfs.File
	fs *repairFS
}

func (f repairFile) Sync() error {
	if err := f.fs.step("sync " + filepath.Base(f.Name())); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f repairFile) Truncate(size int64) error {
	if err := f.fs.step("truncate " + filepath.Base(f.Name())); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

type tailObserver struct {
	backend.NopObserver
	files   []string
	dropped []int64
}

func (o *tailObserver) TailRepaired(file string, dropped int64) {
	o.files = append(o.files, file)
	o.dropped = append(o.dropped, dropped)
}

// RepairTail keeps a durable copy before it cuts, cuts, fsyncs, then logs and
// reports, in that order.
func TestRepairTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	whole := []byte("good record|torn rec")
	require.NoError(t, os.WriteFile(path, whole, 0o644))
	fs := &repairFS{FS: vfs.Default}
	var logged bytes.Buffer
	obs := &tailObserver{}

	require.NoError(t, backend.RepairTail(fs, path, 12, slog.New(slog.NewTextHandler(&logged, nil)), obs))

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, whole[:12], got)
	kept, err := os.ReadFile(path + backend.BrokenSuffix)
	require.NoError(t, err)
	require.Equal(t, whole, kept, "the copy is the file as found")
	require.Equal(t, []string{
		"sync seg.broken.tmp", "rename seg.broken.tmp seg.broken", "syncdir",
		"truncate seg", "sync seg",
	}, fs.steps)
	require.Equal(t, []string{path}, obs.files)
	require.Equal(t, []int64{8}, obs.dropped)
	for _, field := range []string{"level=WARN", "file=" + path, "offset=12", "dropped_bytes=8"} {
		require.Contains(t, logged.String(), field, "the warning names where and how much")
	}
	_, err = os.Stat(path + backend.BrokenSuffix + ".tmp")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A second repair of the same file keeps the first repair's copy.
func TestRepairTailKeepsEarlierCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i, content := range []string{"aaaa-x", "aaaabb-y", "aaaabbcc-z"} {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		require.NoError(t, backend.RepairTail(vfs.Default, path, int64(len(content)-2), discard, nil), "repair %d", i)
	}
	for name, want := range map[string]string{
		"seg.broken": "aaaa-x", "seg.broken.2": "aaaabb-y", "seg.broken.3": "aaaabbcc-z", "seg": "aaaabbcc",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, want, string(got), name)
	}
}

// A failure before the cut leaves the file whole, so the next Open repairs it
// again; bad offsets are refused.
func TestRepairTailFailures(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, step := range []string{"sync seg.broken.tmp", "rename seg.broken.tmp seg.broken", "syncdir"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "seg")
			require.NoError(t, os.WriteFile(path, []byte("good|torn"), 0o644))
			obs := &tailObserver{}
			err := backend.RepairTail(&repairFS{FS: vfs.Default, failOn: step}, path, 5, discard, obs)
			require.ErrorIs(t, err, syscall.EIO)
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, "good|torn", string(got), "nothing cut")
			require.Empty(t, obs.files, "nothing reported")
		})
	}
	t.Run("fsync after cut", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "seg")
		require.NoError(t, os.WriteFile(path, []byte("good|torn"), 0o644))
		obs := &tailObserver{}
		err := backend.RepairTail(&repairFS{FS: vfs.Default, failOn: "sync seg"}, path, 5, discard, obs)
		require.ErrorIs(t, err, syscall.EIO)
		require.Empty(t, obs.files, "an unsynced cut is not reported as done")
	})
	for _, off := range []int64{-1, 10} {
		dir := t.TempDir()
		path := filepath.Join(dir, "seg")
		require.NoError(t, os.WriteFile(path, []byte("good|torn"), 0o644))
		require.Error(t, backend.RepairTail(vfs.Default, path, off, discard, nil), "offset %d", off)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, "good|torn", string(got))
	}
	err := backend.RepairTail(vfs.Default, filepath.Join(t.TempDir(), "missing"), 0, discard, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// ResolveDamage repairs only a bad record in the last file with nothing valid
// after it; otherwise it returns the CorruptError, saying why, and touches
// nothing.
func TestResolveDamage(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name            string
		lastFile, valid bool
		claims          []uint64 // durability claims of valid records after the damage
		torn            bool
		reasonMentions  string
	}{
		{"torn tail", true, false, nil, true, ""},
		{"valid record after", true, true, nil, false, "followed by a valid record that carries no durability claim"},
		{"older file", false, false, nil, false, "older than the last"},
		{"older file, valid after", false, true, nil, false, "older than the last"},
		// The damage is at index 2: records claiming only index 1 durable
		// were written while it was not, so a lost page explains it.
		{"claims below the damage", true, false, []uint64{1, 0, 1}, true, ""},
		{"a claim covers the damage", true, false, []uint64{1, 2, 1}, false, "record 5 at offset 40, written after it, claims the log durable through index 2"},
		{"a claim beyond the damage", true, false, []uint64{7}, false, "claims the log durable through index 7"},
		{"claims below, an old record after", true, true, []uint64{1}, false, "carries no durability claim"},
		{"older file, claims below", false, false, []uint64{1}, false, "older than the last"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "seg")
			require.NoError(t, os.WriteFile(path, []byte("good|bad|"), 0o644))
			d := backend.Damage{
				Err:        &backend.CorruptError{File: path, Offset: 5, Index: 2, Reason: "checksum mismatch"},
				LastFile:   tc.lastFile,
				ValidAfter: tc.valid,
			}
			for i, c := range tc.claims {
				d.Observe(uint64(4+i), int64(20*(1+i)), c)
			}
			require.Equal(t, tc.torn, d.Torn())
			err := backend.ResolveDamage(vfs.Default, d, discard, nil)
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			if tc.torn {
				require.NoError(t, err)
				require.Equal(t, "good|", string(got))
				return
			}
			require.ErrorIs(t, err, backend.ErrCorrupt)
			var ce *backend.CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, path, ce.File)
			require.Equal(t, int64(5), ce.Offset)
			require.Contains(t, ce.Reason, tc.reasonMentions)
			require.Equal(t, "checksum mismatch", d.Err.Reason, "the caller's error is not modified")
			require.Equal(t, "good|bad|", string(got), "nothing modified")
			_, serr := os.Stat(path + backend.BrokenSuffix)
			require.True(t, errors.Is(serr, os.ErrNotExist), "no copy made")
		})
	}
	require.Error(t, backend.ResolveDamage(vfs.Default, backend.Damage{}, discard, nil))
}

func TestRepairCopyOfRecognisesOnlyRepairCopies(t *testing.T) {
	for name, want := range map[string]string{
		"seg.jsonl.broken":       "seg.jsonl",
		"seg.jsonl.broken.2":     "seg.jsonl",
		"seg.jsonl.broken.tmp":   "seg.jsonl",
		"seg.jsonl.broken.3.tmp": "seg.jsonl",
		"seg.jsonl":              "",
		"seg.jsonl.broken.1":     "",
		"seg.jsonl.broken.02":    "",
		"seg.jsonl.broken.x":     "",
		".broken":                "",
		"seg.jsonl.brokenx":      "",
	} {
		orig, ok := backend.RepairCopyOf(name)
		if ok != (want != "") || orig != want {
			t.Errorf("RepairCopyOf(%q) = %q, %v; want %q", name, orig, ok, want)
		}
	}
}
