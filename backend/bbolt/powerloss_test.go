package bbolt_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/bbolt"
	"github.com/nautilus-go/nautilus/conformance"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

// envUnsynced makes a re-executed TestPowerLossSeesUnsyncedAppends run the
// suite on bbolt committing with NoSync, claiming the full contract.
const envUnsynced = "NAUTILUS_BBOLT_UNSYNCED"

// TestPowerLossSeesUnsyncedAppends shows that power_loss_every_sync reaches
// bbolt's memory-mapped file: committing with NoSync, bbolt acknowledges
// Appends before fsync, and a harness that claims the full contract must
// fail the case.
func TestPowerLossSeesUnsyncedAppends(t *testing.T) {
	if os.Getenv(envUnsynced) != "" {
		bbolt.SetUnsafeNoSync(true)
		conformance.Run(t, conformance.Harness{
			Open: func(ctx context.Context, dir string) (backend.WAL, error) {
				return backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir, Sync: backend.SyncNone})
			},
		})
		return
	}
	if err := lossyfs.Available(); err != nil {
		t.Skip("the power-loss case runs over FUSE, unavailable here: " + err.Error())
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	const name = "power_loss_every_sync"
	cmd := exec.Command(exe, "-test.run=^"+t.Name()+"$/^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envUnsynced+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the case passed bbolt acknowledging before fsync; output:\n%s", out)
	require.Contains(t, string(out), "--- FAIL: "+t.Name()+"/"+name+" ",
		"the case did not fail; output:\n%s", out)
	require.Contains(t, string(out), "want last in [", "an acknowledged record is missing; output:\n%s", out)
}
