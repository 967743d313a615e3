// Package storetest is the conformance suite of session stores: every
// driver under broker/store runs it from its tests, as WAL drivers run
// conformance.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/stretchr/testify/require"
)

// Opener opens a store on the storage of one test. Every call opens the
// same storage again, as a restart or a second broker sharing it would;
// enc is the encryption to open it with (nil: none). The suite closes what
// it opens.
type Opener func(enc *backend.Encryption) (store.Store, error)

// Options say what a driver supports.
type Options struct {
	// Encrypted: the driver seals states (store.Codec), so the key cases run.
	Encrypted bool
}

// Run runs the suite. storage returns an Opener on new, empty storage each
// time it is called.
func Run(t *testing.T, storage func(t *testing.T) Opener, opts Options) {
	open := func(t *testing.T, o Opener, enc *backend.Encryption) store.Store {
		t.Helper()
		s, err := o(enc)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	fresh := func(t *testing.T) store.Store { return open(t, storage(t), nil) }
	t.Run("Empty", func(t *testing.T) { testEmpty(t, fresh(t)) })
	t.Run("SaveLoad", func(t *testing.T) { testSaveLoad(t, fresh(t)) })
	t.Run("Checkpoint", func(t *testing.T) { testCheckpoint(t, fresh(t)) })
	t.Run("LaterEntryWins", func(t *testing.T) { testLaterEntryWins(t, fresh(t)) })
	t.Run("AllOrNothing", func(t *testing.T) { testAllOrNothing(t, fresh(t)) })
	t.Run("Reopen", func(t *testing.T) {
		o := storage(t)
		testReopen(t, func() store.Store { return open(t, o, nil) })
	})
	t.Run("Shared", func(t *testing.T) {
		o := storage(t)
		testShared(t, open(t, o, nil), open(t, o, nil))
	})
	t.Run("CheckpointCoversItsStates", func(t *testing.T) { testCheckpointCoversItsStates(t, fresh(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, fresh(t)) })
	t.Run("Sync", func(t *testing.T) {
		o := storage(t)
		s := open(t, o, nil)
		if _, ok := s.(store.Syncer); !ok {
			t.Skip("the store does not implement store.Syncer: every Save is durable when it returns")
		}
		testSync(t, s, func() store.Store { return open(t, o, nil) })
	})
	if opts.Encrypted {
		t.Run("EncryptionKeys", func(t *testing.T) {
			o := storage(t)
			testEncryptionKeys(t, func(enc *backend.Encryption) (store.Store, error) { return o(enc) })
		})
		t.Run("EncryptionPlaintextMigration", func(t *testing.T) {
			o := storage(t)
			testPlaintextMigration(t, func(enc *backend.Encryption) (store.Store, error) { return o(enc) })
		})
	}
	t.Run("LockSession", func(t *testing.T) {
		o := storage(t)
		a, b := open(t, o, nil), open(t, o, nil)
		la, ok := a.(store.Locker)
		if !ok {
			t.Skip("the store does not implement store.Locker: it is not shared between brokers")
		}
		testLockSession(t, la, b.(store.Locker))
	})
}

var ctx = context.Background()

func mustLoad(t *testing.T, s store.Store, id string) []byte {
	t.Helper()
	b, ok, err := s.Load(ctx, id)
	require.NoError(t, err)
	require.True(t, ok, "session %q stored", id)
	return b
}

func requireMissing(t *testing.T, s store.Store, id string) {
	t.Helper()
	_, ok, err := s.Load(ctx, id)
	require.NoError(t, err)
	require.False(t, ok, "session %q must not be stored", id)
}

func requireCheckpoint(t *testing.T, s store.Store, want uint64) {
	t.Helper()
	cp, err := s.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, want, cp)
}

func state(v string) []byte { return []byte(`{"v":"` + v + `"}`) }

func testEmpty(t *testing.T, s store.Store) {
	requireMissing(t, s, "a")
	requireCheckpoint(t, s, 0)
	require.NoError(t, s.Save(ctx, nil, 0), "an empty save is valid")
	requireCheckpoint(t, s, 0)
}

func testSaveLoad(t *testing.T, s store.Store) {
	buf := state("a1")
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: buf}, {SessionID: "b", State: state("b1")}}, 3))
	copy(buf, "XXXXXX") // the caller may reuse its buffer once Save returns
	require.Equal(t, state("a1"), mustLoad(t, s, "a"))
	require.Equal(t, state("b1"), mustLoad(t, s, "b"))
	requireCheckpoint(t, s, 3)
	got := mustLoad(t, s, "a")
	copy(got, "XXXXXX") // nor does changing what Load returned change the store
	require.Equal(t, state("a1"), mustLoad(t, s, "a"))

	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("a2")}}, 0))
	require.Equal(t, state("a2"), mustLoad(t, s, "a"))
	require.Equal(t, state("b1"), mustLoad(t, s, "b"))
	requireCheckpoint(t, s, 3) // 0 leaves it
	requireMissing(t, s, "c")
	id := "séssion/with spaces:and\"quotes\"ü"
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: id, State: state("odd")}}, 0))
	require.Equal(t, state("odd"), mustLoad(t, s, id))
}

