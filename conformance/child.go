package conformance

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
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
	return caseCommand(t.Name(), dir, arg)
}

// caseCommand returns a command that re-executes the test binary to run the
// child body of the case whose full name is name, on dir, with arg.
func caseCommand(name, dir, arg string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "-test.run="+runPattern(name), "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+name, envDir+"="+dir, envArg+"="+arg)
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

// childTimeout is how long a child may run before the parent calls it hung:
// a watchdog, not a synchronisation.
const childTimeout = 2 * time.Minute

// childProc is a running child and the lines it writes for its parent.
type childProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	lines   chan string
	stderr  bytes.Buffer
	other   []string // lines not meant for the parent: the child's test output
	timeout *time.Timer
	killed  bool
	reaped  bool
}

// startChild starts cmd, reading its stdout line by line. Call stop when done
// with it, also on failure: it kills and reaps the child if still running.
func startChild(t *testing.T, cmd *exec.Cmd) *childProc {
	t.Helper()
	c := &childProc{t: t, cmd: cmd, lines: make(chan string)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("child stdout: %v", err)
	}
	cmd.Stderr = &c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c.timeout = time.NewTimer(childTimeout)
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c
}

// next returns the child's next line for the parent, without childPrefix;
// false once its output has ended. It fails t when the child runs past
// childTimeout.
func (c *childProc) next() (string, bool) {
	c.t.Helper()
	for {
		select {
		case line, open := <-c.lines:
			if !open {
				return "", false
			}
			if msg, ok := strings.CutPrefix(line, childPrefix); ok {
				return msg, true
			}
			c.other = append(c.other, line)
		case <-c.timeout.C:
			c.t.Fatalf("child still running after %v; output so far:\n%s", childTimeout, c.output())
		}
	}
}

// kill sends SIGKILL to the child, once.
func (c *childProc) kill() {
	if !c.killed {
		c.killed = true
		c.cmd.Process.Kill()
	}
}

// wait reads the child's output to its end and reaps it.
func (c *childProc) wait() *os.ProcessState {
	c.t.Helper()
	for {
		if _, ok := c.next(); !ok {
			break
		}
	}
	c.cmd.Wait()
	c.reaped = true
	c.timeout.Stop()
	return c.cmd.ProcessState
}

// stop kills and reaps the child unless wait has.
func (c *childProc) stop() {
	if c.reaped {
		return
	}
	c.kill()
	for range c.lines {
	}
	c.cmd.Wait()
	c.reaped = true
	c.timeout.Stop()
}

// output returns what the child wrote that was not for the parent.
func (c *childProc) output() string {
	return strings.Join(c.other, "\n") + "\n" + c.stderr.String()
}
