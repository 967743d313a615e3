package tidwall_test

import (
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// BenchmarkAppend measures one durable Append of a 200-byte record: the
// envelope, the library's write and its fsync.
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
