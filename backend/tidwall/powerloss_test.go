package tidwall_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/tidwall"
	"github.com/nautilus-go/nautilus/conformance"
)

// TestCrash runs the power-loss and fault cases over FUSE with segments of
// 1 KiB, so the workload spans several segment files and power is cut while
// one is being rotated in. The library does its own I/O, so the in-memory
// crash cases skip.
func TestCrash(t *testing.T) {
	conformance.RunCrash(t, conformance.CrashHarness{
		Harness: conformance.Harness{
			Open: func(ctx context.Context, dir string) (backend.WAL, error) {
				return backend.Open(ctx, backend.Config{Backend: "tidwall", Dir: dir})
			},
		},
		OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
			return backend.Open(ctx, backend.Config{Backend: "tidwall", Dir: dir,
				Params: map[string]string{tidwall.ParamSegmentSize: "1KiB"}})
		},
	})
}
