package lossyfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

// Remote controls a lossyfs server running in another process (Serve), so
// that the controlling process may mmap files on the mount: a page fault
// there waits for a server that shares none of its locks.
//
// Every exchange with the server has a deadline; after a failed one the
// Remote is broken and every later call returns that failure. Close always
// stops the server and removes its mount.
type Remote struct {
	cmd     *exec.Cmd
	timeout time.Duration
	in      *os.File // commands, the server's stdin
	out     *os.File // answers, the server's stdout
	lines   *bufio.Reader
	logs    *tail // the server's stderr and stray stdout, for error messages
	exited  chan struct{}
	xmu     sync.Mutex // one exchange at a time

	mu     sync.Mutex
	broken error
	dir    string // the current or last mount point
	conn   uint32 // its FUSE connection (0: none)
	closed bool
}

// Start starts cmd, which must run Serve on its stdin and stdout (a test
// binary re-executed into a server mode, say), and waits for its greeting.
// timeout bounds each exchange with the server, and its exit at Close. Start
// sets cmd's Stdin, Stdout and, if nil, Stderr.
func Start(cmd *exec.Cmd, timeout time.Duration) (*Remote, error) {
	if cmd.Stdin != nil || cmd.Stdout != nil {
		return nil, errors.New("lossyfs: start server: Stdin and Stdout must be nil, the protocol uses them")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("lossyfs: start server: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("lossyfs: start server: %w", err)
	}
	r := &Remote{cmd: cmd, timeout: timeout, in: inW, out: outR, lines: bufio.NewReader(outR),
		logs: &tail{}, exited: make(chan struct{})}
	cmd.Stdin, cmd.Stdout = inR, outW
	if cmd.Stderr == nil {
		cmd.Stderr = r.logs
	}
	cmd.WaitDelay = timeout // a grandchild holding stderr cannot stall Wait
	err = cmd.Start()
	inR.Close() // the server's ends: ours only while starting it
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("lossyfs: start server: %w", err)
	}
	go func() {
		cmd.Wait()
		close(r.exited)
	}()
	if _, err := r.answer("start"); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Cut is when a mount loses power: at its Sync-th fsync (file or directory,
// counted from 1; 0: never), just before it runs, so that it fails, or, if
// After, just after it succeeds.
type Cut struct {
	Sync  int
	After bool
	// Unsynced and Seed let a seeded fraction of the 4 KiB blocks written
	// since their file's last fsync survive the cut, lost ones reading as
	// zeros (crashfs.CrashOptions): a write split into pages that reach the
	// disk in any order. Unsynced 0: only what was fsync'd survives.
	Unsynced float64
	Seed     int64
}

// Mount serves a fresh, empty crash file system at dir whose power is cut as
// cut says: the server keeps the crash image of that moment, and every later
// operation on the mount fails with EIO.
func (r *Remote) Mount(dir string, cut Cut) error {
	dir = filepath.Clean(dir)
	when := "before"
	if cut.After {
		when = "after"
	}
	answer, err := r.exchange(fmt.Sprintf("mount %d %s %s %d %s", cut.Sync, when,
		strconv.FormatFloat(cut.Unsynced, 'g', -1, 64), cut.Seed, strconv.Quote(dir)))
	if err != nil {
		return err
	}
	return r.mounted(dir, answer)
}

// mounted records the mount the server reports, for Close to remove.
func (r *Remote) mounted(dir, conn string) error {
	n, err := strconv.ParseUint(conn, 10, 32)
	if err != nil {
		return r.fail(fmt.Errorf("lossyfs: server answered %q, not a connection number", conn))
	}
	r.mu.Lock()
	r.dir, r.conn = dir, uint32(n)
	r.mu.Unlock()
	return nil
}

// Syncs returns how many fsyncs the current mount has completed.
func (r *Remote) Syncs() (int, error) {
	answer, err := r.exchange("syncs")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(answer)
	if err != nil {
		return 0, r.fail(fmt.Errorf("lossyfs: server answered %q, not a count", answer))
	}
	return n, nil
}

// Unmount detaches the mount. If files are still open on it, the server
// aborts the connection and detaches it anyway, and Unmount returns an error
// wrapping ErrBusy.
func (r *Remote) Unmount() error {
	_, err := r.exchange("unmount")
	if err == nil || errors.Is(err, ErrBusy) {
		r.mu.Lock()
		r.conn = 0
		r.mu.Unlock()
	}
	return err
}

// Reboot mounts, at the last mount point, what a power loss leaves of the
// last mount: the crash image taken at its cut, or its crash image now if
// the power was never cut. The mount must have been unmounted. It returns the
// fsync at which the power was cut; its Seq is 0 if it never was.
func (r *Remote) Reboot() (faultfs.Event, error) {
	answer, err := r.exchange("reboot")
	if err != nil {
		return faultfs.Event{}, err
	}
	r.mu.Lock()
	dir := r.dir
	r.mu.Unlock()
	conn, cut, _ := strings.Cut(answer, " ")
	if err := r.mounted(dir, conn); err != nil {
		return faultfs.Event{}, err
	}
	if cut == "none" {
		return faultfs.Event{}, nil
	}
	var point, path string
	var e faultfs.Event
	if _, err := fmt.Sscanf(cut, "%s %d %q", &point, &e.Seq, &path); err != nil {
		return faultfs.Event{}, r.fail(fmt.Errorf("lossyfs: server answered %q, not a cut: %w", cut, err))
	}
	p, err := faultfs.ParsePoint(point)
	if err != nil {
		return faultfs.Event{}, r.fail(fmt.Errorf("lossyfs: server answered %q, not a cut: %w", cut, err))
	}
	e.Op, e.N, e.After, e.Path = p.Op, p.N, p.After, path
	return e, nil
}

// exchange sends one command and returns the answer's text after "ok ".
func (r *Remote) exchange(command string) (string, error) {
	r.mu.Lock()
	err := r.broken
	r.mu.Unlock()
	if err != nil {
		return "", err
	}
	verb, _, _ := strings.Cut(command, " ")
	r.xmu.Lock()
	defer r.xmu.Unlock()
	r.in.SetWriteDeadline(time.Now().Add(r.timeout))
	if _, err := r.in.WriteString(command + "\n"); err != nil {
		return "", r.fail(fmt.Errorf("lossyfs: %s: send to server: %w%s", verb, err, r.logs.suffix()))
	}
	return r.answer(verb)
}

// answer reads the server's answer to verb, skipping lines that are not the
// protocol's.
func (r *Remote) answer(verb string) (string, error) {
	r.out.SetReadDeadline(time.Now().Add(r.timeout))
	for {
		line, err := r.lines.ReadString('\n')
		if err != nil {
			return "", r.fail(fmt.Errorf("lossyfs: %s: no answer from server: %w%s", verb, err, r.logs.suffix()))
		}
		line = strings.TrimSuffix(line, "\n")
		text, ok := strings.CutPrefix(line, linePrefix)
		if !ok {
			r.logs.Write([]byte(line + "\n"))
			continue
		}
		if verb == "start" {
			if text != greeting {
				return "", r.fail(fmt.Errorf("lossyfs: start: server greeted %q, want %q", text, greeting))
			}
			return "", nil
		}
		kind, rest, _ := strings.Cut(text, " ")
		switch kind {
		case "ok":
			return rest, nil
		case "busy", "err":
			msg, err := strconv.Unquote(rest)
			if err != nil {
				msg = rest
			}
			if kind == "busy" {
				return "", &serverError{msg: msg, is: ErrBusy}
			}
			return "", &serverError{msg: msg}
		}
		return "", r.fail(fmt.Errorf("lossyfs: %s: server answered %q", verb, text))
	}
}

// serverError is an error the server reported, as it worded it; is is the
// sentinel it wraps (ErrBusy), if any.
type serverError struct {
	msg string
	is  error
}

func (e *serverError) Error() string { return e.msg }
func (e *serverError) Unwrap() error { return e.is }

// fail breaks r with err, for good, and returns it.
func (r *Remote) fail(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken == nil {
		r.broken = err
	}
	return r.broken
}

// Close stops the server and removes its mount, even when the server does not
// answer: it asks the server to quit and, failing that within the timeout,
// aborts the FUSE connection, kills the server and detaches the mount
// lazily. It returns why the server had to be killed, if it had, and why its
// mount could not be detached, if it could not. It is idempotent.
func (r *Remote) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()

	_, err := r.exchange("quit")
	r.in.Close() // EOF: a server that missed quit stops at it
	if err == nil {
		select {
		case <-r.exited:
		case <-time.After(r.timeout):
			err = fmt.Errorf("lossyfs: quit: server still running after %v", r.timeout)
		}
	}
	if err != nil {
		r.mu.Lock()
		dir, conn := r.dir, r.conn
		r.mu.Unlock()
		if isMount(dir, conn) {
			// Requests waiting on the server fail at once, not at its death.
			abort(fusectlDir, conn)
		}
		r.cmd.Process.Kill()
		select {
		case <-r.exited:
		case <-time.After(r.timeout):
			err = fmt.Errorf("%w; the killed server did not exit within %v", err, r.timeout)
		}
	}
	r.out.Close()
	r.fail(errors.New("lossyfs: server closed"))
	r.mu.Lock()
	dir, conn := r.dir, r.conn
	r.mu.Unlock()
	if isMount(dir, conn) {
		// The server is gone but the mount is left: detach it, or every
		// later use of the directory fails with ENOTCONN.
		if derr := syscall.Unmount(dir, syscall.MNT_DETACH); derr != nil {
			err = errors.Join(err, fmt.Errorf("lossyfs: detach %s after the server stopped: %w", dir, derr))
		}
	}
	return err
}

// tail keeps the last few KiB written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// suffix returns the kept output as the end of an error message.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == 0 {
		return ""
	}
	return "; server output:\n" + string(t.buf)
}
