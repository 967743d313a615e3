package sqlitewal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"
)

// Replay reads in chunks and calls fn between them, holding no SQLite
// connection, so fn may write to the WAL. When it truncates past the next
// chunk, Replay stops with ErrOutOfRange instead of taking the gap for
// damage or delivering past it.
func TestReplayTruncatedMeanwhile(t *testing.T) {
	ctx := t.Context()
	w, err := backend.Open(ctx, backend.Config{Backend: sqlitewal.Name, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const total = 3000
	for i := uint64(1); i <= total; i += 100 {
		var batch [][]byte
		for j := i; j < i+100; j++ {
			batch = append(batch, payload(j))
		}
		if _, err := w.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	next := uint64(1)
	err = w.Replay(ctx, 1, func(i uint64, data []byte) error {
		if i != next || !bytes.Equal(data, payload(i)) {
			t.Fatalf("Replay delivered record %d %q, want %d %q", i, data, next, payload(next))
		}
		next++
		if i == 1 {
			return w.TruncateFront(ctx, 2500)
		}
		return nil
	})
	if !errors.Is(err, backend.ErrOutOfRange) {
		t.Fatalf("Replay across a TruncateFront to 2500 = %v after %d records, want ErrOutOfRange", err, next-1)
	}
	if next > 2500 {
		t.Fatalf("Replay delivered up to %d, past records it could no longer have read", next-1)
	}
	first, last, err := w.Bounds(ctx)
	if err != nil || first != 2500 || last != total {
		t.Fatalf("Bounds = (%d, %d, %v), want (2500, %d)", first, last, err, total)
	}
}

// Records large enough that a chunk ends on its byte limit, not its record
// count, replay whole and in order across the chunk boundaries.
func TestReplayLargeRecords(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	w, err := backend.Open(ctx, backend.Config{Backend: sqlitewal.Name, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	big := func(i uint64) []byte { return bytes.Repeat(payload(i), (1<<20)/len(payload(i))+1) }
	const n = 11 // over 11 MiB: three chunks of 4 MiB
	for i := uint64(1); i <= n; i++ {
		if _, err := w.Append(ctx, big(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = backend.Open(ctx, backend.Config{Backend: sqlitewal.Name, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := uint64(1)
	err = w.Replay(ctx, 1, func(i uint64, data []byte) error {
		if i != next || !bytes.Equal(data, big(i)) {
			t.Fatalf("Replay delivered record %d of %d bytes, want record %d", i, len(data), next)
		}
		next++
		return nil
	})
	if err != nil || next != n+1 {
		t.Fatalf("Replay = %v after %d records, want all %d", err, next-1, n)
	}
}
