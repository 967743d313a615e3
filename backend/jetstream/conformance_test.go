package jetstream_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jetstream"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the whole suite against the embedded single server,
// storing in the WAL's directory, in both sync modes.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jetstream", Dir: dir, Sync: mode})
					},
					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
				}
			})
		})
	}
}
