package conformance

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// benchRecordSize is the size of every benchmark record: about one broker
// request's WAL record.
const benchRecordSize = 200

// Bench runs the shared WAL benchmarks against the backend h opens, each on
// a fresh directory, as sub-benchmarks whose names benchstat can select
// (-col /workload, -row /batch):
//
//	workload=append/batch=1     one 200-byte record per Append
//	workload=append/batch=64    64 records per Append
//	workload=parallel/conc=64   64 writers appending one record each, sharing fsyncs
//	workload=replay             ns per record replayed from a log of 100,000
//
// Call it from a backend's BenchmarkWAL, once per sync mode the harness
// opens (the harness's Caps.AppendNotDurable says which), as the conformance
// tests are called:
//
//	func BenchmarkWAL(b *testing.B) {
//		for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
//			b.Run("sync="+mode.String(), func(b *testing.B) {
//				conformance.Bench(b, conformance.Harness{Open: ..., Caps: ...})
//			})
//		}
//	}
//
// For percentiles, fsyncs per op and baselines, use cmd/walbench.
func Bench(b *testing.B, h Harness) {
	b.Run("workload=append/batch=1/size=200", func(b *testing.B) { benchAppend(b, h, 1) })
	b.Run("workload=append/batch=64/size=200", func(b *testing.B) { benchAppend(b, h, 64) })
	b.Run("workload=parallel/conc=64/size=200", func(b *testing.B) { benchParallel(b, h, 64) })
	b.Run("workload=replay/size=200", func(b *testing.B) { benchReplay(b, h) })
}

// benchRecords returns n records of benchRecordSize bytes, each a JSON
// object {"pad":"abc..."} like the broker's records.
func benchRecords(n int) [][]byte {
	const prefix, suffix = `{"pad":"`, `"}`
	recs := make([][]byte, n)
	for i := range recs {
		r := make([]byte, benchRecordSize)
		for j := range r {
			r[j] = byte('a' + (i+j)%26)
		}
		copy(r, prefix)
		copy(r[benchRecordSize-len(suffix):], suffix)
		recs[i] = r
	}
	return recs
}

func benchOpen(b *testing.B, h Harness) (context.Context, backend.WAL) {
	b.Helper()
	return benchOpenDir(b, h, b.TempDir())
}

// benchOpenDir opens the WAL in dir and, when the benchmark ends, empties
// and closes it: emptying frees what a backend keeps in memory (the memory
// backend keeps every directory's records for the life of the process).
func benchOpenDir(b *testing.B, h Harness, dir string) (context.Context, backend.WAL) {
	b.Helper()
	ctx := b.Context()
	w, err := h.Open(ctx, dir)
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() {
		ctx := context.Background()
		if _, last, err := w.Bounds(ctx); err == nil {
			if err := w.TruncateFront(ctx, last+1); err != nil {
				b.Errorf("empty the log: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	return ctx, w
}

func benchAppend(b *testing.B, h Harness, batch int) {
	ctx, w := benchOpen(b, h)
	recs := benchRecords(batch)
	b.SetBytes(int64(batch * benchRecordSize))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Append(ctx, recs...); err != nil {
			b.Fatalf("append: %v", err)
		}
	}
}

// benchParallel runs conc writers at once: with SyncAlways, group commit
// lets them share fsyncs, so ns/op (wall time per Append) drops below the
// disk's fsync latency.
func benchParallel(b *testing.B, h Harness, conc int) {
	ctx, w := benchOpen(b, h)
	recs := benchRecords(1)
	procs := runtime.GOMAXPROCS(0) // RunParallel starts parallelism × GOMAXPROCS goroutines
	b.SetParallelism((conc + procs - 1) / procs)
	b.SetBytes(benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Append(ctx, recs...); err != nil {
				b.Errorf("append: %v", err)
				return
			}
		}
	})
}

// benchReplayRecords bounds the log benchReplay fills, so that memory and
// fill time stay flat however large b.N grows.
const benchReplayRecords = 100_000

// errBenchDone stops a Replay once b.N records were delivered.
var errBenchDone = errors.New("conformance: benchmark done")

// benchReplay fills a log, reopens it, and times Replay delivering b.N
// records, replaying the log again from the start as often as b.N needs:
// ns/op is the cost per record, the page cache warm.
func benchReplay(b *testing.B, h Harness) {
	ctx := b.Context()
	dir := b.TempDir()
	w, err := h.Open(ctx, dir)
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	const fill = 1000
	recs := benchRecords(fill)
	for done := 0; done < benchReplayRecords; done += fill {
		if _, err := w.Append(ctx, recs...); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatalf("close: %v", err)
	}
	_, w = benchOpenDir(b, h, dir)
	first, _, err := w.Bounds(ctx)
	if err != nil {
		b.Fatalf("bounds: %v", err)
	}
	b.SetBytes(benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		err := w.Replay(ctx, first, func(_ uint64, data []byte) error {
			if n++; n == b.N {
				return errBenchDone
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBenchDone) {
			b.Fatalf("replay after %d records: %v", n, err)
		}
	}
}
