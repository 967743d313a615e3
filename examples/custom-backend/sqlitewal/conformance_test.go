package sqlitewal_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
	_ "github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"
)

// TestConformance runs the whole suite in both sync modes: the contract,
// kill -9, power loss over FUSE and injected faults (the last three skip
// under SyncNone, whose Appends are durable only after Sync, by contract).
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "sqlite", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}
