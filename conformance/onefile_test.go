package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// onefile is a tiny persistent backend for the suite's own tests: one file
// holding a header (the first index and its checksum) and then the records in
// backend envelopes. It gives the kill -9 case a backend to pass, and with
// flaws set, broken backends the suite must catch. It treats any bad record as
// a torn tail, which a real backend must not do.
type onefile struct {
	fs    vfs.FS
	path  string
	sync  backend.SyncMode
	flaws flaws

	mu      sync.RWMutex // guards first and records against Replay and Bounds
	first   uint64
	records [][]byte // records[i] has index first+i
	f       vfs.File
	pending []byte // written but not yet handed to the OS (flaws.buffered)
}

// flaws are deliberate bugs, each breaking one rule of the contract.
type flaws struct {
	dropLastOnReopen bool // loses the last record at every Open
	resetWhenEmpty   bool // an empty log reopens at (1, 0), reusing indexes
	keepCallerSlices bool // keeps Append's slices instead of copying them
	buffered         bool // acknowledges Appends before writing them

	ignoresForeignFiles bool // opens a directory of someone else's files as an empty log
	createsBeforeCheck  bool // creates its file before refusing foreign ones
	truncateInPlace     bool // TruncateFront rewrites the file in place, not atomically
	worldReadable       bool // creates its file 0644, ignoring Config.Modes

	holeIsCorruption bool // refuses a bad record followed by a valid one, as rule 4 did before durability claims
	cutsToThePage    bool // cuts a bad record off at the 4 KiB page it starts in, with the records before it there
}

const (
	onefileName   = "log"
	onefileHeader = 12 // first index (8) and its CRC32C (4)
)

// openOnefile returns a harness Open function for a onefile log with fl.
func openOnefile(mode backend.SyncMode, fl flaws) func(ctx context.Context, dir string) (backend.WAL, error) {
	open := openOnefileFS(mode, fl)
	return func(ctx context.Context, dir string) (backend.WAL, error) {
		return open(ctx, vfs.Default, dir)
	}
}

// openOnefileFS returns a harness OpenFS function for a onefile log with fl.
func openOnefileFS(mode backend.SyncMode, fl flaws) func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error) {
	d := backend.DriverFunc(func(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
		if err := backend.NewParams(cfg).Err(); err != nil {
			return nil, err
		}
		fs := cfg.FileSystem()
		if fl.worldReadable {
			fs = vfs.WithModes(fs, 0o644, vfs.DirMode)
		}
		w := &onefile{fs: fs, path: filepath.Join(cfg.Dir, onefileName), sync: cfg.Sync, flaws: fl}
		if fl.createsBeforeCheck {
			early := &onefile{fs: fs, path: w.path, sync: cfg.Sync}
			if err := early.load(); err != nil {
				return nil, err
			}
			early.f.Close()
		}
		if !fl.ignoresForeignFiles {
			owned := func(name string) bool { return name == onefileName || name == onefileName+".tmp" }
			if err := backend.CheckDir(fs, cfg.Dir, owned); err != nil {
				return nil, err
			}
		}
		if err := w.load(); err != nil {
			return nil, err
		}
		return w, nil
	})
	return func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error) {
		return backend.OpenDriver(ctx, d, backend.Config{Backend: "onefile", Dir: dir, Sync: mode, FS: fsys})
	}
}

func header(first uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, first)
	return binary.BigEndian.AppendUint32(b, backend.Checksum(b))
}

// load reads the file, creating it if missing, and cuts off a torn tail.
func (w *onefile) load() error {
	if _, err := w.fs.Stat(w.path); errors.Is(err, os.ErrNotExist) {
		if err := vfs.WriteFileAtomic(w.fs, w.path, header(1)); err != nil {
			return fmt.Errorf("onefile: create %s: %w", w.path, err)
		}
	}
	data, err := vfs.ReadFile(w.fs, w.path)
	if err != nil {
		return fmt.Errorf("onefile: read %s: %w", w.path, err)
	}
	if len(data) < onefileHeader || !bytes.Equal(data[:onefileHeader], header(binary.BigEndian.Uint64(data))) {
		return &backend.CorruptError{File: w.path, Offset: 0, Reason: "bad header"}
	}
	w.first = binary.BigEndian.Uint64(data)
	off, lastOff := int64(onefileHeader), int64(onefileHeader)
	var starts []int64 // where each record starts
	for {
		rest := data[off:]
		if len(rest) < backend.EnvelopeHeaderSize {
			break
		}
		n := int64(backend.EnvelopeHeaderSize) + int64(binary.BigEndian.Uint32(rest[12:]))
		if n > int64(len(rest)) {
			break
		}
		rec, err := backend.DecodeEnvelope(rest[:n], w.first+uint64(len(w.records)))
		if err != nil {
			break
		}
		w.records, starts = append(w.records, bytes.Clone(rec)), append(starts, off)
		lastOff, off = off, off+n
	}
	if w.flaws.holeIsCorruption && off < int64(len(data)) && validEnvelopeAfter(data, off) {
		return &backend.CorruptError{File: w.path, Offset: off, Index: w.first + uint64(len(w.records)),
			Reason: "bad record followed by a valid one"}
	}
	if w.flaws.cutsToThePage && off < int64(len(data)) {
		off = max(off&^4095, onefileHeader)
		for len(starts) > 0 && starts[len(starts)-1] >= off {
			starts, w.records = starts[:len(starts)-1], w.records[:len(w.records)-1]
		}
	}
	if w.flaws.dropLastOnReopen && len(w.records) > 0 {
		w.records, off = w.records[:len(w.records)-1], lastOff
	}
	if w.flaws.resetWhenEmpty && len(w.records) == 0 && w.first != 1 {
		w.first = 1
		if err := vfs.WriteFileAtomic(w.fs, w.path, header(1)); err != nil {
			return err
		}
	}
	if w.f, err = w.fs.OpenFile(w.path, os.O_RDWR, 0); err != nil {
		return fmt.Errorf("onefile: open %s: %w", w.path, err)
	}
	if off < int64(len(data)) {
		if err := w.f.Truncate(off); err != nil {
			w.f.Close()
			return fmt.Errorf("onefile: cut torn tail of %s at offset %d: %w", w.path, off, err)
		}
	}
	if _, err := w.f.Seek(0, io.SeekEnd); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Sync()
}

