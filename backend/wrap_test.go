package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

var errSpyInjected = errors.New("injected I/O error")

// TestFailStop checks rule 5: after a driver's Append, Sync or TruncateFront
// fails, every later write returns that error without reaching the driver,
// reads still work, and a reopened WAL writes again.
func TestFailStop(t *testing.T) {
	for _, method := range []string{"Append", "Sync", "TruncateFront"} {
		t.Run(method, func(t *testing.T) {
			s, dir := newSpy(), t.TempDir()
			w := openSpy(t, s, dir, nil)
			ctx := t.Context()
			_, err := w.Append(ctx, []byte("one"), []byte("two"))
			require.NoError(t, err)

			s.failNext(method, errSpyInjected)
			switch method {
			case "Append":
				_, err = w.Append(ctx, []byte("lost"))
			case "Sync":
				err = w.Sync(ctx)
			case "TruncateFront":
				err = w.TruncateFront(ctx, 2)
			}
			require.ErrorIs(t, err, errSpyInjected)

			before := s.counts()
			for range 2 {
				_, err = w.Append(ctx, []byte("three"))
				require.ErrorIs(t, err, errSpyInjected, "Append after a failed %s", method)
				_, err = w.Append(ctx)
				require.ErrorIs(t, err, errSpyInjected, "empty Append after a failed %s", method)
				require.ErrorIs(t, w.Sync(ctx), errSpyInjected, "Sync after a failed %s", method)
				require.ErrorIs(t, w.TruncateFront(ctx, 2), errSpyInjected, "TruncateFront after a failed %s", method)
			}
			after := s.counts()
			for _, m := range []string{"Append", "Sync", "TruncateFront"} {
				require.Equal(t, before[m], after[m], "%s reached the driver after a failed %s", m, method)
			}
			first, last, err := w.Bounds(ctx)
			require.NoError(t, err)
			require.Equal(t, [2]uint64{1, 2}, [2]uint64{first, last})
			require.Equal(t, []string{"one", "two"}, replayStrings(t, w, 1))

			require.NoError(t, w.Close())
			w = openSpy(t, s, dir, nil)
			last, err = w.Append(ctx, []byte("three"))
			require.NoError(t, err)
			require.EqualValues(t, 3, last)
			require.NoError(t, w.Sync(ctx))
			require.NoError(t, w.TruncateFront(ctx, 2))
			require.Equal(t, []string{"two", "three"}, replayStrings(t, w, 2))
		})
	}
}

// lyingDriver's Append returns one index too many.
type lyingDriver struct{ *spy }

func (d lyingDriver) Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	w, err := d.spy.Open(ctx, cfg)
	return lyingWAL{w}, err
}

type lyingWAL struct{ backend.WAL }

func (w lyingWAL) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	last, err := w.WAL.Append(ctx, data...)
	return last + 1, err
}

// TestDriverWrongLastIsFailStop checks that a driver whose Append returns the
// wrong last index is caught: the caller gets an error, never the wrong index,
// and the WAL is fail-stop.
func TestDriverWrongLastIsFailStop(t *testing.T) {
	s := newSpy()
	w := openSpy(t, lyingDriver{s}, t.TempDir(), nil)
	_, err := w.Append(t.Context(), []byte("x"))
	require.ErrorContains(t, err, "driver returned last index 2, want 1")
	_, err = w.Append(t.Context(), []byte("y"))
	require.Error(t, err)
	require.Equal(t, 1, s.count("Append"))
}

// waitQueued waits until n Appends wait in w's group-commit queue. It polls
// the queue, yielding the processor, with a deadline that only turns a hang
// into a failure.
func waitQueued(t *testing.T, w backend.WAL, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for backend.QueuedAppends(w) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Appends queued, want %d", backend.QueuedAppends(w), n)
		}
		runtime.Gosched()
	}
}

