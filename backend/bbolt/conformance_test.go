package bbolt_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the whole suite against bbolt in both sync modes.
// bbolt reads its file through mmap, so the FUSE fault cases, served from
// this process, skip (Caps.MapsFiles); power_loss_every_sync serves FUSE from
// a child process and runs. The library does its own I/O, so the cases that
// need Harness.OpenFS skip.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone, MapsFiles: true},
			})
		})
	}
}
