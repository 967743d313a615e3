package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

// rig opens WALs on a vfs.FS: directly for a backend built on package vfs, or
// through a FUSE mount of it for one whose library does its own I/O.
type rig struct {
	t      *testing.T
	fuse   bool
	mnt    string // FUSE mount point, reused mount after mount
	openFn func(ctx context.Context, dir string) (backend.WAL, error)
	openFS func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error)
}

// fuseReason returns why h's WAL cannot run over FUSE here, or "".
func fuseReason(h Harness) string {
	if h.Caps.MapsFiles {
		return "Caps.MapsFiles: a page fault on a memory-mapped file waits for the FUSE server while holding the address-space lock the server's runtime may need in this same process, which deadlocks"
	}
	if err := lossyfs.Available(); err != nil {
		return "power loss of a library doing its own I/O is simulated over FUSE, which is unavailable here: " + err.Error()
	}
	return ""
}

// memReason returns why h's WAL cannot run on an in-memory FS, or "".
func memReason(h Harness) string {
	if h.OpenFS == nil {
		return "Harness.OpenFS is nil: the backend does not do its I/O through package vfs, so the suite cannot put a file system of its own under it"
	}
	return ""
}

// fuseRig returns a rig mounting each FS over FUSE, or skips t saying why it cannot.
func fuseRig(t *testing.T, h Harness) *rig {
	if reason := fuseReason(h); reason != "" {
		t.Skip(reason)
	}
	return &rig{t: t, fuse: true, mnt: t.TempDir(), openFn: h.openSmall()}
}

// memRig returns a rig opening WALs straight on the FS, or skips t.
func memRig(t *testing.T, h Harness) *rig {
	if reason := memReason(h); reason != "" {
		t.Skip(reason)
	}
	return &rig{t: t, openFS: h.OpenFS}
}

// walDir is the WAL's directory inside the FS a rig serves.
const walDir = "/wal"

// mounted is a WAL open on an FS; close closes both.
type mounted struct {
	w   backend.WAL
	srv *lossyfs.Server
	dir string // the WAL's directory as the backend sees it
}

// open opens the WAL on fsys. The error is Open's; a mount failure fails t.
func (r *rig) open(fsys vfs.FS) (*mounted, error) {
	ctx := r.t.Context()
	if !r.fuse {
		w, err := r.openFS(ctx, fsys, walDir)
		return &mounted{w: w, dir: walDir}, err
	}
	srv, err := lossyfs.Mount(r.mnt, fsys)
	if err != nil {
		r.t.Fatalf("mount: %v", err)
	}
	m := &mounted{srv: srv, dir: filepath.Join(r.mnt, walDir)}
	r.t.Cleanup(func() { // a failing test must not leave the mount behind
		if m.w != nil {
			m.w.Close()
		}
		srv.Unmount()
	})
	m.w, err = r.openFn(ctx, m.dir)
	if err != nil {
		m.close(r.t)
	}
	return m, err
}

// close closes the WAL, ignoring its error (after a power cut it has one), and
// unmounts. A descriptor the WAL left open after a failed Close or Open is
// logged, not failed: it leaks a resource but breaks no rule of the contract.
func (m *mounted) close(t *testing.T) {
	t.Helper()
	if m.w != nil {
		m.w.Close()
	}
	if m.srv != nil {
		if err := m.srv.Unmount(); err != nil {
			t.Logf("the WAL left files open: %v", err)
		}
	}
}

// progress is what a workload had acknowledged when it stopped. Start from
// newProgress.
type progress struct {
	acked    uint64 // the last acknowledged index (0: none)
	first    uint64 // the first index promised by the last acknowledged TruncateFront (1: none)
	maxFirst uint64 // the highest first index attempted, acknowledged or not
}

func newProgress() progress { return progress{first: 1, maxFirst: 1} }

// workloadRecords is how many records runWorkload appends.
const workloadRecords = 20

// workStep is one step of the crash cases' workload: an Append of n records,
// a Sync, or a TruncateFront(truncate).
type workStep struct {
	n        uint64
	sync     bool
	truncate uint64
}

// workload appends records 1..20 in singles and batches, with a Sync and a
// TruncateFront in the middle.
var workload = []workStep{
	{n: 1}, {n: 3}, {n: 1}, {sync: true}, {n: 4}, {truncate: 4}, {n: 1}, {n: 2},
	{n: 1}, {truncate: 7}, {n: 5}, {n: 1}, {sync: true}, {n: 1},
}