// TestGroupCommit checks that Appends arriving while a driver Append is in
// progress are coalesced into one driver Append (one fsync), each caller
// still getting its own contiguous range.
func TestGroupCommit(t *testing.T) {
	const callers = 16
	s, obs := newSpy(), &observedCommits{}
	w := openSpy(t, s, t.TempDir(), obs)
	ctx := t.Context()

	release := s.blockNextAppend()
	defer release()
	leader := make(chan error, 1)
	go func() {
		_, err := w.Append(ctx, []byte("leader"))
		leader <- err
	}()
	<-s.entered

	type ack struct {
		last uint64
		recs []string
		err  error
	}
	acks := make(chan ack, callers)
	for i := range callers {
		go func() {
			recs := []string{}
			for j := range 1 + i%3 {
				recs = append(recs, fmt.Sprintf("caller %d record %d", i, j))
			}
			data := make([][]byte, len(recs))
			for j, r := range recs {
				data[j] = []byte(r)
			}
			last, err := w.Append(ctx, data...)
			acks <- ack{last, recs, err}
		}()
	}
	waitQueued(t, w, callers)
	release()
	require.NoError(t, <-leader)

	byFirst := map[uint64]ack{}
	total := 0
	for range callers {
		a := <-acks
		require.NoError(t, a.err)
		byFirst[a.last+1-uint64(len(a.recs))] = a
		total += len(a.recs)
	}
	require.Equal(t, 2, s.count("Append"), "the queued Appends share one driver Append")
	require.Equal(t, []int{1, total}, s.batches)
	require.Equal(t, []int{1, callers}, obs.callers, "Observer.Committed counts the callers answered")

	// The ranges tile [2, total+1] and hold each caller's records.
	all := replayStrings(t, w, 1)
	require.Len(t, all, total+1)
	for next := uint64(2); next <= uint64(total)+1; {
		a, ok := byFirst[next]
		require.True(t, ok, "no Append was acknowledged with a range starting at %d", next)
		require.Equal(t, a.recs, all[next-1:a.last])
		next = a.last + 1
	}
}

// TestLoneAppend checks that an Append with no company observedCommits alone and at once.
func TestLoneAppend(t *testing.T) {
	s := newSpy()
	w := openSpy(t, s, t.TempDir(), nil)
	for i := range 3 {
		last, err := w.Append(t.Context(), []byte("a"), []byte("b"))
		require.NoError(t, err)
		require.EqualValues(t, 2*(i+1), last)
	}
	require.Equal(t, []int{2, 2, 2}, s.batches)
	last, err := w.Append(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 6, last, "an empty Append returns last")
	require.Equal(t, 3, s.count("Append"), "an empty Append does not reach the driver")
}

// TestDoneContextRefused checks rule 8 at the wrapper: a done ctx is refused
// before any driver call.
func TestDoneContextRefused(t *testing.T) {
	s, dir := newSpy(), t.TempDir()
	w := openSpy(t, s, dir, nil)
	_, err := w.Append(t.Context(), []byte("kept"))
	require.NoError(t, err)
	before := s.counts()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = w.Append(ctx, []byte("x"))
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, w.Replay(ctx, 1, func(uint64, []byte) error { return nil }), context.Canceled)
	_, _, err = w.Bounds(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, w.TruncateFront(ctx, 2), context.Canceled)
	require.ErrorIs(t, w.Sync(ctx), context.Canceled)
	require.Equal(t, before, s.counts(), "a call with a done ctx reached the driver")

	_, err = backend.OpenDriver(ctx, s, backend.Config{Backend: "spy", Dir: t.TempDir()})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, s.opens(), "OpenDriver with a done ctx opened the driver")
	require.Equal(t, []string{"kept"}, replayStrings(t, w, 1))
}

// TestBoundsChecked checks that out-of-range indexes never reach the driver.
func TestBoundsChecked(t *testing.T) {
	s := newSpy()
	w := openSpy(t, s, t.TempDir(), nil)
	_, err := w.Append(t.Context(), []byte("a"), []byte("b"), []byte("c"))
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(t.Context(), 2))
	before := s.counts()
	for _, i := range []uint64{0, 1, 5} {
		require.ErrorIs(t, w.TruncateFront(t.Context(), i), backend.ErrOutOfRange)
		require.ErrorIs(t, w.Replay(t.Context(), i, func(uint64, []byte) error { return nil }), backend.ErrOutOfRange)
	}
	require.NoError(t, w.TruncateFront(t.Context(), 2), "TruncateFront(first) is a no-op")
	require.Equal(t, before, s.counts())
}

// TestCloseIdempotentConcurrent checks that concurrent Closes all succeed,
// close the driver once and release the lock, and later calls get ErrClosed.
func TestCloseIdempotentConcurrent(t *testing.T) {
	s, dir := newSpy(), t.TempDir()
	w := openSpy(t, s, dir, nil)
	_, err := w.Append(t.Context(), []byte("a"))
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- w.Close() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, s.count("Close"))
	_, err = w.Append(t.Context(), []byte("b"))
	require.ErrorIs(t, err, backend.ErrClosed)
	require.NoError(t, w.Close())

	w = openSpy(t, s, dir, nil)
	require.Equal(t, []string{"a"}, replayStrings(t, w, 1))
}

