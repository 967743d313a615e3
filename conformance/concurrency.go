package conformance

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	addCases(orderConcurrency,
		testCase{
			name: "concurrent_append_replay",
			rule: "Concurrent Appends each get their own contiguous range holding their records in order, while concurrent Replay and Bounds see a dense prefix holding every acknowledged record and never other bytes.",
			run:  testConcurrentAppendReplay,
		},
		testCase{
			name: "group_commit",
			rule: "Appends started together are all acknowledged, with ranges that tile last+1 onwards without gap or overlap, each holding its caller's records in order.",
			run:  testGroupCommit,
		},
	)
}

// appended is one acknowledged Append: its records and the index of the last.
type appended struct {
	last    uint64
	records [][]byte
}

// appendAll appends calls[i] from its own goroutine, all released together,
// and returns the acknowledgements. Failures are reported with t.Errorf.
func appendAll(t *testing.T, w backend.WAL, calls [][][]byte) []appended {
	start := make(chan struct{})
	acks := make([]appended, len(calls))
	var wg sync.WaitGroup
	for i, records := range calls {
		wg.Go(func() {
			<-start
			last, err := w.Append(t.Context(), records...)
			if err != nil {
				t.Errorf("concurrent Append %d of %d records: %v", i, len(records), err)
				return
			}
			acks[i] = appended{last: last, records: records}
		})
	}
	close(start)
	wg.Wait()
	return acks
}

// wantTiling requires acks to cover [from, from+total) exactly, each range
// holding its records, and returns the last index.
func wantTiling(t *testing.T, w backend.WAL, from uint64, acks []appended) uint64 {
	t.Helper()
	sorted := append([]appended(nil), acks...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].last < sorted[j].last })
	next := from
	var want [][]byte
	for _, a := range sorted {
		lo := a.last + 1 - uint64(len(a.records))
		if lo != next {
			t.Fatalf("an Append of %d records was acknowledged with range [%d, %d], want it to start at %d (ranges must tile without gap or overlap)",
				len(a.records), lo, a.last, next)
		}
		next = a.last + 1
		want = append(want, a.records...)
	}
	wantRecords(t, w, from, want)
	return next - 1
}

func testConcurrentAppendReplay(t *testing.T, h Harness) {
	const writers, perWriter, readers = 6, 30, 2
	w := openWAL(t, h, t.TempDir())

	var calls [][][]byte
	for i := range writers {
		for s := range perWriter {
			batch := make([][]byte, 1+(i+s)%3)
			for j := range batch {
				tail := fill(make([]byte, (i*s+j)%100), uint64(i<<32|s<<8|j))
				batch[j] = fmt.Appendf(nil, "writer %d call %d record %d %x", i, s, j, tail)
			}
			calls = append(calls, batch)
		}
	}

	done := make(chan struct{})
	var (
		seenMu sync.Mutex
		seen   = map[uint64][]byte{} // every record a reader saw, to compare at the end
	)
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			var prevLast uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				if r == 0 {
					if err := w.Sync(t.Context()); err != nil {
						t.Errorf("concurrent Sync: %v", err)
						return
					}
				}
				first, last, err := w.Bounds(t.Context())
				if err != nil || first != 1 || last < prevLast {
					t.Errorf("concurrent Bounds = (%d, %d, %v), want first 1 and last at least %d", first, last, err, prevLast)
					return
				}
				prevLast = last
				next := uint64(1)
				err = w.Replay(t.Context(), 1, func(index uint64, data []byte) error {
					if index != next {
						return fmt.Errorf("concurrent Replay delivered index %d, want %d", index, next)
					}
					next++
					seenMu.Lock()
					defer seenMu.Unlock()
					if old, ok := seen[index]; ok && !bytes.Equal(old, data) {
						return fmt.Errorf("concurrent Replay: record %d changed from %s to %s", index, describe(old), describe(data))
					}
					seen[index] = bytes.Clone(data)
					return nil
				})
				if err != nil {
					t.Errorf("%v", err)
					return
				}
				if next-1 < last {
					t.Errorf("concurrent Replay after Bounds reported last %d stopped at %d", last, next-1)
					return
				}
			}
		})
	}

	// Writers: each goroutine appends its calls in order.
	acks := make([]appended, len(calls))
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for s := range perWriter {
				k := i*perWriter + s
				last, err := w.Append(t.Context(), calls[k]...)
				if err != nil {
					t.Errorf("concurrent Append: %v", err)
					return
				}
				acks[k] = appended{last: last, records: calls[k]}
			}
		})
	}
	wg.Wait()
	close(done)
	rg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	last := wantTiling(t, w, 1, acks)
	wantBounds(t, w, 1, last)
	err := w.Replay(t.Context(), 1, func(index uint64, data []byte) error {
		if old, ok := seen[index]; ok && !bytes.Equal(old, data) {
			return fmt.Errorf("record %d: a concurrent reader saw %s, now %s", index, describe(old), describe(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testGroupCommit(t *testing.T, h Harness) {
	const callers = 16
	w := openWAL(t, h, t.TempDir())
	appendWant(t, w, 1, payload(1))
	calls := make([][][]byte, callers)
	for i := range calls {
		for j := range 1 + i%4 {
			calls[i] = append(calls[i], fmt.Appendf(nil, "caller %d record %d", i, j))
		}
	}
	acks := appendAll(t, w, calls)
	if t.Failed() {
		t.FailNow()
	}
	last := wantTiling(t, w, 2, acks)
	wantBounds(t, w, 1, last)
	// A second wave continues where the first ended.
	acks = appendAll(t, w, calls)
	if t.Failed() {
		t.FailNow()
	}
	wantTiling(t, w, last+1, acks)
}
