package pebble_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/pebble"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the whole suite against pebble in both sync modes.
// The power-loss cases run over FUSE: Pebble reads its files with pread, not
// mmap, so the FUSE server can run in this process. Pebble does its own I/O,
// so the cases that need Harness.OpenFS skip.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "pebble", Dir: dir, Sync: mode})
					},
					Caps: conformance.Capabilities{
						AppendNotDurable: mode == backend.SyncNone,
						Skip: map[string]string{
							"crash_during_recovery": "pebble.Open never returns when the disk fails while it flushes the replayed WAL: it retries the flush without end (\"background error: creating object N.sst: input/output error\")",
						},
					},
				}
			})
		})
	}
}
