package conformance

import (
	"errors"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
)

func init() {
	addCases(orderFaults,
		testCase{
			name: "fsync_error_fail_stop",
			rule: "When an fsync fails, the Append waiting on it fails with the cause (errors.Is EIO), and every later Append, Sync and TruncateFront fails too, writing nothing, even though later fsyncs would succeed; after reopen, on what reached the disk or on what a power loss leaves, every acknowledged record is intact.",
			skip: Capabilities.crashReason,
			run:  testFsyncFailStop,
		},
		testCase{
			name: "enospc_fault",
			rule: "When the disk fills mid-write (a short write, then ENOSPC), the Append fails with errors.Is ENOSPC, nothing more is acknowledged, and once space is back the reopened WAL holds every acknowledged record, no partial one, and appends again.",
			skip: Capabilities.crashReason,
			run:  testENOSPCFault,
		},
		testCase{
			name: "crash_during_recovery",
			rule: "A crash at any step of the recovery of a torn tail (before or after its copy, truncation or fsync) leaves a directory whose next recovery gives the same log as an uninterrupted recovery.",
			skip: Capabilities.crashReason,
			run:  testCrashDuringRecovery,
		},
	)
}

// onBothRigs runs body over FUSE and, when h.OpenFS is set, on the crash FS
// directly, as subtests; t skips when neither can run.
func onBothRigs(t *testing.T, h Harness, body func(t *testing.T, r *rig)) {
	fuse, mem := fuseReason(h), memReason(h)
	if fuse != "" && mem != "" {
		t.Skipf("neither over FUSE (%s) nor on the in-memory crash FS (%s)", fuse, mem)
	}
	t.Run("fuse", func(t *testing.T) { body(t, fuseRig(t, h)) })
	t.Run("memfs", func(t *testing.T) { body(t, memRig(t, h)) })
}

// mustOpen opens the WAL on fsys and fails t on error.
func (r *rig) mustOpen(fsys *faultfs.FS, when string) *mounted {
	r.t.Helper()
	m, err := r.open(fsys)
	if err != nil {
		r.t.Fatalf("%s: Open: %v", when, err)
	}
	return m
}

// appendAcked appends payload(acked+1 .. acked+n) and requires it acknowledged.
func appendAcked(t *testing.T, w backend.WAL, p *progress, n uint64) {
	t.Helper()
	appendWant(t, w, p.acked+n, payloads(p.acked+1, p.acked+n)...)
	p.acked += n
}

// dataOps are the operations that change what is stored.
var dataOps = map[faultfs.Op]bool{
	faultfs.OpWrite: true, faultfs.OpCreate: true, faultfs.OpTruncate: true,
	faultfs.OpRename: true, faultfs.OpRemove: true, faultfs.OpMkdir: true,
}

func testFsyncFailStop(t *testing.T, h Harness) {
	onBothRigs(t, h, func(t *testing.T, r *rig) {
		mem := crashfs.New()
		faults := faultfs.New(mem)
		m := r.mustOpen(faults, "first open")
		p := newProgress()
		appendAcked(t, m.w, &p, 1)
		appendAcked(t, m.w, &p, 2)

		// Fail the next fsync only: a retry would succeed, so only fail-stop
		// keeps a record whose fsync failed from being acknowledged later.
		faults.Inject(faultfs.Fail(faultfs.OpSync, faults.Count(faultfs.OpSync)+1, syscall.EIO))
		ctx := t.Context()
		_, err := m.w.Append(ctx, payload(p.acked+1))
		if err == nil {
			t.Fatalf("Append succeeded although its fsync failed")
		}
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("Append's error does not wrap the fsync's EIO (errors.Is): %v", err)
		}

		var wroteMu sync.Mutex // the FUSE server calls hooks from its goroutines
		var wrote []faultfs.Event
		stop := false
		faults.Inject(func(e faultfs.Event) error {
			wroteMu.Lock()
			defer wroteMu.Unlock()
			if !stop && dataOps[e.Op] && !e.After {
				wrote = append(wrote, e)
			}
			return nil
		})
		for i := range 3 {
			if last, err := m.w.Append(ctx, payload(p.acked+1)); err == nil {
				t.Fatalf("Append %d after the failed fsync acknowledged index %d", i+1, last)
			}
			if err := m.w.Sync(ctx); err == nil {
				t.Fatalf("Sync %d after the failed fsync succeeded", i+1)
			}
			if err := m.w.TruncateFront(ctx, 2); err == nil {
				t.Fatalf("TruncateFront %d after the failed fsync succeeded", i+1)
			}
		}
		wroteMu.Lock()
		if len(wrote) > 0 {
			t.Errorf("after the failed fsync the WAL still changed files: %v", wrote)
		}
		stop = true
		wroteMu.Unlock()
		m.close(t)

		m = r.mustOpen(faultfs.New(mem.CrashImage(nil)), "reopen after a power loss")
		checkRecovered(t, m.w, p, "reopen after a power loss")
		m.close(t)
		m = r.mustOpen(faultfs.New(mem), "reopen after a restart")
		checkRecovered(t, m.w, p, "reopen after a restart")
		m.close(t)
	})
}

