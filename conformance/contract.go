package conformance

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	addCases(orderContract,
		testCase{
			name: "empty_bounds",
			rule: "A new WAL has bounds (1, 0) and replays nothing, also after reopen.",
			run:  testEmptyBounds,
		},
		testCase{
			name: "round_trip",
			rule: "Records of 0 B, 1 B and 1 MiB, appended alone and in batches, replay byte-identical at dense indexes from 1, from any index, and after Sync and reopen.",
			run:  testRoundTrip,
		},
		testCase{
			name: "reopen_continues",
			rule: "Every appended record survives Close, and after reopen Bounds is unchanged and Append continues at last+1.",
			run:  testReopenContinues,
		},
		testCase{
			name: "truncate_all_continues",
			rule: "After TruncateFront(last+1) empties the log, Bounds is (last+1, last) and Append continues at last+1, also across reopen: indexes are never reused.",
			run:  testTruncateAllContinues,
		},
		testCase{
			name: "truncate_front",
			rule: "TruncateFront(before) removes exactly the records below before, durably across reopen; TruncateFront(first) changes nothing.",
			run:  testTruncateFront,
		},
		testCase{
			name: "truncate_out_of_range",
			rule: "TruncateFront outside [first, last+1] fails with ErrOutOfRange and changes nothing.",
			run:  testTruncateOutOfRange,
		},
		testCase{
			name: "replay_range",
			rule: "Replay from below first or above last+1 fails with ErrOutOfRange without calling fn; from last+1 it succeeds and calls nothing.",
			run:  testReplayRange,
		},
		testCase{
			name: "replay_callback_error",
			rule: "An error returned by Replay's fn stops Replay at once and is returned as is (errors.Is holds).",
			run:  testReplayCallbackError,
		},
		testCase{
			name: "append_copies",
			rule: "Append keeps no reference to the caller's slices: changing them after Append returns changes no record.",
			run:  testAppendCopies,
		},
	)
}

func testEmptyBounds(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	wantBounds(t, w, 1, 0)
	wantRecords(t, w, 1, nil)
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 1, 0)
	wantRecords(t, w, 1, nil)
}

func testRoundTrip(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	mib := fill(make([]byte, 1<<20), 1)
	var want [][]byte
	for _, rec := range [][]byte{{}, {0x5a}, mib} {
		want = append(want, rec)
		appendWant(t, w, uint64(len(want)), rec)
	}
	batches := [][][]byte{
		{{}, {}},
		{{0}, {0xff}, {}},
		{fill(make([]byte, 100), 2), mib, {}, {1}},
		{fill(make([]byte, 4096), 3)},
	}
	for _, batch := range batches {
		want = append(want, batch...)
		appendWant(t, w, uint64(len(want)), batch...)
	}
	wantBounds(t, w, 1, uint64(len(want)))
	for _, from := range []uint64{1, 2, 5, uint64(len(want))} {
		wantRecords(t, w, from, want[from-1:])
	}
	if err := w.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 1, uint64(len(want)))
	wantRecords(t, w, 1, want)
}

func testReopenContinues(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	var last uint64
	for round := range 4 {
		// Each session appends one record alone and then a batch, so a backend
		// that loses the last record, or the last batch, fails here.
		appendWant(t, w, last+1, payload(last+1))
		appendWant(t, w, last+1+uint64(round)+1, payloads(last+2, last+1+uint64(round)+1)...)
		last += uint64(round) + 2
		w = reopen(t, h, dir, w)
		wantBounds(t, w, 1, last)
		wantRecords(t, w, 1, payloads(1, last))
	}
}

func testTruncateAllContinues(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 5, payloads(1, 5)...)
	truncate(t, w, 6)
	wantBounds(t, w, 6, 5)
	wantRecords(t, w, 6, nil)
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 6, 5)
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 6, 5)
	appendWant(t, w, 6, payload(6))
	wantRecords(t, w, 6, payloads(6, 6))
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 6, 6)
	wantRecords(t, w, 6, payloads(6, 6))

	// Empty it again, across reopen, with nothing appended before the next session.
	truncate(t, w, 7)
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 7, 6)
	appendWant(t, w, 8, payloads(7, 8)...)
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 7, 8)
	wantRecords(t, w, 7, payloads(7, 8))
}

func testTruncateFront(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 10, payloads(1, 10)...)
	truncate(t, w, 1)
	wantBounds(t, w, 1, 10)
	wantRecords(t, w, 1, payloads(1, 10))

	truncate(t, w, 4)
	wantBounds(t, w, 4, 10)
	wantRecords(t, w, 4, payloads(4, 10))
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 4, 10)
	wantRecords(t, w, 4, payloads(4, 10))

	truncate(t, w, 4)
	truncate(t, w, 10)
	appendWant(t, w, 11, payload(11))
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 10, 11)
	wantRecords(t, w, 10, payloads(10, 11))
}

