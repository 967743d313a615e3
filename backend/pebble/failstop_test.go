package pebble_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv/kvtest"
	walpebble "github.com/nautilus-go/nautilus/backend/pebble"
)

// A failed write or fsync of Pebble's own WAL makes Pebble call its
// logger's Fatalf, which by default exits the process. The driver turns it
// into an error (a *FatalError), so the WAL fails stop instead.
func TestPebbleWALFailureIsAnError(t *testing.T) {
	for _, kind := range []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileSync} {
		t.Run(kindName(kind), func(t *testing.T) {
			ctx := context.Background()
			mem := pebblevfs.NewMem()
			var failing atomic.Bool
			fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if failing.Load() && strings.HasSuffix(op.Path, ".log") && sameKind(op.Kind, kind) {
					return errorfs.ErrInjected
				}
				return nil
			}))
			dir := t.TempDir()
			open := func() backend.WAL {
				w, err := walpebble.OpenWithOptions(ctx, backend.Config{Dir: dir, Logger: quiet}, &walpebble.Options{FS: fs})
				require.NoError(t, err)
				return w
			}
			w := open()
			kvtest.Fill(t, w, 1, 5)

			failing.Store(true)
			_, err := w.Append(ctx, []byte("lost"))
			require.ErrorIs(t, err, errorfs.ErrInjected)
			var fatal *walpebble.FatalError
			require.ErrorAs(t, err, &fatal)
			require.NotErrorIs(t, err, backend.ErrCorrupt)

			failing.Store(false)
			_, err = w.Append(ctx, []byte("after"))
			require.ErrorIs(t, err, errorfs.ErrInjected, "the failure must be sticky until reopen")
			w.Close() // reports the failure again; what matters is that it returns

			w = open()
			first, last, err := w.Bounds(ctx)
			require.NoError(t, err)
			require.Equal(t, uint64(1), first)
			require.Contains(t, []uint64{5, 6}, last, "the failed record may or may not have reached the file")
			var got [][]byte
			require.NoError(t, w.Replay(ctx, 1, func(_ uint64, data []byte) error {
				got = append(got, bytes.Clone(data))
				return nil
			}))
			for i := range uint64(5) {
				require.Equal(t, kvtest.Payload(i+1), got[i])
			}
			if last == 6 {
				require.Equal(t, "lost", string(got[5]))
			}
			require.NoError(t, w.Close())
		})
	}
}

func sameKind(got, want errorfs.OpKind) bool {
	if want == errorfs.OpFileSync {
		return got == errorfs.OpFileSync || got == errorfs.OpFileSyncData
	}
	return got == want || (want == errorfs.OpFileWrite && got == errorfs.OpFileWriteAt)
}

func kindName(k errorfs.OpKind) string {
	if k == errorfs.OpFileSync {
		return "fsync"
	}
	return "write"
}

// pebble.Open flushes the WAL it replays and retries a failed flush without
// end. Open must fail instead of hanging when the disk fails then.
func TestOpenFailsWhenReplayFlushFails(t *testing.T) {
	ctx := context.Background()
	m := newMemWAL(t)
	w := m.open(backend.SyncAlways)
	kvtest.Fill(t, w, 1, 10)
	m.powerLoss(w) // the records are left in Pebble's WAL, to be replayed

	var failing atomic.Bool
	failing.Store(true)
	fs := errorfs.Wrap(m.fs, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && op.Kind == errorfs.OpCreate && strings.HasSuffix(op.Path, ".sst") {
			return errorfs.ErrInjected
		}
		return nil
	}))
	opened := make(chan error, 1)
	go func() {
		w, err := walpebble.OpenWithOptions(ctx, backend.Config{Dir: m.dir, Logger: quiet}, &walpebble.Options{FS: fs})
		if err == nil {
			w.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		require.ErrorIs(t, err, errorfs.ErrInjected)
	case <-time.After(30 * time.Second):
		t.Fatal("Open hung on a failing flush")
	}
	// Let the abandoned pebble.Open finish; the driver then closes it, which
	// releases Pebble's lock, with nothing to wait on but the lock itself.
	failing.Store(false)
	var err error
	require.Eventually(t, func() bool {
		w, err = walpebble.OpenWithOptions(ctx, backend.Config{Dir: m.dir, Logger: quiet}, &walpebble.Options{FS: m.fs})
		return !errors.Is(err, backend.ErrLocked)
	}, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, err)
	kvtest.Check(t, w, 1, 10)
	require.NoError(t, w.Close())
}
