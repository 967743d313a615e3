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
	// ParamWriteBuffer is how many bytes of SyncNone Appends may wait in
	// memory before one write hands them to the OS. The default, 0, writes
	// every Append before it returns, so it survives kill -9 as SyncNone
	// promises; a buffer trades that for fewer system calls (see Crash
	// safety in the package doc).
	ParamWriteBuffer = "write_buffer"
)

// params are what Open reads from Config.Params.
type params struct {
	segBytes    int64
	prealloc    bool
	writeBuffer int64
}

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
	// writeBuffer is how many bytes pending may hold under SyncNone before
	// it is written; 0 writes every Append.
	writeBuffer int

	mu          sync.Mutex // guards the fields below, which Replay and Bounds read
	segs        []segment  // in index order; the last one is active, its size counting pending
	first, last uint64
	// pending holds the lines SyncNone Appends encoded and have not yet
	// written to active (see flushLocked).
	pending []byte
	// werr is the first failed write of pending: the segment may now end in
	// part of a line, so nothing more is written to it.
	werr error
	// active is the last segment, open for appending; nil when there is
	// none. Only the writer changes it, holding mu.
	active vfs.File

	// Writer state: the wrapper serializes Append, Sync, TruncateFront and
	// Close, so these need no lock, and the writer reads last and active
	// without it too, since only the writer changes them.
	dirty bool   // active holds, or pending will give it, records not yet fsync'd
	buf   []byte // SyncAlways: the batch being encoded, reused across Appends
	// durable is the index through which the log is known fsync'd: every
	// record written carries it as its durability claim.
	durable uint64
}

// Open opens the jsonl WAL in cfg.Dir: it checks every segment, cuts off a
// torn tail, and finishes an interrupted TruncateFront. It is the driver
// registered as "jsonl"; use backend.Open, which adds the shared machinery.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	p, err := readParams(cfg)
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
		fs:          fs,
		dir:         cfg.Dir,
		syncMode:    cfg.Sync,
		segBytes:    p.segBytes,
		prealloc:    p.prealloc,
		writeBuffer: int(p.writeBuffer),
		segs:        rec.segs,
		first:       rec.first,
		last:        rec.last,
		active:      active,
		durable:     rec.last,
	}, nil
}

// readParams returns the params Open reads, or the error naming a bad one.
func readParams(cfg backend.Config) (params, error) {
	p := backend.NewParams(cfg)
	out := params{
		segBytes:    p.Int64(ParamSegmentBytes, DefaultSegmentBytes),
		prealloc:    p.Bool(ParamPreallocate, true),
		writeBuffer: p.Int64(ParamWriteBuffer, 0),
	}
	if err := p.Err(); err != nil {
		return params{}, err
	}
	if out.segBytes < 1 {
		return params{}, fmt.Errorf("jsonl: param %s=%d: want a size of at least 1 byte", ParamSegmentBytes, out.segBytes)
	}
	if out.writeBuffer < 0 || out.writeBuffer > maxKeptBuffer {
		return params{}, fmt.Errorf("jsonl: param %s=%d: want a size from 0 to %d bytes", ParamWriteBuffer, out.writeBuffer, maxKeptBuffer)
	}
	return out, nil
}

// maxKeptBuffer bounds the encode buffer kept between Appends, so one huge
// record does not pin its memory.
const maxKeptBuffer = 1 << 20

// keep returns buf for reuse, or nil when it has grown past maxKeptBuffer.
func keep(buf []byte) []byte {
	if cap(buf) > maxKeptBuffer {
		return nil
	}
	return buf[:0]
}

