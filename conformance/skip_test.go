package conformance_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
)

// envSkip names the Caps.Skip a re-executed TestCapsSkip runs the suite with.
const envSkip = "NAUTILUS_CONFORMANCE_SKIP"

// TestCapsSkip checks that Caps.Skip skips the case it names, quoting the
// reason, and that a name matching no case fails Run rather than leaving a
// stale skip behind. Both run in a child, since the second must fail.
func TestCapsSkip(t *testing.T) {
	if name := os.Getenv(envSkip); name != "" {
		conformance.Run(t, conformance.Harness{
			Open: openOnefile(backend.SyncAlways, flaws{}),
			Caps: conformance.Capabilities{Skip: map[string]string{name: "the library cannot"}},
		})
		return
	}
	child := func(skip, run string) (string, error) {
		exe, err := os.Executable()
		require.NoError(t, err)
		cmd := exec.Command(exe, "-test.run=^"+t.Name()+"$"+run, "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envSkip+"="+skip)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := child("append_copies", "/^append_copies$")
	require.NoError(t, err, out)
	require.Contains(t, out, "--- SKIP: "+t.Name()+"/append_copies ")
	require.Contains(t, out, "Caps.Skip: the library cannot")

	out, err = child("no_such_case", "/^append_copies$")
	require.Error(t, err, out)
	require.True(t, strings.Contains(out, `Caps.Skip names "no_such_case", which is no case of the suite`), out)
}