// TestLock checks rule 6 at the wrapper: a second open of the directory is
// refused with ErrLocked before the driver is opened.
func TestLock(t *testing.T) {
	s, dir := newSpy(), t.TempDir()
	w := openSpy(t, s, dir, nil)
	_, err := backend.OpenDriver(t.Context(), s, backend.Config{Backend: "spy", Dir: dir})
	require.ErrorIs(t, err, backend.ErrLocked)
	require.Equal(t, 1, s.opens())
	_, err = os.Stat(filepath.Join(dir, backend.LockFileName))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	openSpy(t, s, dir, nil)
}

// TestOpenDriverRefusals checks the errors OpenDriver gives before any driver
// work, and that a driver's failed Open leaves the directory unlocked.
func TestOpenDriverRefusals(t *testing.T) {
	s := newSpy()
	_, err := backend.OpenDriver(t.Context(), s, backend.Config{Backend: "spy"})
	require.ErrorContains(t, err, "Config.Dir is empty")
	_, err = backend.OpenDriver(t.Context(), s, backend.Config{Backend: "spy", Dir: t.TempDir(), Sync: 9})
	require.ErrorContains(t, err, "unknown sync mode 9")
	require.Equal(t, 0, s.opens())

	// A new Dir is created, parents included.
	dir := filepath.Join(t.TempDir(), "a", "b")
	openSpy(t, s, dir, nil)
	_, err = os.Stat(dir)
	require.NoError(t, err)

	dir, obs := t.TempDir(), &observedCommits{}
	corrupt := &backend.CorruptError{File: "f", Offset: 1, Reason: "test damage"}
	failing := backend.DriverFunc(func(context.Context, backend.Config) (backend.WAL, error) { return nil, corrupt })
	_, err = backend.OpenDriver(t.Context(), failing, backend.Config{Backend: "spy", Dir: dir, Observer: obs})
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.Equal(t, []error{corrupt}, obs.corrupt, "Observer.CorruptOpen is told")
	openSpy(t, s, dir, nil)
}

// badBoundsWAL reports first > last+1.
type badBoundsWAL struct{ backend.WAL }

func (badBoundsWAL) Bounds(context.Context) (uint64, uint64, error) { return 5, 2, nil }

func TestOpenDriverChecksBounds(t *testing.T) {
	s, dir := newSpy(), t.TempDir()
	d := backend.DriverFunc(func(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
		w, err := s.Open(ctx, cfg)
		return badBoundsWAL{w}, err
	})
	_, err := backend.OpenDriver(t.Context(), d, backend.Config{Backend: "spy", Dir: dir})
	require.ErrorContains(t, err, "first 5 > last+1 3")
	require.Equal(t, 1, s.count("Close"), "the driver's WAL is closed")
	openSpy(t, s, dir, nil)
}

// TestConcurrentAppendsTile checks the hand-off under real contention, with
// requests reused from the pool: every Append of many concurrent writers is
// acknowledged with its own range, the ranges tile the log, and each holds
// that writer's records, with and without a group-commit delay.
func TestConcurrentAppendsTile(t *testing.T) {
	for _, delay := range []string{"0s", "50us"} {
		t.Run("delay="+delay, func(t *testing.T) {
			const writers, appends = 8, 200
			w, err := backend.OpenDriver(t.Context(), newSpy(), backend.Config{
				Backend: "spy", Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
				Params: map[string]string{backend.ParamGroupCommitMaxDelay: delay},
			})
			require.NoError(t, err)
			defer w.Close()
			type ack struct {
				last uint64
				recs []string
			}
			acks := make(chan ack, writers*appends)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					for j := range appends {
						recs := []string{fmt.Sprintf("w%d a%d r0", i, j)}
						if j%2 == 1 {
							recs = append(recs, fmt.Sprintf("w%d a%d r1", i, j))
						}
						data := make([][]byte, len(recs))
						for k, r := range recs {
							data[k] = []byte(r)
						}
						last, err := w.Append(t.Context(), data...)
						if err != nil {
							t.Error(err)
							return
						}
						acks <- ack{last, recs}
					}
				})
			}
			wg.Wait()
			close(acks)
			all := replayStrings(t, w, 1)
			seen := 0
			for a := range acks {
				first := a.last + 1 - uint64(len(a.recs))
				require.Equal(t, a.recs, all[first-1:a.last], "records acknowledged at %d..%d", first, a.last)
				seen += len(a.recs)
			}
			require.Len(t, all, seen, "every record in the log was acknowledged once")
		})
	}
}
