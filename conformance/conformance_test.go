package conformance_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestMemory runs the suite against the memory backend through backend.Open,
// so it checks the shared wrapper's behaviours with a driver that adds none.
func TestMemory(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "memory", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{NotPersistent: true},
			})
		})
	}
}

// TestOnefile runs the suite against the tiny file backend of onefile_test.go,
// so the cases that need persistence (kill -9, power loss, faults, foreign
// files) run in this package.
func TestOnefile(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open:   openOnefile(mode, flaws{}),
				OpenFS: openOnefileFS(mode, flaws{}),
				Caps:   conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}
