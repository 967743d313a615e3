package jsonl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

func init() {
	backend.RegisterInspector("jsonl", checker{})
	backend.RegisterSalvager("jsonl", checker{})
}

// checker is the jsonl backend's backend.Inspector and backend.Salvager, for
// the operator tools: both run Open's own scan (inspect), which only reads.
type checker struct{}

// Inspect reports what Open (and a Replay, which checks the same records
// again) would find, with Inspect.
func (checker) Inspect(ctx context.Context, cfg backend.Config) (backend.Inspection, error) {
	fs := cfg.FileSystem()
	r, err := Inspect(ctx, fs, cfg.Dir)
	if err != nil {
		return backend.Inspection{}, err
	}
	in := backend.Inspection{First: r.First, Last: r.Last}
	for i, path := range r.Segments {
		span := backend.FileSpan{Path: path, Last: r.Last}
		// The name gives the first index; the first segment may also hold
		// records below the log's first index, which are not the log's.
		first, err := ParseSegmentName(filepath.Base(path))
		if err != nil {
			return backend.Inspection{}, err
		}
		span.First = max(first, r.First)
		if i+1 < len(r.Segments) {
			next, err := ParseSegmentName(filepath.Base(r.Segments[i+1]))
			if err != nil {
				return backend.Inspection{}, err
			}
			span.Last = next - 1
		}
		in.Files = append(in.Files, span)
	}
	if t := r.TornTail; t != nil {
		fi, err := fs.Stat(t.Damage.File)
		if err != nil {
			return backend.Inspection{}, fmt.Errorf("jsonl: stat %s: %w", t.Damage.File, err)
		}
		torn := *t.Damage
		in.Torn, in.TornBytes = &torn, fi.Size()-t.Good
	}
	return in, nil
}

// Salvage cuts the log at the first damage Open refuses: the segment holding
// it is cut at the bad record (or moved aside whole when the damage is its
// first record or its name, as with a missing segment before it), and every
// later segment is moved aside. Each pass removes a segment or ends with a
// clean cut, and moving the front segment aside can leave a log whose start
// is missing, so the scan runs until Open would accept the log. A damaged first-index marker is refused:
// it alone says which records exist.
func (checker) Salvage(ctx context.Context, cfg backend.Config) (backend.SalvageReport, error) {
	fs := cfg.FileSystem()
	var rep backend.SalvageReport
	var highest uint64
	for {
		rec, err := inspect(ctx, fs, cfg.Dir)
		var damage *backend.CorruptError
		if err == nil {
			if rep.Damage != nil {
				rep.First, rep.Last = rec.first, rec.last
				rep.RemovedFrom = rec.last + 1
				rep.RemovedTo = max(highest, rep.Damage.Index, rep.RemovedFrom)
			}
			return rep, nil
		}
		if !errors.As(err, &damage) {
			return rep, err
		}
		listing, err := listDir(fs, cfg.Dir)
		if err != nil {
			return rep, err
		}
		at := -1
		for i, seg := range listing.segments {
			if seg.path == damage.File {
				at = i
			}
		}
		if at < 0 {
			return rep, fmt.Errorf("jsonl: cut at corruption in %s: only damage to segments can be cut out: %w", cfg.Dir, damage)
		}
		if rep.Damage == nil {
			rep.Damage = damage
		}
		for i, seg := range listing.segments[at:] {
			cut := int64(-1) // move aside
			if i == 0 && damage.Offset > 0 {
				cut = damage.Offset
			}
			high, changed, err := cutSegment(fs, seg.path, cut)
			if err != nil {
				return rep, err
			}
			highest = max(highest, high)
			rep.Files = append(rep.Files, changed)
			rep.RemovedBytes += changed.Size - max(changed.Kept, 0)
		}
	}
}

// cutSegment cuts the segment at path to offset cut, or moves it aside whole
// when cut is -1, keeping a copy, and returns the highest index among the
// records that decode in what it removed.
func cutSegment(fs vfs.FS, path string, cut int64) (uint64, backend.SalvagedFile, error) {
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return 0, backend.SalvagedFile{}, fmt.Errorf("jsonl: read %s: %w", path, err)
	}
	var changed backend.SalvagedFile
	if cut < 0 {
		changed, err = backend.MoveAside(fs, path)
	} else {
		changed, err = backend.CutFile(fs, path, cut)
		data = data[cut:]
	}
	if err != nil {
		return 0, changed, fmt.Errorf("jsonl: %w", err)
	}
	return highestIndex(data), changed, nil
}

// highestIndex returns the highest index held by a line of data that
// decodes as a record, or 0 when none does.
func highestIndex(data []byte) uint64 {
	var high uint64
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		if index, _, err := DecodeLine(line); err == nil {
			high = max(high, index)
		}
		data = data[len(line):]
	}
	return high
}