// validEnvelopeAfter reports whether a valid envelope starts anywhere after
// offset bad in data.
func validEnvelopeAfter(data []byte, bad int64) bool {
	for p := bad + 1; p+backend.EnvelopeHeaderSize <= int64(len(data)); p++ {
		rest := data[p:]
		n := int64(backend.EnvelopeHeaderSize) + int64(binary.BigEndian.Uint32(rest[12:]))
		if n > int64(len(rest)) {
			continue
		}
		index := binary.BigEndian.Uint64(rest[4:])
		if _, err := backend.DecodeEnvelope(rest[:n], index); err == nil && index != 0 {
			return true
		}
	}
	return false
}

func (w *onefile) Append(_ context.Context, data ...[]byte) (uint64, error) {
	w.mu.RLock()
	next := w.first + uint64(len(w.records))
	w.mu.RUnlock()
	var buf []byte
	for i, d := range data {
		buf = backend.AppendEnvelope(buf, next+uint64(i), d)
	}
	if w.flaws.buffered {
		w.pending = append(w.pending, buf...)
	} else if err := w.write(buf); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range data {
		if !w.flaws.keepCallerSlices {
			d = bytes.Clone(d)
		}
		w.records = append(w.records, d)
	}
	return w.first + uint64(len(w.records)) - 1, nil
}

func (w *onefile) write(buf []byte) error {
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("onefile: write %s: %w", w.path, err)
	}
	if w.sync == backend.SyncAlways {
		return w.f.Sync()
	}
	return nil
}

func (w *onefile) flush() error {
	buf := w.pending
	w.pending = nil
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("onefile: write %s: %w", w.path, err)
	}
	return w.f.Sync()
}

func (w *onefile) Replay(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	w.mu.RLock()
	first, records := w.first, w.records
	w.mu.RUnlock()
	if from < first {
		return backend.OutOfRange("onefile: replay from", from, first, first+uint64(len(records))-1)
	}
	for i := from - first; i < uint64(len(records)); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(first+i, records[i]); err != nil {
			return err
		}
	}
	return nil
}

func (w *onefile) Bounds(context.Context) (uint64, uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.first, w.first + uint64(len(w.records)) - 1, nil
}

// TruncateFront rewrites the file with the records kept, atomically.
func (w *onefile) TruncateFront(_ context.Context, before uint64) error {
	w.mu.RLock()
	kept := w.records[before-w.first:]
	w.mu.RUnlock()
	buf := header(before)
	for i, d := range kept {
		buf = backend.AppendEnvelope(buf, before+uint64(i), d)
	}
	rewrite := vfs.WriteFileAtomic
	if w.flaws.truncateInPlace {
		rewrite = writeInPlace
	}
	if err := rewrite(w.fs, w.path, buf); err != nil {
		return fmt.Errorf("onefile: rewrite %s: %w", w.path, err)
	}
	f, err := w.fs.OpenFile(w.path, os.O_RDWR, 0)
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		return fmt.Errorf("onefile: reopen %s: %w", w.path, err)
	}
	w.f.Close()
	w.mu.Lock()
	w.f, w.first, w.records, w.pending = f, before, append([][]byte(nil), kept...), nil
	w.mu.Unlock()
	return nil
}

// writeInPlace truncates name and writes data into it: a crash between the
// two leaves an empty file (flaws.truncateInPlace).
func writeInPlace(fs vfs.FS, name string, data []byte) error {
	f, err := vfs.Create(fs, name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (w *onefile) Sync(context.Context) error { return w.flush() }

func (w *onefile) Close() error {
	err := w.flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
