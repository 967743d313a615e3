package tidwall_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/tidwall"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the whole suite against tidwall in both sync modes.
// The crash cases use 1 KiB segments, so the workload spans several segment
// files and power is cut while one is being rotated in. The library does its
// own I/O, so the cases that need Harness.OpenFS skip.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "tidwall", Dir: dir, Sync: mode})
					},
					OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "tidwall", Dir: dir, Sync: mode,
							Params: map[string]string{tidwall.ParamSegmentSize: "1KiB"}})
					},
					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
				}
			})
		})
	}
}
