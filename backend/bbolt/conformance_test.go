package bbolt_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the whole suite against bbolt in both sync modes.
// bbolt reads its file through mmap, so the FUSE fault cases, served from
// this process, skip (Caps.MapsFiles); power_loss_every_sync serves FUSE from
// a child process and runs. The library does its own I/O, so the cases that
// need Harness.OpenFS skip.
//
// OpenSmall starts with bbolt's smallest map, 32 KiB, so the file grows
// (truncate, fsync, remap) during the crash workload, as other backends'
// files rotate. It also keeps the file small: the crash file system copies a
// file at every fsync, and the default map's 16 MiB file made the power-loss
// case take minutes under the race detector.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "bbolt", Dir: dir, Sync: mode})
					},
					OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "bbolt", Dir: dir, Sync: mode,
							Params: map[string]string{bbolt.ParamInitialMmapSize: "32768"}})
					},
					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone, MapsFiles: true},
				}
			})
		})
	}
}
