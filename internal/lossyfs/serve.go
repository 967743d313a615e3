package lossyfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

// The protocol between Remote and Serve: one command a line on the server's
// stdin, one answer a line on its stdout. Answers start with linePrefix, so
// that other output of the server process (a test binary's) is told apart.
const (
	linePrefix = "lossyfs: "
	greeting   = "ready 1" // the first line, with the protocol's version
)

// Serve is the server process's side of a Remote: it reads commands from in,
// mounts and serves crash file systems as they say, and answers each on out,
// until in ends or says quit. It unmounts whatever it mounted before
// returning.
func Serve(in io.Reader, out io.Writer) error {
	s := &session{out: out}
	defer s.unmount()
	if err := s.say(greeting); err != nil {
		return err
	}
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		verb, arg, _ := strings.Cut(lines.Text(), " ")
		var answer string
		var err error
		switch verb {
		case "mount":
			answer, err = s.mount(arg)
		case "syncs":
			answer = "ok " + strconv.Itoa(s.power.syncs())
		case "unmount":
			answer, err = s.unmountAnswer()
		case "reboot":
			answer, err = s.reboot()
		case "quit":
			return s.say("ok")
		default:
			err = fmt.Errorf("lossyfs: unknown command %q", verb)
		}
		if err != nil {
			answer = "err " + strconv.Quote(err.Error())
		}
		if err := s.say(answer); err != nil {
			return err
		}
	}
	return lines.Err()
}

// session is what Serve has mounted: at most one mount at a time, and the
// crash FS behind the last one, kept for reboot.
type session struct {
	out   io.Writer
	dir   string
	srv   *Server
	mem   *crashfs.FS
	power *power
}

func (s *session) say(line string) error {
	if _, err := io.WriteString(s.out, linePrefix+line+"\n"); err != nil {
		return fmt.Errorf("lossyfs: answer the client: %w", err)
	}
	return nil
}

// mount serves a fresh crash FS at the quoted directory in arg ("k when
// dir"), cutting the power before or after its kth fsync (0: never).
func (s *session) mount(arg string) (string, error) {
	fields := strings.SplitN(arg, " ", 5)
	if len(fields) != 5 {
		return "", fmt.Errorf("lossyfs: mount: want an fsync count, before or after, the unsynced fraction, a seed and a directory, got %q", arg)
	}
	var cut Cut
	var err error
	if cut.Sync, err = strconv.Atoi(fields[0]); err != nil || cut.Sync < 0 {
		return "", fmt.Errorf("lossyfs: mount: bad fsync count %q", fields[0])
	}
	switch fields[1] {
	case "before":
	case "after":
		cut.After = true
	default:
		return "", fmt.Errorf("lossyfs: mount: %q is neither before nor after", fields[1])
	}
	if cut.Unsynced, err = strconv.ParseFloat(fields[2], 64); err != nil || cut.Unsynced < 0 || cut.Unsynced > 1 {
		return "", fmt.Errorf("lossyfs: mount: bad unsynced fraction %q", fields[2])
	}
	if cut.Seed, err = strconv.ParseInt(fields[3], 10, 64); err != nil {
		return "", fmt.Errorf("lossyfs: mount: bad seed %q", fields[3])
	}
	dir, err := strconv.Unquote(fields[4])
	if err != nil {
		return "", fmt.Errorf("lossyfs: mount: bad directory %s: %w", fields[4], err)
	}
	return s.mountOn(crashfs.New(), dir, cut)
}

func (s *session) mountOn(mem *crashfs.FS, dir string, cut Cut) (string, error) {
	if s.srv != nil {
		return "", fmt.Errorf("lossyfs: mount %s: %s is still mounted", dir, s.dir)
	}
	faults := faultfs.New(mem)
	p := &power{mem: mem, faults: faults, at: cut}
	faults.Inject(p.hook)
	srv, err := Mount(dir, faults)
	if err != nil {
		return "", err
	}
	s.dir, s.srv, s.mem, s.power = dir, srv, mem, p
	return "ok " + strconv.FormatUint(uint64(srv.conn), 10), nil
}

func (s *session) unmount() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Unmount()
	s.srv = nil
	return err
}

func (s *session) unmountAnswer() (string, error) {
	err := s.unmount()
	if errors.Is(err, ErrBusy) {
		return "busy " + strconv.Quote(err.Error()), nil
	}
	if err != nil {
		return "", err
	}
	return "ok", nil
}

// reboot mounts, at the same directory, what a power loss leaves of the last
// mount: the image taken at its cut, or, if the power was never cut, its
// image now. It answers with the connection and where the power was cut.
func (s *session) reboot() (string, error) {
	if s.srv != nil {
		return "", fmt.Errorf("lossyfs: reboot: %s is still mounted", s.dir)
	}
	if s.mem == nil {
		return "", errors.New("lossyfs: reboot: nothing was mounted")
	}
	image, at := s.power.cut()
	if image == nil {
		image = s.mem.CrashImage(nil)
	}
	answer, err := s.mountOn(image, s.dir, Cut{})
	if err != nil {
		return "", err
	}
	if at.Seq == 0 {
		return answer + " none", nil
	}
	point := faultfs.Point{Op: at.Op, N: at.N, After: at.After}
	return fmt.Sprintf("%s %s %d %s", answer, point, at.Seq, strconv.Quote(at.Path)), nil
}

// power counts the fsyncs of one mount and cuts the power at one of them: it
// takes the crash image, then fails every later operation with EIO (and the
// fsync itself, when cut before it). Its hook runs on the FUSE server's
// goroutines.
type power struct {
	mem    *crashfs.FS
	faults *faultfs.FS
	at     Cut

	mu      sync.Mutex
	started int
	synced  int
	image   *crashfs.FS
	event   faultfs.Event
}

func (p *power) hook(e faultfs.Event) error {
	if !e.IsSync() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := &p.started
	if e.After {
		n = &p.synced
	}
	*n++
	if *n != p.at.Sync || e.After != p.at.After || p.image != nil {
		return nil
	}
	p.image, p.event = p.mem.CrashImage(&crashfs.CrashOptions{UnsyncedBlocks: p.at.Unsynced, Seed: p.at.Seed}), e
	p.faults.Cut(syscall.EIO)
	if !e.After {
		return &os.PathError{Op: e.Op.String(), Path: e.Path, Err: syscall.EIO}
	}
	return nil
}

func (p *power) syncs() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.synced
}

func (p *power) cut() (*crashfs.FS, faultfs.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.image, p.event
}