func testTruncateOutOfRange(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	// On a new WAL only TruncateFront(1) is in range.
	for _, before := range []uint64{0, 2, 100} {
		wantOutOfRange(t, "TruncateFront", before, w.TruncateFront(t.Context(), before))
	}
	truncate(t, w, 1)
	wantBounds(t, w, 1, 0)

	appendWant(t, w, 10, payloads(1, 10)...)
	truncate(t, w, 4)
	for _, before := range []uint64{0, 1, 3, 12, 1 << 62} {
		wantOutOfRange(t, "TruncateFront", before, w.TruncateFront(t.Context(), before))
	}
	wantBounds(t, w, 4, 10)
	wantRecords(t, w, 4, payloads(4, 10))
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 4, 10)
	wantRecords(t, w, 4, payloads(4, 10))
}

func testReplayRange(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	wantReplayOutOfRange(t, w, 0)
	wantReplayOutOfRange(t, w, 2)

	appendWant(t, w, 10, payloads(1, 10)...)
	truncate(t, w, 4)
	for _, from := range []uint64{0, 1, 3, 12, 1 << 62} {
		wantReplayOutOfRange(t, w, from)
	}
	wantRecords(t, w, 11, nil)
	wantRecords(t, w, 10, payloads(10, 10))
	wantRecords(t, w, 4, payloads(4, 10))
}

// errStop is the callback error testReplayCallbackError expects back.
var errStop = errors.New("conformance: stop replay")

func testReplayCallbackError(t *testing.T, h Harness) {
	w := openWAL(t, h, t.TempDir())
	appendWant(t, w, 6, payloads(1, 6)...)
	for _, stopAt := range []uint64{1, 3, 6} {
		var seen []uint64
		err := w.Replay(t.Context(), 1, func(index uint64, _ []byte) error {
			seen = append(seen, index)
			if index == stopAt {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("Replay whose fn fails at index %d returned %v, want the callback's error", stopAt, err)
		}
		if uint64(len(seen)) != stopAt || seen[len(seen)-1] != stopAt {
			t.Fatalf("Replay whose fn fails at index %d called fn for %v, want 1..%d and no more", stopAt, seen, stopAt)
		}
	}
	wantRecords(t, w, 1, payloads(1, 6))
}

func testAppendCopies(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	one := []byte("written alone")
	batch := [][]byte{[]byte("first of batch"), []byte("second of batch")}
	// A record inside a larger buffer: a backend keeping the slice would see
	// the bytes around it change too.
	backing := []byte("..inside a buffer..")
	inner := backing[2 : len(backing)-2]
	want := [][]byte{bytes.Clone(one), bytes.Clone(batch[0]), bytes.Clone(batch[1]), bytes.Clone(inner)}

	appendWant(t, w, 1, one)
	appendWant(t, w, 3, batch...)
	appendWant(t, w, 4, inner)
	for _, b := range [][]byte{one, batch[0], batch[1], backing} {
		for i := range b {
			b[i] = 'X'
		}
	}
	wantRecords(t, w, 1, want)
	w = reopen(t, h, dir, w)
	wantRecords(t, w, 1, want)
}

// truncate calls TruncateFront and fails the test on error.
func truncate(t *testing.T, w backend.WAL, before uint64) {
	t.Helper()
	if err := w.TruncateFront(t.Context(), before); err != nil {
		t.Fatalf("TruncateFront(%d): %v", before, err)
	}
}

// wantOutOfRange requires err to be ErrOutOfRange.
func wantOutOfRange(t *testing.T, op string, index uint64, err error) {
	t.Helper()
	if !errors.Is(err, backend.ErrOutOfRange) {
		t.Fatalf("%s(%d) = %v, want ErrOutOfRange", op, index, err)
	}
}

// wantReplayOutOfRange requires Replay from `from` to fail with ErrOutOfRange
// before calling fn.
func wantReplayOutOfRange(t *testing.T, w backend.WAL, from uint64) {
	t.Helper()
	calls := 0
	err := w.Replay(t.Context(), from, func(uint64, []byte) error { calls++; return nil })
	wantOutOfRange(t, "Replay", from, err)
	if calls != 0 {
		t.Fatalf("Replay(%d) failed with ErrOutOfRange but called fn %d times first", from, calls)
	}
}
