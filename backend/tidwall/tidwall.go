package tidwall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	tw "github.com/tidwall/wal"
)

func init() {
	backend.Register("tidwall", backend.DriverFunc(Open))
	backend.RegisterParamChecker("tidwall", backend.ParamCheckerFunc(func(cfg backend.Config) error {
		_, _, err := segmentParams(cfg)
		return err
	}))
}

// segmentParams reads the params Open takes.
func segmentParams(cfg backend.Config) (segSize, cacheSize int64, err error) {
	p := backend.NewParams(cfg)
	segSize = p.Int64(ParamSegmentSize, defaultSegmentSize)
	cacheSize = p.Int64(ParamSegmentCacheSize, defaultSegmentCacheSize)
	if err := p.Err(); err != nil {
		return 0, 0, err
	}
	if segSize < 1 || segSize > maxSegmentSize {
		return 0, 0, fmt.Errorf("tidwall: param %s=%d: want 1 to %d bytes", ParamSegmentSize, segSize, maxSegmentSize)
	}
	if cacheSize < 1 || cacheSize > 1<<16 {
		return 0, 0, fmt.Errorf("tidwall: param %s=%d: want 1 to %d segments", ParamSegmentCacheSize, cacheSize, 1<<16)
	}
	return segSize, cacheSize, nil
}

// Params this backend reads; see the package documentation.
const (
	ParamSegmentSize      = "segment_size"
	ParamSegmentCacheSize = "segment_cache_size"
)

const (
	// SegmentsDir is the subdirectory of Config.Dir the library owns, so
	// that nothing else in Config.Dir is ever taken for a segment.
	SegmentsDir = "segments"

	defaultSegmentSize      = 20 << 20 // the library's default
	maxSegmentSize          = 1 << 30  // the last segment is held in memory whole
	defaultSegmentCacheSize = 2        // the library's default
)

// Open opens the WAL in cfg.Dir. backend.Open calls it through the registry
// and wraps the result; tests may call it through backend.OpenDriver.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	segSize, cacheSize, err := segmentParams(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	fs := cfg.FileSystem()
	if err := backend.CheckDir(fs, cfg.Dir, func(name string) bool { return name == SegmentsDir }); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Dir, SegmentsDir)
	if err := vfs.MkdirAllSynced(fs, dir); err != nil {
		return nil, fmt.Errorf("tidwall: create %s: %w", dir, err)
	}
	// The library does its own I/O through package os; cfg.FS serves the
	// adapter's scan, repair and directory fsyncs, so it must show the same files.
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("tidwall: the library writes through the operating system, so Config.FS must be a layer over its files: %w", err)
	}
	segs, err := listSegments(fs, dir)
	if err != nil {
		return nil, err
	}
	ld, err := checkSegments(fs, segs, cfg)
	if err != nil {
		return nil, err
	}

	lib, err := tw.Open(dir, &tw.Options{
		NoSync:           cfg.Sync == backend.SyncNone,
		SegmentSize:      int(segSize),
		LogFormat:        tw.Binary,
		SegmentCacheSize: int(cacheSize),
		NoCopy:           true, // Replay copies out of the cache itself
		AllowEmpty:       true, // TruncateFront(last+1) empties the log
		DirPerms:         0o755,
		FilePerms:        0o644,
	})
	if err != nil {
		return nil, libError("open", dir, 0, err)
	}
	w := &wal{lib: lib, fs: fs, dir: dir, syncAlways: cfg.Sync == backend.SyncAlways,
		segSize: segSize, tailBytes: ld.tailBytes, starts: ld.starts}
	w.last.Store(ld.last)
	if len(w.starts) == 0 {
		w.starts = []uint64{1} // the library has just created the first segment
	}
	// The library may have created the first segment or finished an
	// interrupted TruncateFront by renaming; neither is durable until now.
	if err := fs.SyncDir(dir); err != nil {
		closeLibrary(lib)
		return nil, fmt.Errorf("tidwall: fsync directory %s: %w", dir, err)
	}
	first, last, err := w.Bounds(ctx)
	if err == nil && (first != ld.first || last != ld.last) {
		err = fmt.Errorf("tidwall: library loaded indexes [%d, %d] from %s but the check found [%d, %d] (did the files change during Open?)",
			first, last, dir, ld.first, ld.last)
	}
	if err != nil {
		closeLibrary(lib)
		return nil, err
	}
	return w, nil
}

