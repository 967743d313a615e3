package jsonl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// recovery is what Open found in the directory: the log it holds and the
// changes that finish a crash's business. inspect only reads; nothing is
// changed until every check has passed, so a refused Open leaves every file
// as it was.
type recovery struct {
	segs        []segment // the log's segments in order, sizes known
	first, last uint64
	// leftovers lie entirely below the marker: a TruncateFront wrote the
	// marker and was interrupted before deleting them.
	leftovers []segment
	// torn is set when the last segment ends in a torn write.
	torn *SegmentScan
	size int64 // the last segment's size on disk when torn is set
}

// Report is what Inspect found in a WAL directory.
type Report struct {
	First, Last uint64   // the bounds Open would report
	Segments    []string // the log's segment files, in index order
	// Leftovers are segments wholly below the first index, left by an
	// interrupted TruncateFront; Open deletes them.
	Leftovers []string
	// TornTail describes the torn write at the end of the last segment, which
	// Open cuts off; nil when there is none.
	TornTail *SegmentScan
}

// Inspect checks the WAL in dir exactly as Open does, but only reads: it
// returns what Open would find and repair, or the error that would make Open
// refuse (a *backend.CorruptError for damage, an *fs.PathError naming an
// unexpected file). It is for tools that verify a log offline; a directory in
// use by a writer may be changing under it.
func Inspect(ctx context.Context, fsys vfs.FS, dir string) (Report, error) {
	rec, err := inspect(ctx, fsys, dir)
	if err != nil {
		return Report{}, err
	}
	r := Report{First: rec.first, Last: rec.last, TornTail: rec.torn}
	for _, seg := range rec.segs {
		r.Segments = append(r.Segments, seg.path)
	}
	for _, seg := range rec.leftovers {
		r.Leftovers = append(r.Leftovers, seg.path)
	}
	return r, nil
}

// inspect scans dir and decides what the log is, or why it is corrupt.
func inspect(ctx context.Context, fs vfs.FS, dir string) (recovery, error) {
	var rec recovery
	listing, err := listDir(fs, dir)
	if err != nil {
		return rec, err
	}
	var mark uint64 // 0: never truncated, the log starts at 1
	if listing.hasMarker {
		if mark, err = readMarker(fs, dir); err != nil {
			return rec, err
		}
	}
	segs := listing.segments
	// A segment whose successor starts at or below the marker holds only
	// truncated records.
	for len(segs) > 1 && mark > 0 && segs[1].first <= mark {
		rec.leftovers = append(rec.leftovers, segs[0])
		segs = segs[1:]
	}
	start := max(mark, 1)
	rec.first, rec.last = start, start-1
	if len(segs) == 0 {
		return rec, nil
	}
	if segs[0].first > start {
		return rec, &backend.CorruptError{File: segs[0].path, Offset: 0, Index: start,
			Reason: fmt.Sprintf("first segment starts at index %d but the log starts at %d (a missing segment)", segs[0].first, start)}
	}
	next := segs[0].first
	for i := range segs {
		if err := ctx.Err(); err != nil {
			return rec, err
		}
		seg := &segs[i]
		if seg.first != next {
			return rec, &backend.CorruptError{File: seg.path, Offset: 0, Index: next,
				Reason: fmt.Sprintf("segment starts at index %d but the previous one ends at %d (a missing or extra segment)", seg.first, next-1)}
		}
		scan, size, err := scanFile(fs, seg.path, seg.first)
		if err != nil {
			return rec, err
		}
		lastSeg := i == len(segs)-1
		switch {
		case scan.Verdict == Corrupt:
			return rec, scan.Damage
		case scan.Verdict == Torn && !lastSeg:
			// A segment is fsync'd before the next one is created, so
			// only the last can hold a torn write.
			scan.Rule.LastFile = false
			return rec, scan.Rule.Corruption()
		case scan.Verdict == Torn:
			rec.torn, rec.size = &scan, size
		}
		seg.size = scan.Good // a preallocated remainder is not the log's
		next = scan.Last + 1
	}
	last := segs[len(segs)-1]
	if mark > 0 && next <= mark && last.first < mark {
		// Every record left is below the marker: the interrupted
		// TruncateFront emptied the log.
		rec.leftovers, rec.torn = append(rec.leftovers, last), nil
		return rec, nil
	}
	rec.segs, rec.last = segs, next-1
	if mark == 0 {
		rec.first = segs[0].first
	}
	return rec, nil
}

// scanFile scans one segment file and returns its size on disk.
func scanFile(fs vfs.FS, path string, first uint64) (SegmentScan, int64, error) {
	f, err := vfs.Open(fs, path)
	if err != nil {
		return SegmentScan{}, 0, fmt.Errorf("jsonl: open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return SegmentScan{}, 0, fmt.Errorf("jsonl: stat %s: %w", path, err)
	}
	scan, err := ScanSegment(io.NewSectionReader(f, 0, info.Size()), path, first, nil)
	if err != nil {
		return scan, 0, fmt.Errorf("jsonl: scan %s: %w", path, err)
	}
	return scan, info.Size(), nil
}

// finish applies rec's changes: the torn tail is cut off (after a copy is
// kept) and leftover segments are deleted. It returns the last segment open
// for appending, or nil when the log has no segment.
func (rec *recovery) finish(fs vfs.FS, dir string, log *slog.Logger, obs backend.Observer) (vfs.File, error) {
	for _, seg := range rec.leftovers {
		if err := fs.Remove(seg.path); err != nil {
			return nil, fmt.Errorf("jsonl: remove truncated segment %s: %w", seg.path, err)
		}
	}
	if len(rec.leftovers) > 0 {
		if err := fs.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("jsonl: sync directory %s: %w", dir, err)
		}
	}
	if len(rec.segs) == 0 {
		return nil, nil
	}
	active := rec.segs[len(rec.segs)-1]
	if rec.torn != nil {
		// The copy and the cut are durable before the first Append.
		if err := backend.RepairTail(fs, active.path, rec.torn.Good, log, obs); err != nil {
			return nil, fmt.Errorf("jsonl: %w", err)
		}
	}
	f, err := fs.OpenFile(active.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("jsonl: open %s: %w", active.path, err)
	}
	if _, err := f.Seek(active.size, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("jsonl: seek %s to offset %d: %w", active.path, active.size, err)
	}
	return f, nil
}
