package bbolt_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/conformance"
)

// BenchmarkWAL runs the shared WAL benchmarks in both sync modes.
func BenchmarkWAL(b *testing.B) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			conformance.Bench(b, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}
