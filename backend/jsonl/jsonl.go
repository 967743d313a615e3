package jsonl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

const (
	// ParamSegmentBytes is the size at which the driver starts a new segment.
	ParamSegmentBytes = "segment_bytes"
	// DefaultSegmentBytes is ParamSegmentBytes when it is not set.
	DefaultSegmentBytes = 64 << 20
	// ParamPreallocate, when true (the default), allocates each segment's
	// segment_bytes when it is created, so a write and its fdatasync change
	// no file size.
	ParamPreallocate = "preallocate"
)

func init() {
	backend.Register("jsonl", backend.DriverFunc(Open))
}

// segment is one segment file: records first, first+1, ... in size bytes.
type segment struct {
	first uint64
	path  string
	size  int64
}

type wal struct {
	fs       vfs.FS
	dir      string
	syncMode backend.SyncMode
	segBytes int64
	prealloc bool

	mu          sync.Mutex // guards the fields below, which Replay and Bounds read
	segs        []segment  // in index order; the last one is active
	first, last uint64

	// Writer state: the wrapper serializes Append, Sync, TruncateFront and
	// Close, so these need no lock.
	active vfs.File // the last segment, open for appending; nil when there is none
	dirty  bool     // active holds writes not yet fsync'd
	buf    []byte   // the batch being encoded, reused across Appends
	// durable is the index through which the log is known fsync'd: every
	// record written carries it as its durability claim.
	durable uint64
}

// Open opens the jsonl WAL in cfg.Dir: it checks every segment, cuts off a
// torn tail, and finishes an interrupted TruncateFront. It is the driver
// registered as "jsonl"; use backend.Open, which adds the shared machinery.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	segBytes, prealloc, err := readParams(cfg)
	if err != nil {
		return nil, err
	}
	fs := cfg.FileSystem()
	rec, err := inspect(ctx, fs, cfg.Dir)
	if err != nil {
		return nil, err
	}
	active, err := rec.finish(fs, cfg.Dir, cfg.Log(), cfg.Observe())
	if err != nil {
		return nil, err
	}
	if active != nil {
		// What a crashed process left in the page cache is made durable
		// before any record claims it is. The segment is not preallocated
		// here: Open changes no file but to cut a torn tail, and the next
		// segment will be.
		if err := active.Sync(); err != nil {
			active.Close()
			return nil, fmt.Errorf("jsonl: sync %s before appending: %w", active.Name(), err)
		}
	}
	return &wal{
		fs:       fs,
		dir:      cfg.Dir,
		syncMode: cfg.Sync,
		segBytes: segBytes,
		prealloc: prealloc,
		segs:     rec.segs,
		first:    rec.first,
		last:     rec.last,
		active:   active,
		durable:  rec.last,
	}, nil
}

// readParams returns the params Open reads, or the error naming a bad one.
func readParams(cfg backend.Config) (segBytes int64, prealloc bool, err error) {
	p := backend.NewParams(cfg)
	segBytes = p.Int64(ParamSegmentBytes, DefaultSegmentBytes)
	prealloc = p.Bool(ParamPreallocate, true)
	if err := p.Err(); err != nil {
		return 0, false, err
	}
	if segBytes < 1 {
		return 0, false, fmt.Errorf("jsonl: param %s=%d: want a size of at least 1 byte", ParamSegmentBytes, segBytes)
	}
	return segBytes, prealloc, nil
}

// maxKeptBuffer bounds the encode buffer kept between Appends, so one huge
// record does not pin its memory.
const maxKeptBuffer = 1 << 20

func (w *wal) Append(_ context.Context, data ...[]byte) (uint64, error) {
	w.mu.Lock()
	next := w.last + 1
	w.mu.Unlock()

	buf := w.buf[:0]
	for i, d := range data {
		buf = AppendLine(buf, next+uint64(i), w.durable, d)
	}
	if cap(buf) <= maxKeptBuffer {
		w.buf = buf
	} else {
		w.buf = nil
	}
	if err := w.makeRoom(next, int64(len(buf))); err != nil {
		return 0, err
	}
	seg := w.segs[len(w.segs)-1] // only writers change segs, and this is the writer
	if _, err := w.active.Write(buf); err != nil {
		return 0, fmt.Errorf("jsonl: write %s at offset %d: %w", seg.path, seg.size, err)
	}
	last := next + uint64(len(data)) - 1
	if w.syncMode == backend.SyncAlways {
		if err := w.active.Sync(); err != nil {
			return 0, fmt.Errorf("jsonl: sync %s: %w", seg.path, err)
		}
		w.durable = last
	} else {
		w.dirty = true
	}
	w.mu.Lock()
	w.segs[len(w.segs)-1].size += int64(len(buf))
	w.last = last
	w.mu.Unlock()
	return last, nil
}

