package jsonl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// benchPayloads returns the 200-byte records the targets are stated for: a
// JSON object like the broker's, embedded verbatim, and binary, as base64.
func benchPayloads() map[string][]byte {
	json := []byte(`{"op":"assert","session":"s-0001","agent":"a-7","pad":"` +
		string(bytes.Repeat([]byte("x"), 200)))[:198]
	json = append(json, '"', '}')
	bin := bytes.Repeat([]byte{0xfe, 0x01}, 100)
	return map[string][]byte{"json": json, "binary": bin}
}

// benchConfig is the configuration the targets are stated for: jsonl's
// defaults, preallocation on, unlike the tests' config.
func benchConfig(dir string) backend.Config {
	return config(dir, ParamPreallocate, "true")
}

// BenchmarkAppend measures one 200-byte record per Append through
// backend.Open, as the broker calls it. Under SyncAlways it also reports the
// median Append, the figure compared with BenchmarkRawWriteFdatasync's.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		for kind, p := range benchPayloads() {
			b.Run("sync="+mode.String()+"/payload="+kind, func(b *testing.B) {
				cfg := benchConfig(b.TempDir())
				cfg.Sync = mode
				w := open(b, cfg)
				defer w.Close()
				ctx := context.Background()
				b.SetBytes(int64(len(p)))
				op := func() {
					if _, err := w.Append(ctx, p); err != nil {
						b.Fatal(err)
					}
				}
				if mode == backend.SyncAlways {
					reportMedian(b, op)
					return
				}
				cpu := cpuMeter(b)
				for b.Loop() {
					op()
				}
				cpu(float64(b.N), "op")
			})
		}
	}
}

// BenchmarkRawWriteFdatasync is the floor for SyncAlways: one write and one
// fdatasync of a 200-byte record's line, straight to a file preallocated as
// a jsonl segment is, so no fdatasync has a file size to write.
func BenchmarkRawWriteFdatasync(b *testing.B) {
	line := AppendLine(nil, 1, 0, benchPayloads()["json"])
	f, err := vfs.Create(vfs.Default, filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := vfs.Preallocate(f, DefaultSegmentBytes); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line)))
	reportMedian(b, func() {
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	})
}

// reportMedian runs op in b's loop and reports its median latency as
// p50-ns/op: on a shared machine the mean of an fsync is its outliers'.
func reportMedian(b *testing.B, op func()) {
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		op()
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns/op")
}

// BenchmarkReplay measures replaying 200-byte records from disk (page cache)
// and reports records per second.
func BenchmarkReplay(b *testing.B) {
	const n = 200_000
	for kind, p := range benchPayloads() {
		b.Run("payload="+kind, func(b *testing.B) {
			dir := b.TempDir()
			cfg := benchConfig(dir)
			cfg.Sync = backend.SyncNone
			w := open(b, cfg)
			batch := make([][]byte, 1000)
			for i := range batch {
				batch[i] = p
			}
			ctx := context.Background()
			for i := 0; i < n; i += len(batch) {
				if _, err := w.Append(ctx, batch...); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			w = open(b, cfg)
			defer w.Close()
			info, err := os.Stat(segmentPaths(b, dir)[0])
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(info.Size())
			cpu := cpuMeter(b)
			for b.Loop() {
				count := 0
				err := w.Replay(ctx, 1, func(uint64, []byte) error {
					count++
					return nil
				})
				if err != nil || count != n {
					b.Fatalf("replayed %d records, err %v", count, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			cpu(float64(n)*float64(b.N), "record")
		})
	}
}

// cpuMeter starts measuring the CPU time the process uses; the function it
// returns reports it as cpu-ns per unit. On a shared machine wall time
// includes waiting for a core; CPU time does not, so ratios of it are
// steadier. It reports nothing where CPU time cannot be read.
func cpuMeter(b *testing.B) (report func(units float64, unit string)) {
	start, ok := processCPU()
	return func(units float64, unit string) {
		end, ok2 := processCPU()
		if ok && ok2 && units > 0 {
			b.ReportMetric(float64((end-start).Nanoseconds())/units, "cpu-ns/"+unit)
		}
	}
}

// BenchmarkSyncAlwaysOverRaw alternates a SyncAlways Append of a 200-byte
// record with BenchmarkRawWriteFdatasync's write and fdatasync in the same
// loop, so both see the same disk at the same moments, and reports each
// one's median and their ratio, the figure held to at most 1.05.
func BenchmarkSyncAlwaysOverRaw(b *testing.B) {
	p := benchPayloads()["json"]
	dir := b.TempDir()
	cfg := benchConfig(filepath.Join(dir, "wal"))
	w := open(b, cfg)
	defer w.Close()
	line := AppendLine(nil, 1, 0, p)
	f, err := vfs.Create(vfs.Default, filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := vfs.Preallocate(f, DefaultSegmentBytes); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var wal, raw []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := w.Append(ctx, p); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		wal, raw = append(wal, mid.Sub(start)), append(raw, time.Since(mid))
	}
	slices.Sort(wal)
	slices.Sort(raw)
	b.ReportMetric(float64(wal[len(wal)/2].Nanoseconds()), "wal-p50-ns")
	b.ReportMetric(float64(raw[len(raw)/2].Nanoseconds()), "raw-p50-ns")
	b.ReportMetric(float64(wal[len(wal)/2])/float64(raw[len(raw)/2]), "wal/raw-p50")
}
