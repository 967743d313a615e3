package tidwall_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// BenchmarkWAL runs the shared WAL benchmarks in both sync modes.
func BenchmarkWAL(b *testing.B) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			conformance.Bench(b, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "tidwall", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}

// BenchmarkAppend measures one Append of a 200-byte record: the envelope,
// the library's write and, with SyncAlways, its fsync.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			w := mustOpen(b, b.TempDir(), opts{sync: mode})
			defer w.Close()
			data := make([]byte, 200)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Append(ctx, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
