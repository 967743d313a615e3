package jsonl

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

// config returns a jsonl Config for dir with the given params as key, value
// pairs; repairs are logged nowhere unless a test sets its own Logger.
// Segments are not preallocated unless the params say so, so tests that
// read and damage a segment's bytes see only records; the preallocated
// layout has tests of its own (prealloc_test.go) and the conformance suite
// runs with it on and off.
func config(dir string, kv ...string) backend.Config {
	cfg := backend.Config{Backend: "jsonl", Dir: dir, Params: map[string]string{ParamPreallocate: "false"},
		Logger: slog.New(slog.DiscardHandler)}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Params[kv[i]] = kv[i+1]
	}
	return cfg
}

func open(t testing.TB, cfg backend.Config) backend.WAL {
	t.Helper()
	w, err := backend.Open(context.Background(), cfg)
	require.NoError(t, err)
	return w
}

// payload returns the test payload for index i: JSON for even, binary for odd.
func payload(i uint64) []byte {
	if i%2 == 0 {
		return fmt.Appendf(nil, `{"op":"assert","index":%d}`, i)
	}
	return fmt.Appendf(nil, "bin\x00\xff%d\n", i)
}

// appendRange appends payload(i) for i in [from, to], one Append each.
func appendRange(t testing.TB, w backend.WAL, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		last, err := w.Append(context.Background(), payload(i))
		require.NoError(t, err)
		require.Equal(t, i, last)
	}
}

type record struct {
	index uint64
	data  []byte
}

func replayAll(t testing.TB, w backend.WAL, from uint64) []record {
	t.Helper()
	var got []record
	err := w.Replay(context.Background(), from, func(index uint64, data []byte) error {
		got = append(got, record{index, append([]byte(nil), data...)})
		return nil
	})
	require.NoError(t, err)
	return got
}

// requireLog checks that w holds exactly payload(i) for i in [first, last].
func requireLog(t testing.TB, w backend.WAL, first, last uint64) {
	t.Helper()
	f, l, err := w.Bounds(context.Background())
	require.NoError(t, err)
	require.Equal(t, [2]uint64{first, last}, [2]uint64{f, l}, "bounds")
	got := replayAll(t, w, first)
	require.Len(t, got, int(last+1-first))
	for k, r := range got {
		i := first + uint64(k)
		require.Equal(t, i, r.index)
		require.Equal(t, payload(i), r.data, "index %d", i)
	}
}

// dirBytes returns the contents of every file in dir.
func dirBytes(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
	}
	return files
}

// segmentPaths returns dir's segment files in index order.
func segmentPaths(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"+SegmentExt))
	require.NoError(t, err)
	return paths
}

// requireCorrupt checks that err is corruption in file at offset.
func requireCorrupt(t testing.TB, err error, file string, offset int64) *backend.CorruptError {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, file, ce.File, "file named by %v", err)
	require.Equal(t, offset, ce.Offset, "offset named by %v", err)
	return ce
}

// repairs records what a WAL reports to its Observer about torn tails.
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

// logRecords captures slog records with their attributes.
type logRecords struct {
	mu      sync.Mutex
	records []map[string]any
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"level": r.Level, "msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, m)
	h.mu.Unlock()
	return nil
}
