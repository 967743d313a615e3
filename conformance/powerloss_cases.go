package conformance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

func init() {
	addCases(orderPowerLoss,
		testCase{
			name:  "power_loss_every_sync",
			rule:  "After a power loss right before or right after any fsync of a workload (appends in batches across files, Sync, TruncateFront, Close), Open succeeds unaided and the log holds every acknowledged record, byte-identical, possibly later records of the workload, nothing else; files and directory entries not fsync'd are gone.",
			skip:  Capabilities.crashReason,
			run:   testPowerLossEverySync,
			child: serveLossyfs,
		},
		testCase{
			name: "power_loss_every_operation",
			rule: "After a power loss before any file-system operation of the workload (so also between a write and its fsync, between creating a file and fsyncing its directory, and mid-truncation), with or without some unsynced 4 KiB blocks surviving, Open succeeds unaided and the log holds every acknowledged record and nothing but the workload's records.",
			skip: Capabilities.crashReason,
			run:  testPowerLossEveryOperation,
		},
	)
}

// testPowerLossEverySync runs the workload over FUSE twice per fsync the
// library issues, cutting the power right before fsync k (so it fails, and
// whatever was acknowledged since the last fsync must already be durable) and
// right after it completes. The FUSE server runs in a child process
// (serveLossyfs), so that a library mapping its files (bbolt) cannot
// deadlock with it.
func testPowerLossEverySync(t *testing.T, h Harness) {
	f := startFUSE(t)
	srv, mnt := f.srv, f.mnt
	var err error
	ctx, open := t.Context(), h.openSmall()
	dir := filepath.Join(mnt, walDir)
	for k := 1; k <= maxCutPoints; k++ {
		cut := lossyfs.Cut{Sync: (k + 1) / 2, After: k%2 == 0}
		if err := srv.Mount(mnt, cut); err != nil {
			t.Fatalf("mount: %v", err)
		}
		p := newProgress()
		f.w, err = open(ctx, dir)
		if err == nil {
			err = runWorkload(ctx, f.w, &p)
		}
		f.closeAndUnmount(fmt.Sprintf("power cut %d, workload", k))
		where, rerr := srv.Reboot()
		if rerr != nil {
			t.Fatalf("power cut %d: remount: %v", k, rerr)
		}
		when := fmt.Sprintf("power cut %d at %s %s #%d (%s)", k, phase(where), where.Op, where.N, where.Path)
		if where.Seq == 0 {
			if err != nil {
				t.Fatalf("the workload failed with no fault injected: %v", err)
			}
			when = "power cut after the workload closed the WAL"
		}
		if f.w, err = open(ctx, dir); err != nil {
			t.Fatalf("%s: Open after the power loss: %v", when, err)
		}
		checkRecovered(t, f.w, p, when)
		f.closeAndUnmount(when + ", recovery")
		if where.Seq == 0 {
			t.Logf("cut the power before and after each of %d fsyncs", cut.Sync-1)
			return
		}
	}
	t.Fatalf("the workload issued more than %d fsyncs", maxCutPoints/2)
}

// fuseSession is a FUSE server in a child process and the WAL a case has
// open on its mount, for the power-loss cases of libraries doing their own
// I/O.
type fuseSession struct {
	t   *testing.T
	srv *lossyfs.Remote
	mnt string
	w   backend.WAL // open on the mount, or nil
}

// startFUSE starts the FUSE server (serveLossyfs) in a child process, or
// skips the test naming the missing prerequisite. Cleanup closes the WAL
// before the server, since a failing round leaves its WAL open.
func startFUSE(t *testing.T) *fuseSession {
	if err := lossyfs.Available(); err != nil {
		t.Skip("power loss of a library doing its own I/O is simulated over FUSE, which is unavailable here: " + err.Error())
	}
	f := &fuseSession{t: t, mnt: t.TempDir()}
	srv, err := lossyfs.Start(childCommand(t, f.mnt, ""), lossyfsTimeout)
	if err != nil {
		t.Fatalf("start the FUSE server: %v", err)
	}
	f.srv = srv
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() {
		if f.w != nil {
			f.w.Close()
		}
	})
	return f
}

