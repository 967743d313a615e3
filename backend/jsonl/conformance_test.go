package jsonl_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestConformance runs the contract suite against jsonl in both sync modes.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}
