package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	addCases(orderLifecycle,
		testCase{
			name: "cancelled_context",
			rule: "Open and every method given a done context fail with an error satisfying errors.Is(err, ctx.Err()) and change nothing.",
			run:  testCancelledContext,
		},
		testCase{
			name: "close",
			rule: "Close is idempotent, every other call after it fails with ErrClosed, and the records are intact on reopen.",
			run:  testClose,
		},
		testCase{
			name: "second_open_locked",
			rule: "A second Open of a directory already open in this process fails with ErrLocked and leaves the first WAL working; after Close the directory opens again.",
			run:  testSecondOpenLocked,
		},
		testCase{
			name:  "second_open_locked_other_process",
			rule:  "An Open from another process of a directory already open fails with ErrLocked; after Close the other process opens it.",
			run:   testSecondOpenOtherProcess,
			child: childSecondOpen,
		},
	)
}

// doneContexts returns a cancelled context and one past its deadline.
func doneContexts(t *testing.T) map[string]context.Context {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	t.Cleanup(cancel)
	return map[string]context.Context{"cancelled": cancelled, "expired": expired}
}

func testCancelledContext(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 3, payloads(1, 3)...)
	for name, ctx := range doneContexts(t) {
		want := ctx.Err()
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Fatalf("%s with a %s context = %v, want an error satisfying errors.Is(err, %v)", op, name, err, want)
			}
		}
		_, err := w.Append(ctx, payload(4))
		check("Append", err)
		calls := 0
		check("Replay", w.Replay(ctx, 1, func(uint64, []byte) error { calls++; return nil }))
		if calls != 0 {
			t.Fatalf("Replay with a %s context called fn %d times", name, calls)
		}
		_, _, err = w.Bounds(ctx)
		check("Bounds", err)
		check("TruncateFront", w.TruncateFront(ctx, 3))
		check("Sync", w.Sync(ctx))
		wantBounds(t, w, 1, 3)
		wantRecords(t, w, 1, payloads(1, 3))

		other, err := h.Open(ctx, t.TempDir())
		if err == nil {
			other.Close()
		}
		check("Open", err)
	}
	w = reopen(t, h, dir, w)
	wantBounds(t, w, 1, 3)
	wantRecords(t, w, 1, payloads(1, 3))
	closeWAL(t, w)

	for name, ctx := range doneContexts(t) {
		w, err := h.Open(ctx, dir)
		if err == nil {
			w.Close()
		}
		if !errors.Is(err, ctx.Err()) {
			t.Fatalf("Open of an existing WAL with a %s context = %v, want errors.Is(err, %v)", name, err, ctx.Err())
		}
	}
	w = openWAL(t, h, dir)
	wantBounds(t, w, 1, 3)
	wantRecords(t, w, 1, payloads(1, 3))
}

func testClose(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 3, payloads(1, 3)...)
	closeWAL(t, w)
	closeWAL(t, w)

	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, backend.ErrClosed) {
			t.Fatalf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
	ctx := t.Context()
	_, err := w.Append(ctx, payload(4))
	check("Append", err)
	_, err = w.Append(ctx)
	check("Append with no records", err)
	calls := 0
	check("Replay", w.Replay(ctx, 1, func(uint64, []byte) error { calls++; return nil }))
	if calls != 0 {
		t.Fatalf("Replay after Close called fn %d times", calls)
	}
	_, _, err = w.Bounds(ctx)
	check("Bounds", err)
	check("TruncateFront", w.TruncateFront(ctx, 2))
	check("Sync", w.Sync(ctx))
	closeWAL(t, w)

	w = openWAL(t, h, dir)
	wantBounds(t, w, 1, 3)
	wantRecords(t, w, 1, payloads(1, 3))
}

func testSecondOpenLocked(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 2, payloads(1, 2)...)
	for range 2 {
		second, err := h.Open(t.Context(), dir)
		if err == nil {
			second.Close()
		}
		if !errors.Is(err, backend.ErrLocked) {
			t.Fatalf("second Open of %s = %v, want ErrLocked", dir, err)
		}
	}
	appendWant(t, w, 3, payload(3))
	wantRecords(t, w, 1, payloads(1, 3))
	w = reopen(t, h, dir, w)
	wantRecords(t, w, 1, payloads(1, 3))
}

// Child answers for second_open_locked_other_process.
const (
	childLocked = "locked"
	childOpened = "opened"
)

func testSecondOpenOtherProcess(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 2, payloads(1, 2)...)
	runSecondOpen(t, dir, childLocked)
	// The first WAL is unharmed by the attempt and still holds the directory.
	appendWant(t, w, 3, payload(3))
	closeWAL(t, w)
	runSecondOpen(t, dir, childOpened)
	w = openWAL(t, h, dir)
	wantRecords(t, w, 1, payloads(1, 3))
}

// runSecondOpen runs the child, which opens dir and must report want.
func runSecondOpen(t *testing.T, dir, want string) {
	t.Helper()
	out, err := childCommand(t, dir, want).CombinedOutput()
	if err != nil || !strings.Contains(string(out), childPrefix+want+"\n") {
		t.Fatalf("child process opening %s: want it to report %q; exit: %v; output:\n%s", dir, want, err, out)
	}
}

// childSecondOpen opens the directory and reports ErrLocked or success; any
// other outcome fails the child, which the parent sees as a missing answer.
func childSecondOpen(t *testing.T, h Harness) {
	dir, want := childEnv(t)
	w, err := h.Open(t.Context(), dir)
	switch {
	case want == childLocked && errors.Is(err, backend.ErrLocked):
		childSays(t, childLocked)
	case want == childOpened && err == nil:
		if !h.Caps.NotPersistent {
			wantRecords(t, w, 1, payloads(1, 3))
		}
		closeWAL(t, w)
		childSays(t, childOpened)
	case err == nil:
		w.Close()
		t.Fatalf("Open of %s from a second process succeeded, want %s", dir, want)
	default:
		t.Fatalf("Open of %s from a second process = %v, want %s", dir, err, want)
	}
}
