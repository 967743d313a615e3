package backend_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/memory"
	"github.com/stretchr/testify/require"
)

// spy is a driver over the memory backend that counts the calls reaching it
// and can fail or block them. Its logs outlive a Close, keyed by Dir, so a
// test can reopen.
type spy struct {
	mu      sync.Mutex
	nOpens  int
	calls   map[string]int
	batches []int            // records per driver Append
	fail    map[string]error // the next call of the method fails with it
	block   chan struct{}    // the next Append waits until it is closed
	entered chan struct{}    // told when an Append starts waiting on block
}

func newSpy() *spy {
	return &spy{calls: map[string]int{}, fail: map[string]error{}, entered: make(chan struct{}, 1)}
}

func (s *spy) Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	s.mu.Lock()
	s.nOpens++
	s.mu.Unlock()
	inner, err := memory.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &spyWAL{s: s, inner: inner}, nil
}

func (s *spy) opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nOpens
}

// count returns how many calls of method reached the driver.
func (s *spy) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// counts returns the calls of every method that reached the driver.
func (s *spy) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for k, v := range s.calls {
		m[k] = v
	}
	return m
}

func (s *spy) failNext(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = err
}

// blockNextAppend makes the next driver Append wait; the returned function
// releases it.
func (s *spy) blockNextAppend() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	block := make(chan struct{})
	s.block = block
	return sync.OnceFunc(func() { close(block) })
}

func (s *spy) enter(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	err := s.fail[method]
	delete(s.fail, method)
	return err
}

type spyWAL struct {
	s     *spy
	inner backend.WAL
}

func (w *spyWAL) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	if err := w.s.enter("Append"); err != nil {
		return 0, err
	}
	w.s.mu.Lock()
	w.s.batches = append(w.s.batches, len(data))
	block := w.s.block
	w.s.block = nil
	w.s.mu.Unlock()
	if block != nil {
		w.s.entered <- struct{}{}
		<-block
	}
	return w.inner.Append(ctx, data...)
}

func (w *spyWAL) Replay(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	if err := w.s.enter("Replay"); err != nil {
		return err
	}
	return w.inner.Replay(ctx, from, fn)
}

func (w *spyWAL) Bounds(ctx context.Context) (uint64, uint64, error) {
	if err := w.s.enter("Bounds"); err != nil {
		return 0, 0, err
	}
	return w.inner.Bounds(ctx)
}

func (w *spyWAL) TruncateFront(ctx context.Context, before uint64) error {
	if err := w.s.enter("TruncateFront"); err != nil {
		return err
	}
	return w.inner.TruncateFront(ctx, before)
}

func (w *spyWAL) Sync(ctx context.Context) error {
	if err := w.s.enter("Sync"); err != nil {
		return err
	}
	return w.inner.Sync(ctx)
}

func (w *spyWAL) Close() error {
	if err := w.s.enter("Close"); err != nil {
		return err
	}
	return w.inner.Close()
}

// observedCommits records what the wrapper reports through Observer.
type observedCommits struct {
	backend.NopObserver
	mu      sync.Mutex
	callers []int
	corrupt []error
}

func (c *observedCommits) Committed(records, bytes, callers int, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.callers = append(c.callers, callers)
}

func (c *observedCommits) CorruptOpen(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corrupt = append(c.corrupt, err)
}

// openSpy opens s on dir through the wrapper, closing it when the test ends.
func openSpy(t *testing.T, d backend.Driver, dir string, obs backend.Observer) backend.WAL {
	t.Helper()
	w, err := backend.OpenDriver(t.Context(), d, backend.Config{
		Backend: "spy", Dir: dir, Observer: obs, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return w
}

func replayStrings(t *testing.T, w backend.WAL, from uint64) []string {
	t.Helper()
	var got []string
	require.NoError(t, w.Replay(t.Context(), from, func(_ uint64, data []byte) error {
		got = append(got, string(data))
		return nil
	}))
	return got
}
