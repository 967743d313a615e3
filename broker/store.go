package broker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nautilus-go/nautilus/broker/store"
)

// SessionState is one session's state to save.
type SessionState struct {
	SessionID string
	State     State
}

// sessionStore is the broker's typed view of a store.Store: states as
// State, kept as their JSON.
type sessionStore struct {
	s store.Store
}

func (t sessionStore) Load(ctx context.Context, sessionID string) (State, bool, error) {
	data, ok, err := t.s.Load(ctx, sessionID)
	if err != nil || !ok {
		return State{}, false, err
	}
	st, err := decodeState(sessionID, data)
	return st, err == nil, err
}

func (t sessionStore) Save(ctx context.Context, states []SessionState, checkpoint uint64) error {
	entries := make([]store.Entry, len(states))
	for i, st := range states {
		b, err := json.Marshal(st.State)
		if err != nil {
			return fmt.Errorf("broker: encode state of session %q: %w", st.SessionID, err)
		}
		entries[i] = store.Entry{SessionID: st.SessionID, State: b}
	}
	return t.s.Save(ctx, entries, checkpoint)
}

func (t sessionStore) Checkpoint(ctx context.Context) (uint64, error) { return t.s.Checkpoint(ctx) }

func (t sessionStore) SetCheckpoint(ctx context.Context, checkpoint uint64) error {
	return t.s.SetCheckpoint(ctx, checkpoint)
}

func (t sessionStore) Close() error { return t.s.Close() }
