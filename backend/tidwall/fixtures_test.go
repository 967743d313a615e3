package tidwall_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/tidwall"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

var ctx = context.Background()

// opts are the knobs a test turns when opening a WAL.
type opts struct {
	sync   backend.SyncMode
	params map[string]string
	fs     vfs.FS
	obs    backend.Observer
}

func config(dir string, o opts) backend.Config {
	return backend.Config{Backend: "tidwall", Dir: dir, Sync: o.sync, Params: o.params, FS: o.fs,
		Observer: o.obs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func tryOpen(dir string, o opts) (backend.WAL, error) {
	return backend.Open(ctx, config(dir, o))
}

func mustOpen(t testing.TB, dir string, o opts) backend.WAL {
	t.Helper()
	w, err := tryOpen(dir, o)
	require.NoError(t, err)
	return w
}

func small(size string) opts {
	return opts{params: map[string]string{tidwall.ParamSegmentSize: size}}
}

// record returns the payload written at index: its length varies with the
// index, so neighbouring records differ in content and in size.
func record(index uint64) []byte {
	n := 10 + int(index*7%50)
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(index, 42))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// appendRecords appends the records for indexes after the current last, in
// batches of up to batch records, and returns the new last index.
func appendRecords(t testing.TB, w backend.WAL, n, batch int) uint64 {
	t.Helper()
	_, last, err := w.Bounds(ctx)
	require.NoError(t, err)
	for n > 0 {
		k := min(n, batch)
		var data [][]byte
		for i := 1; i <= k; i++ {
			data = append(data, record(last+uint64(i)))
		}
		got, err := w.Append(ctx, data...)
		require.NoError(t, err)
		require.Equal(t, last+uint64(k), got)
		last, n = got, n-k
	}
	return last
}

// replayAll returns every record from the first, or the error Replay gave
// along with the records it delivered before it.
func replayAll(w backend.WAL) (first uint64, recs [][]byte, err error) {
	first, _, err = w.Bounds(ctx)
	if err != nil {
		return 0, nil, err
	}
	err = w.Replay(ctx, first, func(index uint64, data []byte) error {
		if want := first + uint64(len(recs)); index != want {
			return fmt.Errorf("replay gave index %d, want %d", index, want)
		}
		recs = append(recs, append([]byte(nil), data...))
		return nil
	})
	return first, recs, err
}

// requireRecords checks the log holds exactly record(first..last).
func requireRecords(t testing.TB, w backend.WAL, first, last uint64) {
	t.Helper()
	f, l, err := w.Bounds(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{first, last}, [2]uint64{f, l}, "bounds")
	got, recs, err := replayAll(w)
	require.NoError(t, err)
	require.Equal(t, first, got)
	require.Len(t, recs, int(last+1-first))
	for i, r := range recs {
		require.Equal(t, record(first+uint64(i)), r, "record %d", first+uint64(i))
	}
}

func segDir(dir string) string { return filepath.Join(dir, tidwall.SegmentsDir) }

// segments returns the paths of the segment files in dir's WAL, in order.
func segments(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(segDir(dir))
	require.NoError(t, err)
	var paths []string
	for _, e := range entries {
		if len(e.Name()) == 20 {
			paths = append(paths, filepath.Join(segDir(dir), e.Name()))
		}
	}
	return paths
}

// snapshot returns every file under dir and its contents.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path[len(dir):]] = string(b)
		return err
	})
	require.NoError(t, err)
	return files
}

// copyDir copies the WAL in src to a new directory and returns it.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for name, data := range snapshot(t, src) {
		path := filepath.Join(dst, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
	}
	return dst
}

// repairs records the torn tails an Observer is told of.
type repairs struct {
	backend.NopObserver
	mu    sync.Mutex
	files []string
	bytes []int64
}

func (r *repairs) TailRepaired(file string, dropped int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = append(r.files, file)
	r.bytes = append(r.bytes, dropped)
}

func (r *repairs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.files)
}

// syncedFS records, for each directory fsync, the names the directory held,
// so a test can check that no file appeared without a directory fsync after it.
type syncedFS struct {
	vfs.FS
	mu     sync.Mutex
	synced map[string][]string // directory -> names at its last SyncDir
	calls  int
}

func newSyncedFS() *syncedFS { return &syncedFS{FS: vfs.Default, synced: map[string][]string{}} }

func (f *syncedFS) SyncDir(name string) error {
	names, err := f.FS.ReadDir(name)
	if err != nil {
		return err
	}
	if err := f.FS.SyncDir(name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced[filepath.Clean(name)] = names
	f.calls++
	return nil
}

// requireDurableListing checks that dir holds the same names as at its last
// directory fsync: nothing created, renamed or removed since is left unsynced.
func (f *syncedFS) requireDurableListing(t testing.TB, dir string) {
	t.Helper()
	names, err := f.FS.ReadDir(dir)
	require.NoError(t, err)
	f.mu.Lock()
	synced := f.synced[filepath.Clean(dir)]
	f.mu.Unlock()
	sort.Strings(synced)
	require.Equal(t, synced, names, "entries of %s changed since its last fsync", dir)
}