func testCheckpoint(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(ctx, nil, 5))
	requireCheckpoint(t, s, 5)
	require.NoError(t, s.Save(ctx, nil, 3))
	requireCheckpoint(t, s, 5) // Save never lowers it
	require.NoError(t, s.SetCheckpoint(ctx, 2))
	requireCheckpoint(t, s, 2) // SetCheckpoint does
	require.NoError(t, s.SetCheckpoint(ctx, 0))
	requireCheckpoint(t, s, 0)
	require.NoError(t, s.Save(ctx, nil, 1<<40))
	requireCheckpoint(t, s, 1<<40)
}

func testLaterEntryWins(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("1")}, {SessionID: "a", State: state("2")}}, 0))
	require.Equal(t, state("2"), mustLoad(t, s, "a"))
}

// testAllOrNothing checks that a Save that fails leaves no part of itself:
// one refused for its context, and one with a session id some databases
// refuse (a NUL byte) after a valid entry.
func testAllOrNothing(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("1")}}, 1))
	done, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, s.Save(done, []store.Entry{{SessionID: "a", State: state("2")}, {SessionID: "b", State: state("2")}}, 2))
	require.Equal(t, state("1"), mustLoad(t, s, "a"))
	requireMissing(t, s, "b")
	requireCheckpoint(t, s, 1)

	odd := "nul\x00byte"
	err := s.Save(ctx, []store.Entry{{SessionID: "a", State: state("3")}, {SessionID: odd, State: state("3")}}, 3)
	if err != nil {
		require.Equal(t, state("1"), mustLoad(t, s, "a"), "a failed save must not keep its first entry")
		requireCheckpoint(t, s, 1)
		return
	}
	require.Equal(t, state("3"), mustLoad(t, s, "a"))
	require.Equal(t, state("3"), mustLoad(t, s, odd))
	requireCheckpoint(t, s, 3)
}

func testReopen(t *testing.T, open func() store.Store) {
	s := open()
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("1")}}, 7))
	require.NoError(t, s.Close())
	s = open()
	require.Equal(t, state("1"), mustLoad(t, s, "a"))
	requireCheckpoint(t, s, 7)
}

