package conformance

import (
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

func init() {
	addCases(orderCrash, testCase{
		name:  "kill_9_named_points",
		rule:  "A process killed (SIGKILL, the page cache intact) at a named file-system operation of the workload (before a write, after a write and before its fsync, after an fsync, around the creation of a new file, around each remove or rename of a TruncateFront) loses no acknowledged record: after reopen every acknowledged record is present and byte-identical, nothing but the workload's records, indexes dense, and Append continues at last+1.",
		skip:  Capabilities.crashReason,
		run:   testKillPoints,
		child: childKillPoints,
	})
}

// maxOpsPerKind bounds the operations of one kind of point that get a child
// process each (two when both before and after qualify): the first, the
// last and some evenly between.
const maxOpsPerKind = 3

// The workload's phases, as the child reports them: 0 is Open, 1 to
// len(workload) the workload's steps, len(workload)+1 the Close.
func phaseName(phase int) string {
	switch {
	case phase == 0:
		return "Open"
	case phase > len(workload):
		return "Close"
	}
	s := workload[phase-1]
	switch {
	case s.n > 0:
		return fmt.Sprintf("step %d (Append of %d)", phase, s.n)
	case s.sync:
		return fmt.Sprintf("step %d (Sync)", phase)
	}
	return fmt.Sprintf("step %d (TruncateFront(%d))", phase, s.truncate)
}

func appendPhase(phase int) bool {
	return phase >= 1 && phase <= len(workload) && workload[phase-1].n > 0
}

func truncatePhase(phase int) bool {
	return phase >= 1 && phase <= len(workload) && workload[phase-1].truncate > 0
}

// phasedEvent is an operation the rehearsal saw, with the phase it ran in.
type phasedEvent struct {
	faultfs.Event
	phase int
}

// pointKind is a named kind of kill point: the events that qualify, and what
// to say when the workload has none.
type pointKind struct {
	name  string
	match func(e phasedEvent) bool
	none  string
}

var pointKinds = []pointKind{
	{"before_write", func(e phasedEvent) bool {
		return e.Op == faultfs.OpWrite && !e.After && appendPhase(e.phase)
	}, "no Append wrote through the FS"},
	{"after_write_before_sync", func(e phasedEvent) bool {
		return e.Op == faultfs.OpWrite && e.After && appendPhase(e.phase)
	}, "no Append wrote through the FS"},
	{"after_sync", func(e phasedEvent) bool {
		return e.Op == faultfs.OpSync && e.After && appendPhase(e.phase)
	}, "no Append fsynced a file through the FS"},
	{"rotation", func(e phasedEvent) bool {
		return e.Op == faultfs.OpCreate && appendPhase(e.phase)
	}, "no Append created a file: the backend keeps one file, or OpenFS does not open it with small files"},
	{"truncation", func(e phasedEvent) bool {
		return (e.Op == faultfs.OpRemove || e.Op == faultfs.OpRename) && truncatePhase(e.phase)
	}, "no TruncateFront removed or renamed a file"},
	{"truncation_writes", func(e phasedEvent) bool {
		return dataOps[e.Op] && e.Op != faultfs.OpRemove && e.Op != faultfs.OpRename && truncatePhase(e.phase)
	}, "no TruncateFront wrote, created or truncated a file"},
}

// killPoint is where a child is to be killed, and the phase the rehearsal saw
// that operation in.
type killPoint struct {
	at    faultfs.Point
	phase int
}

// pick returns the points of up to maxOpsPerKind of the operations matching
// kind, spread from the first to the last, before and after each as kind
// allows.
func pick(events []phasedEvent, kind pointKind) []killPoint {
	var ops [][]killPoint // the matching points of each operation, in order
	for _, e := range events {
		if !kind.match(e) {
			continue
		}
		kp := killPoint{at: faultfs.Point{Op: e.Op, N: e.N, After: e.After}, phase: e.phase}
		if n := len(ops); n > 0 && ops[n-1][0].at.Op == e.Op && ops[n-1][0].at.N == e.N {
			ops[n-1] = append(ops[n-1], kp)
		} else {
			ops = append(ops, []killPoint{kp})
		}
	}
	var out []killPoint
	for i := range min(len(ops), maxOpsPerKind) {
		if len(ops) > maxOpsPerKind {
			i = i * (len(ops) - 1) / (maxOpsPerKind - 1)
		}
		out = append(out, ops[i]...)
	}
	return out
}

// testKillPoints runs the workload once in this process to number its
// operations, then once per chosen point in a child that faultfs kills there
// ($NAUTILUS_FAULTFS_KILL), each in a fresh directory on the real file
// system: kill -9 keeps the page cache, so no crash image is involved.
func testKillPoints(t *testing.T, h Harness) {
	if reason := memReason(h); reason != "" {
		t.Skip(reason)
	}
	events := rehearse(t, h)
	caseName := t.Name()
	for _, kind := range pointKinds {
		t.Run(kind.name, func(t *testing.T) {
			points := pick(events, kind)
			if len(points) == 0 {
				t.Skip("the workload has no such point: " + kind.none)
			}
			for _, kp := range points {
				t.Run(kp.at.String(), func(t *testing.T) { killAt(t, h, caseName, kp) })
			}
		})
	}
}

// rehearse runs the workload on the real file system through faultfs and
// returns every operation before and after it ran, with its phase.
func rehearse(t *testing.T, h Harness) []phasedEvent {
	t.Helper()
	fsys := faultfs.New(vfs.Default)
	var mu sync.Mutex // a backend may do I/O from goroutines of its own
	var events []phasedEvent
	phase := 0
	setPhase := func(p int) {
		mu.Lock()
		phase = p
		mu.Unlock()
	}
	fsys.Inject(func(e faultfs.Event) error {
		mu.Lock()
		events = append(events, phasedEvent{Event: e, phase: phase})
		mu.Unlock()
		return nil
	})
	ctx := t.Context()
	w, err := h.OpenFS(ctx, fsys, t.TempDir())
	if err != nil {
		t.Fatalf("rehearsal: Open: %v", err)
	}
	defer w.Close()
	p := newProgress()
	for i, s := range workload {
		setPhase(i + 1)
		if err := runStep(ctx, w, &p, s); err != nil {
			t.Fatalf("rehearsal: %s: %v", phaseName(i+1), err)
		}
	}
	setPhase(len(workload) + 1)
	if err := w.Close(); err != nil {
		t.Fatalf("rehearsal: Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return events
}

// killAt runs the workload in a child killed at kp, then reopens its
// directory and checks what the child had acknowledged.
func killAt(t *testing.T, h Harness, caseName string, kp killPoint) {
	dir := t.TempDir()
	cmd := caseCommand(caseName, dir, "")
	cmd.Env = append(cmd.Env, faultfs.KillEnv+"="+kp.at.String())
	c := startChild(t, cmd)
	defer c.stop()
	p, phase := newProgress(), -1
	for {
		msg, ok := c.next()
		if !ok {
			break
		}
		var k int
		if _, err := fmt.Sscanf(msg, "begin %d", &k); err == nil {
			phase = k
			if k >= 1 && k <= len(workload) {
				p.begin(workload[k-1])
			}
		} else if _, err := fmt.Sscanf(msg, "done %d", &k); err == nil && k >= 1 && k <= len(workload) {
			p.done(workload[k-1])
		}
	}
	state := c.wait()
	if ws, ok := state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed at %s (%v, last in %s), which the rehearsal reached in %s: the backend's operations differ from run to run; output:\n%s",
			kp.at, state, phaseName(phase), phaseName(kp.phase), c.output())
	}
	when := fmt.Sprintf("kill -9 at %s in %s", kp.at, phaseName(phase))
	if phase != kp.phase {
		t.Logf("%s, which the rehearsal reached in %s", when, phaseName(kp.phase))
	}
	w, err := h.OpenFS(t.Context(), vfs.Default, dir)
	if err != nil {
		t.Fatalf("%s: Open: %v", when, err)
	}
	defer w.Close()
	checkRecovered(t, w, p, when)
	closeWAL(t, w)
}

// childKillPoints runs the workload on the real file system through faultfs,
// which kills the process at the point in $NAUTILUS_FAULTFS_KILL, and reports
// each phase as it begins and ends.
func childKillPoints(t *testing.T, h Harness) {
	dir, _ := childEnv(t)
	kill, err := faultfs.KillFromEnv()
	if err != nil {
		t.Fatalf("conformance: child: %v", err)
	}
	if kill == nil || h.OpenFS == nil {
		t.Fatalf("conformance: child started without $%s or Harness.OpenFS", faultfs.KillEnv)
	}
	fsys := faultfs.New(vfs.Default)
	fsys.Inject(kill)
	ctx := t.Context()
	childSays(t, "begin 0")
	w, err := h.OpenFS(ctx, fsys, dir)
	if err != nil {
		t.Fatalf("child Open(%s): %v", dir, err)
	}
	childSays(t, "done 0")
	p := newProgress()
	for i, s := range workload {
		childSays(t, fmt.Sprintf("begin %d", i+1))
		if err := runStep(ctx, w, &p, s); err != nil {
			t.Fatalf("child %s: %v", phaseName(i+1), err)
		}
		childSays(t, fmt.Sprintf("done %d", i+1))
	}
	childSays(t, fmt.Sprintf("begin %d", len(workload)+1))
	if err := w.Close(); err != nil {
		t.Fatalf("child Close: %v", err)
	}
	childSays(t, "finished")
}
