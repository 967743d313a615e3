package faultfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Op is a kind of file-system operation.
type Op uint8

// The operations FS numbers. OpAny matches every kind in a Point.
const (
	OpAny      Op = iota
	OpOpen        // OpenFile without O_CREATE
	OpCreate      // OpenFile with O_CREATE
	OpRead        // File.Read, File.ReadAt
	OpWrite       // File.Write, File.WriteAt
	OpSync        // File.Sync
	OpSyncDir     // FS.SyncDir
	OpTruncate    // File.Truncate
	OpRename      // FS.Rename
	OpRemove      // FS.Remove
	OpMkdir       // FS.MkdirAll
	OpStat        // FS.Stat, File.Stat
	OpReadDir     // FS.ReadDir
	OpLock        // FS.Lock
	OpClose       // File.Close
	numOps
)

var opNames = [numOps]string{"any", "open", "create", "read", "write", "sync", "syncdir",
	"truncate", "rename", "remove", "mkdir", "stat", "readdir", "lock", "close"}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// ParseOp parses an Op's String form.
func ParseOp(s string) (Op, error) {
	for i, name := range opNames {
		if name == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("faultfs: unknown op %q", s)
}

// Point names a moment: before or after the Nth operation of kind Op
// (OpAny: the Nth operation of any kind).
type Point struct {
	Op    Op
	N     int
	After bool
}

// Matches reports whether e is at p.
func (p Point) Matches(e Event) bool {
	if e.After != p.After {
		return false
	}
	if p.Op == OpAny {
		return e.Seq == p.N
	}
	return e.Op == p.Op && e.N == p.N
}

// String returns the form ParsePoint reads: "before:write:3", "after:sync:2".
func (p Point) String() string {
	when := "before"
	if p.After {
		when = "after"
	}
	return fmt.Sprintf("%s:%s:%d", when, p.Op, p.N)
}

// ParsePoint parses "before|after:op:n".
func ParsePoint(s string) (Point, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || (parts[0] != "before" && parts[0] != "after") {
		return Point{}, fmt.Errorf("faultfs: point %q: want before|after:op:n", s)
	}
	op, err := ParseOp(parts[1])
	if err != nil {
		return Point{}, fmt.Errorf("faultfs: point %q: %w", s, err)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 1 {
		return Point{}, fmt.Errorf("faultfs: point %q: want a count from 1", s)
	}
	return Point{Op: op, N: n, After: parts[0] == "after"}, nil
}

func injected(e Event, errno syscall.Errno) error {
	return &os.PathError{Op: e.Op.String(), Path: e.Path, Err: errno}
}

// Fail fails the nth operation of kind op with errno, before it runs.
func Fail(op Op, nth int, errno syscall.Errno) Hook {
	p := Point{Op: op, N: nth}
	return func(e Event) error {
		if p.Matches(e) {
			return injected(e, errno)
		}
		return nil
	}
}

// FailFrom fails the nth operation of kind op and every later one of that
// kind (OpAny: every later operation), as a disk that stays broken does.
func FailFrom(op Op, nth int, errno syscall.Errno) Hook {
	return func(e Event) error {
		if e.After {
			return nil
		}
		if op == OpAny && e.Seq >= nth || e.Op == op && e.N >= nth {
			return injected(e, errno)
		}
		return nil
	}
}

// ShortWrite makes write number nth write only its first n bytes (n < 0:
// half of them) and then fail with errno, as a write that ran out of space
// part way does.
func ShortWrite(nth, n int, errno syscall.Errno) Hook {
	p := Point{Op: OpWrite, N: nth}
	return func(e Event) error {
		if p.Matches(e) {
			return &shortWrite{n: n, err: injected(e, errno)}
		}
		return nil
	}
}

type shortWrite struct {
	n   int
	err error
}

func (s *shortWrite) Error() string { return s.err.Error() }
func (s *shortWrite) Unwrap() error { return s.err }

// At calls fn once, at p; the operation then goes on unharmed.
func At(p Point, fn func(Event)) Hook {
	var once sync.Once
	return func(e Event) error {
		if p.Matches(e) {
			once.Do(func() { fn(e) })
		}
		return nil
	}
}

// Kill sends SIGKILL to this process at p: nothing after it runs, not even
// deferred calls, as with kill -9 from outside.
func Kill(p Point) Hook {
	return At(p, func(Event) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; let nothing else run
	})
}

// KillEnv is the environment variable KillFromEnv reads: a Point such as
// "after:write:3" at which a child process is to kill itself.
const KillEnv = "NAUTILUS_FAULTFS_KILL"

// KillFromEnv returns a Kill hook for the Point in $NAUTILUS_FAULTFS_KILL, or
// nil when it is unset. A test re-executes itself with the variable set to
// kill the child at a named point, with no timing involved.
func KillFromEnv() (Hook, error) {
	s := os.Getenv(KillEnv)
	if s == "" {
		return nil, nil
	}
	p, err := ParsePoint(s)
	if err != nil {
		return nil, fmt.Errorf("faultfs: $%s: %w", KillEnv, err)
	}
	return Kill(p), nil
}