// wal adapts a *tw.Log to backend.WAL. The wrapper serializes Append, Sync
// and TruncateFront; Replay and Bounds run concurrently with them.
type wal struct {
	lib        *tw.Log
	fs         vfs.FS
	dir        string
	syncAlways bool
	segSize    int64

	// Owned by the serialized writes.
	batch     tw.Batch
	env       []byte
	tailBytes int64 // the library's size of the last segment, to predict rotation
	dirDirty  bool  // a segment was created since the last directory fsync

	// last is the last index the library wrote without error; Replay stops
	// there, since after a failed write the library's own last may count a
	// record it never finished.
	last atomic.Uint64

	readMu sync.Mutex // serializes the library's Read; see libRead

	mu     sync.Mutex // guards the fields below
	starts []uint64   // first index of each segment, ascending
	failed error      // the first write error, after which the library's memory is suspect
}

func (w *wal) Append(_ context.Context, data ...[]byte) (uint64, error) {
	w.batch.Clear()
	first := w.last.Load() + 1
	// Mirror the library's rotation rule (tw.Log.writeBatch) to learn which
	// segments this batch creates, since their directory entries need an fsync.
	tail := w.tailBytes
	var created []uint64
	if tail > w.segSize {
		created, tail = append(created, first), 0
	}
	for i, d := range data {
		index := first + uint64(i)
		w.env = backend.AppendEnvelope(w.env[:0], index, d)
		w.batch.Write(index, w.env)
		tail += frameSize(len(w.env))
		if tail >= w.segSize {
			created, tail = append(created, index+1), 0
		}
	}
	if cap(w.env) > 1<<20 {
		w.env = nil // do not hold on to one large record's buffer
	}
	last := first + uint64(len(data)) - 1
	if err := w.lib.WriteBatch(&w.batch); err != nil {
		w.batch.Clear()
		return 0, w.fail(libError(fmt.Sprintf("append indexes %d to %d", first, last), w.tailPath(), last, err))
	}
	w.last.Store(last)
	w.tailBytes = tail
	if len(created) > 0 {
		w.mu.Lock()
		w.starts = append(w.starts, created...)
		w.mu.Unlock()
		w.dirDirty = true
		if w.syncAlways {
			if err := w.syncDir(); err != nil {
				return 0, err
			}
		}
	}
	return last, nil
}

func (w *wal) syncDir() error {
	if err := w.fs.SyncDir(w.dir); err != nil {
		return fmt.Errorf("tidwall: fsync directory %s: %w", w.dir, err)
	}
	w.dirDirty = false
	return nil
}

// fail remembers the first write error, so that a later read the library
// gets wrong is reported as its consequence rather than as damage on disk.
func (w *wal) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = err
	}
	return err
}

// afterFailure returns err explained by an earlier write error, if any.
func (w *wal) afterFailure(index uint64, err error) error {
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	if failed == nil || errors.Is(err, backend.ErrClosed) {
		return err
	}
	return fmt.Errorf("tidwall: read index %d after a failed write left the library inconsistent (close and reopen): %v: %w",
		index, err, failed)
}

// tailPath returns the path of the last segment.
func (w *wal) tailPath() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return filepath.Join(w.dir, segmentName(w.starts[len(w.starts)-1]))
}

// segmentPath returns the path of the segment holding index.
func (w *wal) segmentPath(index uint64) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := sort.Search(len(w.starts), func(i int) bool { return w.starts[i] > index }) - 1
	if i < 0 {
		i = 0
	}
	return filepath.Join(w.dir, segmentName(w.starts[i]))
}

func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	last := w.last.Load()
	var buf []byte
	for index := from; index <= last; index++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		env, err := w.read(index)
		if err != nil {
			return w.afterFailure(index, err)
		}
		payload, err := backend.DecodeEnvelope(env, index)
		if err != nil {
			var ce *backend.CorruptError
			if errors.As(err, &ce) {
				err = w.located(ce)
			}
			return w.afterFailure(index, err)
		}
		// The payload aliases the library's cache; a callback that writes
		// to its argument must not damage the next Replay.
		buf = append(buf[:0], payload...)
		if err := fn(index, buf); err != nil {
			return err
		}
	}
	return nil
}

