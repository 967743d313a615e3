package jsonl

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	backend.RegisterInspector("jsonl", checker{})
	backend.RegisterSalvager("jsonl", checker{})
	backend.RegisterParamChecker("jsonl", backend.ParamCheckerFunc(checkParams))
}

// checker is the jsonl backend's backend.Inspector and backend.Salvager, for
// the operator tools: both run Open's own scan (inspect), which only reads.
type checker struct{}

// Inspect reports what Open (and a Replay, which checks the same records
// again) would find, with Inspect.
func (checker) Inspect(ctx context.Context, cfg backend.Config) (backend.Inspection, error) {
	if err := checkParams(cfg); err != nil {
		return backend.Inspection{}, err
	}
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

// Salvage cuts the log at the first damage Open refuses, with
// backend.SalvageFiles over Open's scan. A damaged first-index marker is
// refused: it alone says which records exist.
func (checker) Salvage(ctx context.Context, cfg backend.Config) (backend.SalvageReport, error) {
	if err := checkParams(cfg); err != nil {
		return backend.SalvageReport{}, err
	}
	fs := cfg.FileSystem()
	return backend.SalvageFiles(backend.FileLog{
		FS: fs,
		Check: func() (uint64, uint64, error) {
			rec, err := inspect(ctx, fs, cfg.Dir)
			return rec.first, rec.last, err
		},
		Files: func() ([]string, error) {
			listing, err := listDir(fs, cfg.Dir)
			var paths []string
			for _, seg := range listing.segments {
				paths = append(paths, seg.path)
			}
			return paths, err
		},
		Highest: highestIndex,
	})
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

// checkParams refuses the params Open refuses, so a tool given a wrong one
// says so as Open would.
func checkParams(cfg backend.Config) error {
	_, err := readParams(cfg)
	return err
}
