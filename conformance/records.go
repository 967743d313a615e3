package conformance

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// openWAL opens the WAL in dir and closes it when the test ends (Close is
// idempotent, so a case may close it earlier).
func openWAL(t *testing.T, h Harness, dir string) backend.WAL {
	t.Helper()
	w, err := h.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	if w == nil {
		t.Fatalf("Open(%s) returned a nil WAL and no error", dir)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// closeWAL closes w and fails the test on error.
func closeWAL(t *testing.T, w backend.WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// reopen closes w and opens dir again, simulating a clean restart.
func reopen(t *testing.T, h Harness, dir string, w backend.WAL) backend.WAL {
	t.Helper()
	closeWAL(t, w)
	return openWAL(t, h, dir)
}

// appendWant appends data and requires Append to return wantLast.
func appendWant(t *testing.T, w backend.WAL, wantLast uint64, data ...[]byte) {
	t.Helper()
	last, err := w.Append(t.Context(), data...)
	if err != nil {
		t.Fatalf("Append of %d records: %v", len(data), err)
	}
	if last != wantLast {
		t.Fatalf("Append of %d records returned last %d, want %d", len(data), last, wantLast)
	}
}

// wantBounds requires w's bounds to be (first, last).
func wantBounds(t *testing.T, w backend.WAL, first, last uint64) {
	t.Helper()
	f, l, err := w.Bounds(t.Context())
	if err != nil {
		t.Fatalf("Bounds: %v", err)
	}
	if f != first || l != last {
		t.Fatalf("Bounds = (%d, %d), want (%d, %d)", f, l, first, last)
	}
}

// wantRecords requires Replay from `from` to deliver exactly want, at indexes
// from, from+1, ... Replay's data is compared during the call, since it is
// valid only then.
func wantRecords(t *testing.T, w backend.WAL, from uint64, want [][]byte) {
	t.Helper()
	n := 0
	err := w.Replay(t.Context(), from, func(index uint64, data []byte) error {
		if index != from+uint64(n) {
			return fmt.Errorf("replay delivered index %d, want %d", index, from+uint64(n))
		}
		if n >= len(want) {
			return fmt.Errorf("replay delivered index %d past the last record %d", index, from+uint64(len(want))-1)
		}
		if !bytes.Equal(data, want[n]) {
			return fmt.Errorf("record %d: got %s, want %s", index, describe(data), describe(want[n]))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("Replay from %d: %v", from, err)
	}
	if n != len(want) {
		t.Fatalf("Replay from %d delivered %d records, want %d", from, n, len(want))
	}
}

// describe names a record by its length and first bytes, so failures stay short.
func describe(b []byte) string {
	if len(b) <= 16 {
		return fmt.Sprintf("%d bytes %q", len(b), b)
	}
	return fmt.Sprintf("%d bytes %q...", len(b), b[:16])
}

// payload returns the record the suite stores at index: its size and bytes
// derive from index alone, so a parent process can check what a killed child
// wrote. Most are under 512 bytes; one in 64 is empty and one in 64 is 16 to
// 64 KiB.
func payload(index uint64) []byte {
	h := mix(index)
	var n int
	switch h % 64 {
	case 0:
		n = 0
	case 1:
		n = 16<<10 + int((h>>8)%(48<<10))
	default:
		n = int((h >> 8) % 512)
	}
	return fill(make([]byte, n), index)
}

// fill fills b with bytes derived from seed.
func fill(b []byte, seed uint64) []byte {
	s := mix(seed ^ 0x9e3779b97f4a7c15)
	for i := range b {
		if i%8 == 0 {
			s = mix(s)
		}
		b[i] = byte(s >> (8 * (i % 8)))
	}
	return b
}

// mix is the splitmix64 finalizer: a cheap, well-spread hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// payloads returns payload(i) for i in [first, last].
func payloads(first, last uint64) [][]byte {
	var out [][]byte
	for i := first; i <= last; i++ {
		out = append(out, payload(i))
	}
	return out
}