// testSync checks that Sync succeeds while other handles save and load
// (a store that must wait for them waits rather than fails), and that what
// was saved before it is there for a handle opened after it.
func testSync(t *testing.T, s store.Store, open func() store.Store) {
	syncer := s.(store.Syncer)
	const n = 40
	var wg sync.WaitGroup
	wg.Go(func() {
		w := open()
		for i := 1; i <= n; i++ {
			if err := w.Save(ctx, []store.Entry{{SessionID: "w", State: fmt.Appendf(nil, "%08d", i)}}, uint64(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		r := open()
		for range n {
			if _, _, err := r.Load(ctx, "w"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range n / 4 {
		require.NoError(t, syncer.Sync(ctx))
	}
	wg.Wait()
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("1")}}, n+1))
	require.NoError(t, syncer.Sync(ctx))
	later := open()
	require.Equal(t, state("1"), mustLoad(t, later, "a"))
	require.Equal(t, fmt.Appendf(nil, "%08d", n), mustLoad(t, later, "w"))
	requireCheckpoint(t, later, n+1)
}

// testShared checks that what one handle commits the other reads.
func testShared(t *testing.T, a, b store.Store) {
	require.NoError(t, a.Save(ctx, []store.Entry{{SessionID: "s", State: state("from a")}}, 0))
	require.Equal(t, state("from a"), mustLoad(t, b, "s"))
	require.NoError(t, b.Save(ctx, []store.Entry{{SessionID: "s", State: state("from b")}}, 0))
	require.Equal(t, state("from b"), mustLoad(t, a, "s"))
}

// testCheckpointCoversItsStates checks, while a writer saves session s at
// version i with checkpoint i, that a reader that sees checkpoint c then
// finds s at version c or later: the checkpoint never becomes visible
// before the states saved with it.
func testCheckpointCoversItsStates(t *testing.T, s store.Store) {
	const n = 60
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= n; i++ {
			if err := s.Save(ctx, []store.Entry{{SessionID: "s", State: fmt.Appendf(nil, "%08d", i)}}, uint64(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for {
		cp, err := s.Checkpoint(ctx)
		require.NoError(t, err)
		if cp > 0 {
			var v uint64
			_, err := fmt.Sscanf(string(mustLoad(t, s, "s")), "%d", &v)
			require.NoError(t, err)
			require.GreaterOrEqual(t, v, cp, "checkpoint %d visible before the state saved with it", cp)
		}
		if cp == n {
			break
		}
	}
	wg.Wait()
}

func testConcurrent(t *testing.T, s store.Store) {
	const writers, saves = 4, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 1; i <= saves; i++ {
				id := fmt.Sprintf("w%d-s%d", w, i%3)
				if err := s.Save(ctx, []store.Entry{{SessionID: id, State: fmt.Appendf(nil, "%d", i)}}, uint64(w*saves+i)); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := s.Load(ctx, fmt.Sprintf("w%d-s%d", (w+1)%writers, i%3)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	requireCheckpoint(t, s, writers*saves)
	for w := range writers {
		require.Equal(t, []byte("15"), mustLoad(t, s, fmt.Sprintf("w%d-s0", w)))
		require.Equal(t, []byte("13"), mustLoad(t, s, fmt.Sprintf("w%d-s1", w)))
		require.Equal(t, []byte("14"), mustLoad(t, s, fmt.Sprintf("w%d-s2", w)))
	}
}

func key(id string, b byte) backend.Key {
	return backend.Key{ID: id, Secret: bytes.Repeat([]byte{b}, backend.KeySize)}
}

func enc(active string, keys ...backend.Key) *backend.Encryption {
	return &backend.Encryption{Active: active, Keys: keys}
}

func requireKeyError(t *testing.T, err error, id string) {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrKey)
	var ke *backend.KeyError
	require.ErrorAs(t, err, &ke)
	require.Equal(t, id, ke.ID)
}

// testEncryptionKeys checks a wrong or missing key fails the open with
// backend.ErrKey naming the key id, and that after a rotation the older
// key still reads and a save moves the state under the active key.
func testEncryptionKeys(t *testing.T, open Opener) {
	k1, k2 := key("k1", 1), key("k2", 2)
	s, err := open(enc("k1", k1))
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("a1")}, {SessionID: "b", State: state("b1")}}, 1))
	require.NoError(t, s.Close())

	_, err = open(enc("k1", key("k1", 9)))
	requireKeyError(t, err, "k1")
	_, err = open(enc("k2", k2))
	requireKeyError(t, err, "k1")

	s, err = open(enc("k2", k1, k2))
	require.NoError(t, err)
	require.Equal(t, state("a1"), mustLoad(t, s, "a"))
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("a2")}}, 0))
	require.NoError(t, s.Close())

	// b is still under k1: without it the store does not open, rather than
	// lose b's state as if b were new.
	_, err = open(enc("k2", k2))
	requireKeyError(t, err, "k1")

	s, err = open(enc("k2", k1, k2))
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "b", State: mustLoad(t, s, "b")}}, 0))
	require.NoError(t, s.Close())

	s, err = open(enc("k2", k2))
	require.NoError(t, err, "every state now lives under k2")
	defer s.Close()
	require.Equal(t, state("a2"), mustLoad(t, s, "a"))
	require.Equal(t, state("b1"), mustLoad(t, s, "b"))
	requireCheckpoint(t, s, 1)
}

// testPlaintextMigration checks a store written without encryption opens
// with it only when told to read plaintext, and then reads and migrates.
func testPlaintextMigration(t *testing.T, open Opener) {
	s, err := open(nil)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: state("a1")}}, 0))
	require.NoError(t, s.Close())

	_, err = open(enc("k1", key("k1", 1)))
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorContains(t, err, "read_plaintext")

	e := enc("k1", key("k1", 1))
	e.ReadPlaintext = true
	s, err = open(e)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, []store.Entry{{SessionID: "a", State: mustLoad(t, s, "a")}}, 0))
	require.NoError(t, s.Close())

	s, err = open(enc("k1", key("k1", 1)))
	require.NoError(t, err, "the save sealed a's state")
	defer s.Close()
	require.Equal(t, state("a1"), mustLoad(t, s, "a"))
}

// lockWait bounds how long a lock call that must block is given before
// the test concludes it blocked; a longer one only slows the test.
const lockWait = 150 * time.Millisecond

func testLockSession(t *testing.T, a, b store.Locker) {
	unlock, err := a.LockSession(ctx, "s")
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, lockWait)
	_, err = b.LockSession(short, "s")
	cancel()
	require.Error(t, err, "a second holder of the same session across handles")
	require.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled), "ended by its context: %v", err)

	other, err := b.LockSession(ctx, "t")
	require.NoError(t, err, "another session is not held up")
	other()

	// A waiter gets the lock once it is released, and not before.
	var released atomic.Bool
	got := make(chan error, 1)
	go func() {
		u, err := b.LockSession(ctx, "s")
		if err == nil {
			if !released.Load() {
				err = errors.New("lock granted while held")
			}
			u()
		}
		got <- err
	}()
	released.Store(true)
	unlock()
	require.NoError(t, <-got)
	unlock() // a second call is harmless

	again, err := a.LockSession(ctx, "s")
	require.NoError(t, err, "released by the waiter")
	again()
}
