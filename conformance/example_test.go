package conformance_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// testConformance is the test a backend adds next to its driver, named
// TestConformance there: the whole suite, crash cases included, in both sync
// modes. Under SyncNone an Append is durable only after Sync, which
// Caps.AppendNotDurable tells the suite, so its crash cases skip. It is lower
// case here because this package registers no "mystore".
//
//lint:ignore U1000 ExampleRun shows this function; go test must not run it.
func testConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: "mystore", Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}

// ExampleRun is the whole file: testConformance above. Run needs the
// *testing.T of a running test, so go test compiles this example but does
// not run it; TestMemory and TestOnefile run the same calls on real drivers.
func ExampleRun() {}