// closeAndUnmount closes the WAL, if open, and unmounts; when names the
// round in messages.
func (f *fuseSession) closeAndUnmount(when string) {
	if f.w != nil {
		f.w.Close()
		f.w = nil
	}
	if err := f.srv.Unmount(); errors.Is(err, lossyfs.ErrBusy) {
		f.t.Logf("%s: the WAL left files open: %v", when, err)
	} else if err != nil {
		f.t.Fatalf("%s: unmount: %v", when, err)
	}
}

// lossyfsTimeout bounds each exchange with the FUSE server's process: a
// watchdog, not a synchronisation.
const lossyfsTimeout = 30 * time.Second

// serveLossyfs is the FUSE server of testPowerLossEverySync, in the child
// process: it serves the commands the parent sends on stdin.
func serveLossyfs(t *testing.T, _ Harness) {
	if err := lossyfs.Serve(os.Stdin, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

// testPowerLossEveryOperation runs the workload on the in-memory crash FS once
// per file-system operation, cutting the power just before it.
func testPowerLossEveryOperation(t *testing.T, h Harness) {
	r := memRig(t, h)
	before := func(e faultfs.Event) bool { return !e.After }
	t.Run("strict", func(t *testing.T) {
		r.t = t
		n := cutEverywhere(t, r, before, nil)
		t.Logf("cut the power before each of %d operations", n)
	})
	t.Run("unsynced_blocks", func(t *testing.T) {
		r.t = t
		cutEverywhere(t, r, before, func(k int) *crashfs.CrashOptions {
			return &crashfs.CrashOptions{UnsyncedBlocks: 0.5, Seed: int64(k)}
		})
	})
}

// maxCutPoints bounds the loop of cutEverywhere for a backend that never
// stops issuing operations.
const maxCutPoints = 5000

// cutEverywhere runs the workload once per event matching at, cutting the
// power at the kth such event in round k, and checks the recovered log each
// time; the last round cuts after the workload has closed the WAL. It
// returns the number of cut points.
func cutEverywhere(t *testing.T, r *rig, at func(faultfs.Event) bool, opts func(k int) *crashfs.CrashOptions) int {
	t.Helper()
	for k := 1; k <= maxCutPoints; k++ {
		mem := crashfs.New()
		faults := faultfs.New(mem)
		var cut powerCut
		seen := countdown{n: k}
		var crashOpts *crashfs.CrashOptions
		if opts != nil {
			crashOpts = opts(k)
		}
		faults.Inject(func(e faultfs.Event) error {
			if !at(e) || !seen.hit() {
				return nil
			}
			cut.take(mem, crashOpts, e)
			faults.Cut(syscall.EIO)
			if !e.After {
				return &os.PathError{Op: e.Op.String(), Path: e.Path, Err: syscall.EIO}
			}
			return nil
		})

		p := newProgress()
		m, err := r.open(faults)
		if err == nil {
			err = runWorkload(t.Context(), m.w, &p)
		}
		m.close(t)
		image, where := cut.taken()
		when := fmt.Sprintf("power cut %d at %s %s #%d (%s)", k, phase(where), where.Op, where.N, where.Path)
		if image == nil {
			if err != nil {
				t.Fatalf("the workload failed with no fault injected: %v", err)
			}
			image, when = mem.CrashImage(crashOpts), "power cut after the workload closed the WAL"
		}
		m, err = r.open(image)
		if err != nil {
			t.Fatalf("%s: Open after the power loss: %v", when, err)
		}
		checkRecovered(t, m.w, p, when)
		m.close(t)
		if where.Seq == 0 {
			return k - 1
		}
	}
	t.Fatalf("the workload issued more than %d operations", maxCutPoints)
	return 0
}

func phase(e faultfs.Event) string {
	if e.After {
		return "after"
	}
	return "before"
}

// countdown reports true on its nth hit, once.
type countdown struct {
	mu sync.Mutex
	n  int
}

func (c *countdown) hit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	return c.n == 0
}
