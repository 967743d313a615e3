// Package memory is a session store in process memory: for tests and for
// deployments that accept losing sessions on restart.
package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/nautilus-go/nautilus/broker/store"
)

// Store keeps states in process memory. Brokers in one process may share
// one Store; it implements store.Locker for them.
type Store struct {
	mu         sync.Mutex
	states     map[string][]byte
	checkpoint uint64
	locks      map[string]chan struct{} // held session locks; closed on release
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Locker = (*Store)(nil)
	_ store.Syncer = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{states: map[string][]byte{}, locks: map[string]chan struct{}{}}
}

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, sessionID string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	data, ok := s.states[sessionID]
	s.mu.Unlock()
	return slices.Clone(data), ok, nil
}

// Save implements store.Store.
func (s *Store) Save(ctx context.Context, states []store.Entry, checkpoint uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range states {
		s.states[e.SessionID] = slices.Clone(e.State) // the caller may reuse its buffer
	}
	s.checkpoint = max(s.checkpoint, checkpoint)
	return nil
}

// Checkpoint implements store.Store.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoint, ctx.Err()
}

// SetCheckpoint implements store.Store.
func (s *Store) SetCheckpoint(ctx context.Context, checkpoint uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoint = checkpoint
	return nil
}

// LockSession implements store.Locker for the brokers of this process.
func (s *Store) LockSession(ctx context.Context, sessionID string) (func(), error) {
	for {
		s.mu.Lock()
		held, ok := s.locks[sessionID]
		if !ok {
			mine := make(chan struct{})
			s.locks[sessionID] = mine
			s.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					s.mu.Lock()
					delete(s.locks, sessionID)
					s.mu.Unlock()
					close(mine)
				})
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Sync implements store.Syncer. A memory store keeps nothing on disk, so
// there is nothing to make durable.
func (s *Store) Sync(ctx context.Context) error { return ctx.Err() }

// Close implements store.Store; the states stay readable.
func (s *Store) Close() error { return nil }
