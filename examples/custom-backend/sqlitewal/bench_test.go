package sqlitewal_test

import (
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// BenchmarkWAL runs the shared WAL benchmarks in both sync modes.
func BenchmarkWAL(b *testing.B) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			conformance.Bench(b, conformance.Harness{
				Open: opener(mode, nil, nil),
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}
