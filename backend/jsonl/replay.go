package jsonl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// ctxCheckEvery is how many records Replay delivers between checks of ctx:
// often enough to stop promptly, rarely enough to cost nothing.
const ctxCheckEvery = 1024

// Replay reads a snapshot of the log taken on entry (the segments, their
// sizes and the last index) through its own file handles, so it runs
// alongside Append and never reads a record that is still being written.
// Records SyncNone holds in pending are written first.
func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	w.mu.Lock()
	err := w.flushLocked() // records appended under SyncNone must be in the files
	first, last := w.first, w.last
	segs := append([]segment(nil), w.segs...)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if from < first || from > last+1 {
		return backend.OutOfRange("replay from", from, first, last)
	}
	if from > last {
		return nil
	}
	// The segment holding from: the last one starting at or before it.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].first > from }) - 1
	if i < 0 {
		return fmt.Errorf("jsonl: no segment holds index %d", from) // bounds and segments disagree
	}
	count := 0
	for ; i < len(segs); i++ {
		end := last // the last index this segment must deliver
		if i+1 < len(segs) {
			end = segs[i+1].first - 1
		}
		if err := w.replaySegment(ctx, segs[i], from, end, &count, fn); err != nil {
			return err
		}
	}
	return nil
}

// replaySegment delivers seg's records from from through end, and reports
// damage if the segment does not hold exactly up to end.
func (w *wal) replaySegment(ctx context.Context, seg segment, from, end uint64, count *int, fn func(uint64, []byte) error) error {
	f, err := vfs.Open(w.fs, seg.path)
	if errors.Is(err, os.ErrNotExist) {
		w.mu.Lock()
		first, last := w.first, w.last
		w.mu.Unlock()
		if first > seg.first {
			// A concurrent TruncateFront removed the segment.
			return backend.OutOfRange("replay at", max(from, seg.first), first, last)
		}
	}
	if err != nil {
		return fmt.Errorf("jsonl: open %s: %w", seg.path, err)
	}
	defer f.Close()
	sr := newSegmentReader(io.NewSectionReader(f, 0, seg.size), seg.path, seg.first)
	defer sr.release()
	for sr.next <= end {
		index, payload, err := sr.read()
		if err == io.EOF {
			return &backend.CorruptError{File: seg.path, Offset: sr.off, Index: sr.next,
				Reason: fmt.Sprintf("segment ends before index %d", end)}
		}
		if err != nil {
			return err
		}
		if index < from {
			continue
		}
		if *count++; *count%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(index, payload); err != nil {
			return err
		}
	}
	return nil
}