// makeRoom starts a new segment for a batch of n bytes starting at index next
// when there is no active segment or the batch would take it past segBytes.
// A batch always goes whole into one segment.
func (w *wal) makeRoom(next uint64, n int64) error {
	if w.active != nil {
		if size := w.segs[len(w.segs)-1].size; size == 0 || size+n <= w.segBytes {
			return nil
		}
		// Only the last segment may end torn, so the one being left behind is
		// made durable first, whatever the sync mode.
		if err := w.syncActive(); err != nil {
			return err
		}
		old := w.active
		w.active = nil
		if err := old.Close(); err != nil {
			return fmt.Errorf("jsonl: close %s: %w", old.Name(), err)
		}
	}
	path := filepath.Join(w.dir, SegmentName(next))
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, vfs.FileMode)
	if err != nil {
		return fmt.Errorf("jsonl: create segment %s: %w", path, err)
	}
	if w.prealloc {
		// Its size made durable now, so no later fdatasync has to.
		err := vfs.Preallocate(f, w.segBytes)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("jsonl: preallocate segment %s: %w", path, err)
		}
	}
	// The new name must be durable before a record in it is acknowledged.
	if err := w.fs.SyncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("jsonl: sync directory %s after creating %s: %w", w.dir, path, err)
	}
	w.active = f
	w.mu.Lock()
	w.segs = append(w.segs, segment{first: next, path: path})
	w.mu.Unlock()
	return nil
}

func (w *wal) syncActive() error {
	if !w.dirty {
		return nil
	}
	if err := w.active.Sync(); err != nil {
		return fmt.Errorf("jsonl: sync %s: %w", w.active.Name(), err)
	}
	w.dirty = false
	w.durable = w.last // only the writer changes last
	return nil
}

func (w *wal) Sync(context.Context) error { return w.syncActive() }

func (w *wal) Bounds(context.Context) (uint64, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last, nil
}

// TruncateFront persists the new first index in the marker before deleting
// any segment, so a crash in between leaves a log that starts at before, with
// leftovers that the next Open deletes.
func (w *wal) TruncateFront(_ context.Context, before uint64) error {
	// Appended records are made durable first, so the log on disk never ends
	// below the marker's first index except by truncation.
	if err := w.syncActive(); err != nil {
		return err
	}
	markerPath := filepath.Join(w.dir, MarkerFileName)
	if err := vfs.WriteFileAtomic(w.fs, markerPath, encodeMarker(before)); err != nil {
		return fmt.Errorf("jsonl: write %s (first index %d): %w", markerPath, before, err)
	}

	w.mu.Lock()
	drop := 0
	for i, seg := range w.segs {
		end := w.last + 1 // the index after the segment's last record
		if i+1 < len(w.segs) {
			end = w.segs[i+1].first
		}
		if seg.first >= before || end > before {
			break
		}
		drop++
	}
	dropped := w.segs[:drop]
	w.segs = append([]segment(nil), w.segs[drop:]...)
	w.first = before
	w.mu.Unlock()

	var errs []error
	if len(w.segs) == 0 && w.active != nil {
		if err := w.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("jsonl: close %s: %w", w.active.Name(), err))
		}
		w.active = nil
	}
	for _, seg := range dropped {
		if err := w.fs.Remove(seg.path); err != nil {
			errs = append(errs, fmt.Errorf("jsonl: remove segment %s: %w", seg.path, err))
		}
	}
	if len(dropped) > 0 {
		if err := w.fs.SyncDir(w.dir); err != nil {
			errs = append(errs, fmt.Errorf("jsonl: sync directory %s: %w", w.dir, err))
		}
	}
	return errors.Join(errs...)
}

// Close makes appended records durable and closes the active segment.
func (w *wal) Close() error {
	if w.active == nil {
		return nil
	}
	err := w.syncActive()
	if cerr := w.active.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("jsonl: close %s: %w", w.active.Name(), cerr)
	}
	w.active = nil
	return err
}
