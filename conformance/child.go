package conformance

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// A case that needs a second process re-executes the test binary, the way the
// standard library's TestHelperProcess does: -test.run is anchored to the
// case's full name, so the child runs the same test function down to that one
// subtest, and the environment below tells Run to call the case's child body
// instead of its parent body.
const (
	// envChild holds the full name (t.Name()) of the case to run as a child.
	envChild = "NAUTILUS_CONFORMANCE_CHILD"
	// envDir holds the WAL directory the child opens.
	envDir = "NAUTILUS_CONFORMANCE_DIR"
	// envArg holds the case's own argument for the child (a seed, an expectation).
	envArg = "NAUTILUS_CONFORMANCE_ARG"
)

// childPrefix starts every line a child writes for its parent, so the parent
// can tell them from the test binary's own output.
const childPrefix = "conformance-child: "

// isChild reports whether this process was started to run t as a child.
func isChild(t *testing.T) bool { return os.Getenv(envChild) == t.Name() }

// childEnv returns the child's directory and argument.
func childEnv(t *testing.T) (dir, arg string) {
	t.Helper()
	dir = os.Getenv(envDir)
	if dir == "" {
		t.Fatalf("conformance: child process started without %s", envDir)
	}
	return dir, os.Getenv(envArg)
}

// childCommand returns a command that re-executes the test binary to run t's
// child body on dir, with arg.
func childCommand(t *testing.T, dir, arg string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "-test.run="+runPattern(t.Name()), "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+t.Name(), envDir+"="+dir, envArg+"="+arg)
	return cmd
}

// runPattern returns the -test.run pattern matching exactly the test named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// childSays writes one line for the parent on stdout, unbuffered so the line
// is out before the child can be killed.
func childSays(t *testing.T, line string) {
	if _, err := os.Stdout.WriteString(childPrefix + line + "\n"); err != nil {
		t.Fatalf("conformance: child write to parent: %v", err)
	}
}