// read returns the frame contents the library holds for index.
func (w *wal) read(index uint64) ([]byte, error) {
	env, err := w.libRead(index)
	if errors.Is(err, tw.ErrNotFound) {
		// TruncateFront ran concurrently and removed index.
		first, _ := w.lib.FirstIndex()
		last, _ := w.lib.LastIndex()
		return nil, fmt.Errorf("tidwall: %w (%w)", backend.OutOfRange("replay at", index, first, last), err)
	}
	if err != nil {
		var ce *backend.CorruptError
		if !errors.As(err, &ce) {
			err = libError("read", w.segmentPath(index), index, err)
		}
		return nil, err
	}
	return env, nil
}

// libRead calls the library's Read, one at a time: it fills and evicts its
// segment cache under only a read lock, so two Reads race. It indexes that
// cache without bounds checks, so a file changed under it can panic; that is
// reported as corruption.
func (w *wal) libRead(index uint64) (env []byte, err error) {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = &backend.CorruptError{File: w.segmentPath(index), Offset: -1, Index: index,
				Reason: fmt.Sprintf("library failed reading the segment: %v", r)}
		}
	}()
	return w.lib.Read(index)
}

// located adds the file and offset to an envelope failure found by Replay,
// walking the segment's frames to find the record.
func (w *wal) located(e *backend.CorruptError) error {
	e.File = w.segmentPath(e.Index)
	e.Offset = -1
	w.mu.Lock()
	start := w.starts[0]
	for _, s := range w.starts {
		if s <= e.Index {
			start = s
		}
	}
	w.mu.Unlock()
	if data, err := vfs.ReadFile(w.fs, e.File); err == nil {
		var off int64
		for i := start; i < e.Index; i++ {
			_, n, reason := frame(data[off:])
			if reason != "" {
				return e
			}
			off += int64(n)
		}
		e.Offset = off
	}
	return e
}

func (w *wal) Bounds(context.Context) (uint64, uint64, error) {
	first, err := w.lib.FirstIndex()
	if err != nil {
		return 0, 0, libError("bounds", w.dir, 0, err)
	}
	last, err := w.lib.LastIndex()
	if err != nil {
		return 0, 0, libError("bounds", w.dir, 0, err)
	}
	return first, last, nil
}

func (w *wal) TruncateFront(_ context.Context, before uint64) error {
	if err := w.lib.TruncateFront(before); err != nil {
		return w.fail(libError(fmt.Sprintf("truncate before %d", before), w.dir, before, err))
	}
	// The library renamed the segment holding before to its name and removed
	// the older ones; fsync the directory so the removal is durable.
	w.mu.Lock()
	i := sort.Search(len(w.starts), func(i int) bool { return w.starts[i] > before }) - 1
	tailRewritten := i == len(w.starts)-1
	w.starts = append([]uint64{before}, w.starts[i+1:]...)
	w.mu.Unlock()
	if err := w.syncDir(); err != nil {
		return err
	}
	if tailRewritten {
		fi, err := w.fs.Stat(w.tailPath())
		if err != nil {
			return fmt.Errorf("tidwall: stat rewritten segment: %w", err)
		}
		w.tailBytes = fi.Size()
	}
	return nil
}

func (w *wal) Sync(context.Context) error {
	if err := w.lib.Sync(); err != nil {
		return w.fail(libError("sync", w.tailPath(), 0, err))
	}
	if w.dirDirty {
		return w.syncDir()
	}
	return nil
}

// Close closes the library, which fsyncs the last segment, and fsyncs the
// directory if a segment was created since the last time.
func (w *wal) Close() error {
	err := closeLibrary(w.lib)
	if err != nil {
		err = libError("close", w.tailPath(), 0, err)
	}
	if w.dirDirty {
		if derr := w.syncDir(); err == nil {
			err = derr
		}
	}
	return err
}

// libError maps the library's errors to the backend sentinels, keeping the
// library's error reachable with errors.Is and errors.As.
func libError(op, file string, index uint64, err error) error {
	switch {
	case errors.Is(err, tw.ErrCorrupt):
		return &backend.CorruptError{File: file, Offset: -1, Index: index,
			Reason: "library reports the log corrupt during " + op, Err: err}
	case errors.Is(err, tw.ErrClosed):
		return fmt.Errorf("tidwall: %s: %w (%w)", op, backend.ErrClosed, err)
	case errors.Is(err, tw.ErrOutOfRange), errors.Is(err, tw.ErrNotFound):
		return fmt.Errorf("tidwall: %s: %w (%w)", op, backend.ErrOutOfRange, err)
	}
	return fmt.Errorf("tidwall: %s in %s: %w", op, file, err)
}
