package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func init() {
	addCases(orderFaults, testCase{
		name: "enospc_tmpfs",
		rule: "On a real file system that fills up (a small tmpfs), the Append that hits the end fails with errors.Is ENOSPC, nothing more is acknowledged, and after a filler file is deleted the reopened WAL holds every acknowledged record, no partial one, and appends again.",
		skip: Capabilities.crashReason,
		run:  testENOSPCTmpfs,
	})
}

const (
	tmpfsSize = "16m"
	// tmpfsSlack is the room left beside the filler: a few records fit, then
	// the disk is full.
	tmpfsSlack = 24 << 10
	// maxFullAppends bounds the appends that try to fill tmpfsSlack.
	maxFullAppends = 10000
)

// mountTmpfs mounts a tmpfs of tmpfsSize for the test, or skips it saying why.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("ENOSPC on a real file system needs root to mount a small tmpfs; the enospc_fault case covers it through the fault layer")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+tmpfsSize); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v); the enospc_fault case covers ENOSPC through the fault layer", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount tmpfs %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes zeros to name until the file system is full, then gives
// back slack bytes.
func fillDisk(t *testing.T, name string, slack int64) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var size int64
	for len(chunk) > 0 {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			chunk = chunk[:len(chunk)/2]
			continue
		}
		if err != nil {
			t.Fatalf("write filler: %v", err)
		}
	}
	if err := f.Truncate(max(0, size-slack)); err != nil {
		t.Fatalf("truncate filler: %v", err)
	}
}

func testENOSPCTmpfs(t *testing.T, h Harness) {
	root := mountTmpfs(t)
	open := h.openSmall()
	dir := filepath.Join(root, "wal")
	ctx := t.Context()
	w, err := open(ctx, dir)
	if err != nil {
		t.Fatalf("Open on tmpfs: %v", err)
	}
	defer w.Close()
	p := newProgress()
	appendAcked(t, w, &p, 2)

	filler := filepath.Join(root, "filler")
	fillDisk(t, filler, tmpfsSlack)
	var full error
	for range maxFullAppends {
		last, err := w.Append(ctx, payload(p.acked+1))
		if err != nil {
			full = err
			break
		}
		if last != p.acked+1 {
			t.Fatalf("Append returned %d, want %d", last, p.acked+1)
		}
		p.acked = last
	}
	if full == nil {
		t.Fatalf("%d appends did not fill a %s tmpfs", maxFullAppends, tmpfsSize)
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Errorf("Append on a full tmpfs: the error does not wrap ENOSPC (errors.Is): %v", full)
	}
	if last, err := w.Append(ctx, payload(p.acked+1)); err == nil {
		t.Fatalf("Append after ENOSPC acknowledged index %d", last)
	}
	w.Close()

	if err := os.Remove(filler); err != nil {
		t.Fatalf("remove filler: %v", err)
	}
	w, err = open(ctx, dir)
	if err != nil {
		t.Fatalf("Open after freeing space: %v", err)
	}
	defer w.Close()
	checkRecoveredUpTo(t, w, p, p.acked+1, "reopen after freeing space")
	t.Logf("the disk filled after %d records", p.acked)
}
