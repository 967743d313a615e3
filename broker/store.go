package broker

import (
	"context"
	"encoding/json"
	"sync"
)

// Store is the durable copy of session state, plus the WAL checkpoint: the
// index up to which every WAL record is reflected in the states. SQLite is
// the embedded default; a server database implements the same interface.
// All methods are safe for concurrent use.
type Store interface {
	// Load returns a session's state; ok is false when the store has none.
	Load(ctx context.Context, sessionID string) (s State, ok bool, err error)
	// Save writes the states and raises the checkpoint to at least
	// checkpoint (0 leaves it) in one transaction: after a crash either all
	// of it is there or none.
	Save(ctx context.Context, states []SessionState, checkpoint uint64) error
	// Checkpoint returns the stored checkpoint (0 when none).
	Checkpoint(ctx context.Context) (uint64, error)
	// SetCheckpoint overwrites the checkpoint, also downwards; startup uses it
	// when the WAL directory was replaced by an empty one.
	SetCheckpoint(ctx context.Context, checkpoint uint64) error
	// Close releases the store.
	Close() error
}

// SessionState is one session's state to save.
type SessionState struct {
	SessionID string
	State     State
}

// MemoryStore is a Store that keeps everything in process memory: for tests
// and for deployments that accept losing sessions on restart.
type MemoryStore struct {
	mu         sync.Mutex
	states     map[string][]byte
	checkpoint uint64
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{states: map[string][]byte{}} }

// Load implements Store.
func (s *MemoryStore) Load(ctx context.Context, sessionID string) (State, bool, error) {
	if err := ctx.Err(); err != nil {
		return State{}, false, err
	}
	s.mu.Lock()
	data, ok := s.states[sessionID]
	s.mu.Unlock()
	if !ok {
		return State{}, false, nil
	}
	st, err := decodeState(sessionID, data)
	return st, err == nil, err
}

// Save implements Store.
func (s *MemoryStore) Save(ctx context.Context, states []SessionState, checkpoint uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	encoded := make(map[string][]byte, len(states))
	for _, st := range states {
		b, err := json.Marshal(st.State)
		if err != nil {
			return err
		}
		encoded[st.SessionID] = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, b := range encoded {
		s.states[id] = b
	}
	s.checkpoint = max(s.checkpoint, checkpoint)
	return nil
}

// Checkpoint implements Store.
func (s *MemoryStore) Checkpoint(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoint, ctx.Err()
}

// SetCheckpoint implements Store.
func (s *MemoryStore) SetCheckpoint(ctx context.Context, checkpoint uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoint = checkpoint
	return ctx.Err()
}

// Close implements Store; the states stay readable.
func (s *MemoryStore) Close() error { return nil }