// begin notes that step s has started: a TruncateFront may take effect
// before it is acknowledged.
func (p *progress) begin(s workStep) {
	if s.truncate > 0 {
		p.maxFirst = s.truncate
	}
}

// done notes that step s was acknowledged.
func (p *progress) done(s workStep) {
	switch {
	case s.n > 0:
		p.acked += s.n
	case s.truncate > 0:
		p.first = s.truncate
	}
}

// runStep runs step s on w, whose records so far are p's, and updates p.
// Records are payload(index).
func runStep(ctx context.Context, w backend.WAL, p *progress, s workStep) error {
	p.begin(s)
	switch {
	case s.n > 0:
		last, err := w.Append(ctx, payloads(p.acked+1, p.acked+s.n)...)
		if err != nil {
			return fmt.Errorf("append %d..%d: %w", p.acked+1, p.acked+s.n, err)
		}
		if last != p.acked+s.n {
			return fmt.Errorf("append %d..%d returned last %d", p.acked+1, p.acked+s.n, last)
		}
	case s.sync:
		if err := w.Sync(ctx); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	default:
		if err := w.TruncateFront(ctx, s.truncate); err != nil {
			return fmt.Errorf("TruncateFront(%d): %w", s.truncate, err)
		}
	}
	p.done(s)
	return nil
}

// runWorkload runs the workload's steps on w and closes it; it stops at the
// first error and returns it.
func runWorkload(ctx context.Context, w backend.WAL, p *progress) error {
	for _, s := range workload {
		if err := runStep(ctx, w, p, s); err != nil {
			return err
		}
	}
	return w.Close()
}

// checkRecovered requires a reopened WAL to hold every acknowledged record,
// possibly later ones of the workload, nothing else, with its first index
// between the acknowledged and the attempted truncation; then Append must
// continue at last+1. It returns the bounds found.
func checkRecovered(t *testing.T, w backend.WAL, p progress, when string) (first, last uint64) {
	t.Helper()
	return checkRecoveredUpTo(t, w, p, workloadRecords, when)
}

// checkRecoveredUpTo is checkRecovered for a workload that wrote records up
// to index written.
func checkRecoveredUpTo(t *testing.T, w backend.WAL, p progress, written uint64, when string) (first, last uint64) {
	t.Helper()
	return checkRecoveredWith(t, w, p, written, when, payload)
}

// checkRecoveredWith is checkRecoveredUpTo for a workload that stored
// records pl(index).
func checkRecoveredWith(t *testing.T, w backend.WAL, p progress, written uint64, when string, pl func(uint64) []byte) (first, last uint64) {
	t.Helper()
	ctx := t.Context()
	first, last, err := w.Bounds(ctx)
	if err != nil {
		t.Fatalf("%s: Bounds: %v", when, err)
	}
	if last < p.acked || last > written || first < p.first || first > p.maxFirst || first > last+1 {
		t.Fatalf("%s: Bounds = (%d, %d), want last in [%d, %d] (acknowledged, written) and first in [%d, %d] (truncation acknowledged, attempted)",
			when, first, last, p.acked, written, p.first, p.maxFirst)
	}
	n := first
	err = w.Replay(ctx, first, func(index uint64, data []byte) error {
		if index != n {
			return fmt.Errorf("replay delivered index %d, want %d", index, n)
		}
		if want := pl(index); string(data) != string(want) {
			return fmt.Errorf("record %d: got %s, want %s", index, describe(data), describe(want))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("%s: Replay: %v", when, err)
	}
	if n != last+1 {
		t.Fatalf("%s: Replay stopped at %d, want %d", when, n, last+1)
	}
	got, err := w.Append(ctx, payload(last+1))
	if err != nil || got != last+1 {
		t.Fatalf("%s: Append after recovery = (%d, %v), want %d", when, got, err, last+1)
	}
	return first, last
}

// powerCut takes the crash image of mem at the chosen moment and cuts the
// power: every later operation on the faulting FS fails with EIO. Safe for
// the concurrent FUSE server goroutines.
type powerCut struct {
	mu    sync.Mutex
	image *crashfs.FS
	at    faultfs.Event
}

// take takes the image at event e, unless one was taken already.
func (c *powerCut) take(mem *crashfs.FS, opts *crashfs.CrashOptions, e faultfs.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.image == nil {
		c.image, c.at = mem.CrashImage(opts), e
	}
}

// taken returns the image and where it was taken (nil and the zero Event: not yet).
func (c *powerCut) taken() (*crashfs.FS, faultfs.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.image, c.at
}