func testENOSPCFault(t *testing.T, h Harness) {
	onBothRigs(t, h, func(t *testing.T, r *rig) {
		mem := crashfs.New()
		faults := faultfs.New(mem)
		m := r.mustOpen(faults, "first open")
		p := newProgress()
		appendAcked(t, m.w, &p, 2)
		appendAcked(t, m.w, &p, 1)

		// The disk fills: the next write lands half, every later one fails.
		n := faults.Count(faultfs.OpWrite)
		faults.Inject(faultfs.ShortWrite(n+1, -1, syscall.ENOSPC))
		faults.Inject(faultfs.FailFrom(faultfs.OpWrite, n+2, syscall.ENOSPC))
		ctx := t.Context()
		for i := range 3 {
			last, err := m.w.Append(ctx, payloads(p.acked+1, p.acked+2)...)
			if err == nil {
				t.Fatalf("Append %d on a full disk acknowledged index %d", i+1, last)
			}
			if i == 0 && !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Append's error on a full disk does not wrap ENOSPC (errors.Is): %v", err)
			}
		}
		m.close(t)

		// Space is back: the same files, with no fault.
		m = r.mustOpen(faultfs.New(mem), "reopen with space freed")
		checkRecovered(t, m.w, p, "reopen with space freed")
		m.close(t)
	})
}

// walLog is a recovered log: its bounds and records.
type walLog struct {
	first, last uint64
	records     [][]byte
}

func readLog(t *testing.T, w backend.WAL, when string) walLog {
	t.Helper()
	var l walLog
	var err error
	if l.first, l.last, err = w.Bounds(t.Context()); err != nil {
		t.Fatalf("%s: Bounds: %v", when, err)
	}
	err = w.Replay(t.Context(), l.first, func(_ uint64, data []byte) error {
		l.records = append(l.records, append([]byte{}, data...))
		return nil
	})
	if err != nil {
		t.Fatalf("%s: Replay: %v", when, err)
	}
	return l
}

func testCrashDuringRecovery(t *testing.T, h Harness) {
	onBothRigs(t, h, func(t *testing.T, r *rig) {
		// A torn tail: the third Append's write lands half and is never fsync'd;
		// every block written survives the power loss.
		mem := crashfs.New()
		faults := faultfs.New(mem)
		m := r.mustOpen(faults, "first open")
		p := newProgress()
		appendAcked(t, m.w, &p, 2)
		appendAcked(t, m.w, &p, 3)
		faults.Inject(faultfs.ShortWrite(faults.Count(faultfs.OpWrite)+1, -1, syscall.EIO))
		if _, err := m.w.Append(t.Context(), payloads(p.acked+1, p.acked+2)...); err == nil {
			t.Fatalf("Append succeeded although its write failed")
		}
		m.close(t)
		torn := mem.CrashImage(&crashfs.CrashOptions{UnsyncedBlocks: 1})

		// The uninterrupted recovery, and how many operations it takes.
		ref := faultfs.New(torn.CrashImage(nil))
		m = r.mustOpen(ref, "uninterrupted recovery")
		steps := ref.Count(faultfs.OpAny)
		want := readLog(t, m.w, "uninterrupted recovery")
		checkRecovered(t, m.w, p, "uninterrupted recovery")
		m.close(t)

		for k := 1; k <= steps; k++ {
			disk := torn.CrashImage(nil)
			faults := faultfs.New(disk)
			var cut powerCut
			faults.Inject(func(e faultfs.Event) error {
				if e.After || e.Seq != k {
					return nil
				}
				cut.take(disk, nil, e)
				faults.Cut(syscall.EIO)
				return &os.PathError{Op: e.Op.String(), Path: e.Path, Err: syscall.EIO}
			})
			m, err := r.open(faults)
			if err == nil {
				m.close(t)
			}
			image, at := cut.taken()
			if image == nil {
				t.Fatalf("recovery took %d operations before, but not %d now", steps, k)
			}
			when := "second recovery after a crash before " + at.Op.String() + " " + at.Path
			m = r.mustOpen(faultfs.New(image), when)
			if got := readLog(t, m.w, when); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: log (%d, %d) with %d records, want (%d, %d) with %d as after an uninterrupted recovery",
					when, got.first, got.last, len(got.records), want.first, want.last, len(want.records))
			}
			m.close(t)
		}
		t.Logf("crashed recovery at each of its %d operations", steps)
	})
}
