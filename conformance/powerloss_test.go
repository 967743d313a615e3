package conformance_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

// envCrashMutant names the broken backend a re-executed crash self-test runs.
const envCrashMutant = "NAUTILUS_CONFORMANCE_CRASH_MUTANT"

// TestCrashCasesCatchBrokenBackends runs Run on backends that break a crash
// rule, each in a child process, and requires the named case to fail. These
// need FUSE or a file system of the suite's own, so they live apart from
// TestSuiteCatchesBrokenBackends.
func TestCrashCasesCatchBrokenBackends(t *testing.T) {
	mutants := []struct {
		name, catches string
		harness       conformance.Harness
		needsFUSE     bool
	}{
		// SyncNone acknowledges before fsync, but the harness claims the full contract.
		{"acknowledges_before_fsync", "power_loss_every_sync",
			conformance.Harness{Open: openOnefile(backend.SyncNone, flaws{})}, true},
		{"acknowledges_before_fsync_memfs", "power_loss_every_operation",
			conformance.Harness{Open: openOnefile(backend.SyncNone, flaws{}), OpenFS: openOnefileFS(backend.SyncNone, flaws{})}, false},
		// A page lost before pages kept, in a write never acknowledged,
		// makes it refuse to open.
		{"hole_is_corruption", "power_loss_torn_writes", conformance.Harness{
			Open:   openOnefile(backend.SyncAlways, flaws{holeIsCorruption: true}),
			OpenFS: openOnefileFS(backend.SyncAlways, flaws{holeIsCorruption: true}),
		}, false},
		{"hole_is_corruption_fuse", "power_loss_torn_writes",
			conformance.Harness{Open: openOnefile(backend.SyncAlways, flaws{holeIsCorruption: true})}, true},
		// Cutting a torn write off at its page loses the acknowledged records
		// that share the page.
		{"cuts_to_the_page", "power_loss_torn_writes", conformance.Harness{
			Open:   openOnefile(backend.SyncAlways, flaws{cutsToThePage: true}),
			OpenFS: openOnefileFS(backend.SyncAlways, flaws{cutsToThePage: true}),
		}, false},
		// Killed between truncating the file and writing it again, it loses the log.
		{"truncates_in_place", "kill_9_named_points", conformance.Harness{
			Open:   openOnefile(backend.SyncAlways, flaws{truncateInPlace: true}),
			OpenFS: openOnefileFS(backend.SyncAlways, flaws{truncateInPlace: true}),
		}, false},
		// Buffered in memory, an acknowledged record is lost by a kill at any write.
		{"acknowledges_before_writing", "kill_9_named_points", conformance.Harness{
			Open:   openOnefile(backend.SyncAlways, flaws{buffered: true}),
			OpenFS: openOnefileFS(backend.SyncAlways, flaws{buffered: true}),
		}, false},
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			if os.Getenv(envCrashMutant) == m.name {
				conformance.Run(t, m.harness)
				return
			}
			if err := lossyfs.Available(); m.needsFUSE && err != nil {
				t.Skip("the power-loss cases run over FUSE, unavailable here: " + err.Error())
			}
			exe, err := os.Executable()
			require.NoError(t, err)
			cmd := exec.Command(exe, "-test.run=^"+t.Name()+"$/^"+m.catches+"$", "-test.count=1")
			cmd.Env = append(os.Environ(), envCrashMutant+"="+m.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the crash cases passed a backend that %s; output:\n%s", m.name, out)
			require.Contains(t, string(out), "--- FAIL: "+t.Name()+"/"+m.catches+" ",
				"case %s did not fail on a backend that %s; output:\n%s", m.catches, m.name, out)
		})
	}
}