func (w *wal) Append(_ context.Context, data ...[]byte) (uint64, error) {
	if w.syncMode == backend.SyncAlways {
		return w.appendSynced(data)
	}
	// SyncNone: the batch is encoded onto pending, which is written when it
	// outgrows writeBuffer (at once, by default) or when something needs it
	// on disk.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.werr != nil {
		return 0, w.werr
	}
	next := w.last + 1
	start := len(w.pending)
	for i, d := range data {
		w.pending = AppendLine(w.pending, next+uint64(i), w.durable, d)
	}
	n := int64(len(w.pending) - start)
	if w.needRoom(n) {
		// The batch goes whole into the new segment; what was pending
		// before it goes into the one being left.
		w.buf = append(w.buf[:0], w.pending[start:]...)
		w.pending = w.pending[:start]
		if err := w.startSegment(next); err != nil {
			return 0, err
		}
		w.pending = append(w.pending, w.buf...)
		w.buf = keep(w.buf)
	}
	last := next + uint64(len(data)) - 1
	w.segs[len(w.segs)-1].size += n
	w.last = last
	w.dirty = true
	if len(w.pending) > w.writeBuffer {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// appendSynced is Append under SyncAlways: one write and one fdatasync of
// the batch, with mu held only to start a segment and to publish the batch.
func (w *wal) appendSynced(data [][]byte) (uint64, error) {
	next := w.last + 1
	buf := w.buf[:0]
	for i, d := range data {
		buf = AppendLine(buf, next+uint64(i), w.durable, d)
	}
	w.buf = keep(buf)
	if w.needRoom(int64(len(buf))) {
		w.mu.Lock()
		err := w.startSegment(next)
		w.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	seg := w.segs[len(w.segs)-1] // only writers change segs, and this is the writer
	if _, err := w.active.Write(buf); err != nil {
		return 0, fmt.Errorf("jsonl: write %s at offset %d: %w", seg.path, seg.size, err)
	}
	last := next + uint64(len(data)) - 1
	if err := w.active.Sync(); err != nil {
		return 0, fmt.Errorf("jsonl: sync %s: %w", seg.path, err)
	}
	w.durable = last
	w.mu.Lock()
	w.segs[len(w.segs)-1].size += int64(len(buf))
	w.last = last
	w.mu.Unlock()
	return last, nil
}

// needRoom reports whether a batch of n bytes needs a new segment: there is
// no active one, or the batch would take it past segBytes. A batch always
// goes whole into one segment.
func (w *wal) needRoom(n int64) bool {
	if w.active == nil {
		return true
	}
	size := w.segs[len(w.segs)-1].size
	return size != 0 && size+n > w.segBytes
}

// startSegment makes the active segment, if any, durable and closes it, then
// creates the segment starting at index next and makes it active. The
// caller holds mu.
func (w *wal) startSegment(next uint64) error {
	if w.active != nil {
		// Only the last segment may end torn, so the one being left behind is
		// made durable first, whatever the sync mode.
		if err := w.flushLocked(); err != nil {
			return err
		}
		if err := w.syncWritten(); err != nil {
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
	w.segs = append(w.segs, segment{first: next, path: path})
	return nil
}

// flushLocked writes pending to the active segment, where its bytes are
// already counted. The caller holds mu: the writer, or a Replay that needs
// the records on disk.
func (w *wal) flushLocked() error {
	if w.werr != nil {
		return w.werr
	}
	if len(w.pending) == 0 {
		return nil
	}
	seg := w.segs[len(w.segs)-1]
	if _, err := w.active.Write(w.pending); err != nil {
		w.werr = fmt.Errorf("jsonl: write %s at offset %d: %w", seg.path, seg.size-int64(len(w.pending)), err)
		return w.werr
	}
	w.pending = keep(w.pending)
	return nil
}

// syncWritten fsyncs what the writer wrote to the active segment, once
// pending is flushed.
func (w *wal) syncWritten() error {
	if !w.dirty {
		return nil
	}
	if err := w.active.Sync(); err != nil {
		return fmt.Errorf("jsonl: sync %s: %w", w.active.Name(), err)
	}
	w.dirty = false
	w.durable = w.last
	return nil
}

// syncActive makes every appended record durable: it writes pending and
// fsyncs the active segment.
func (w *wal) syncActive() error {
	w.mu.Lock()
	err := w.flushLocked()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.syncWritten()
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
		w.mu.Lock()
		w.active = nil
		w.mu.Unlock()
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
	w.mu.Lock()
	w.active = nil
	w.mu.Unlock()
	return err
}
