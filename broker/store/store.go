// Package store defines the broker's session store: the durable copy of
// every session's state plus the WAL checkpoint, the index up to which every
// WAL record is reflected in the states. Drivers live in the packages below
// (memory, sqlite, postgres); storetest is the conformance suite they pass.
//
// A store keeps states as opaque bytes (the broker's JSON); Codec seals
// them when encryption is on, the same way for every driver that persists.
package store

import "context"

// Store is a session store. All methods are safe for concurrent use.
type Store interface {
	// Load returns a session's state; ok is false when the store has none.
	Load(ctx context.Context, sessionID string) (state []byte, ok bool, err error)
	// Save writes the states and raises the checkpoint to at least
	// checkpoint (0 leaves it) in one transaction: after a crash either all
	// of it is there or none. A later entry for the same session wins.
	Save(ctx context.Context, states []Entry, checkpoint uint64) error
	// Checkpoint returns the stored checkpoint (0 when none).
	Checkpoint(ctx context.Context) (uint64, error)
	// SetCheckpoint overwrites the checkpoint, also downwards; startup uses it
	// when the WAL directory was replaced by an empty one.
	SetCheckpoint(ctx context.Context, checkpoint uint64) error
	// Close releases the store.
	Close() error
}

// Entry is one session's state to save.
type Entry struct {
	SessionID string
	State     []byte
}

// Syncer is implemented by a store whose Save may return before its
// transaction is durable (atomic and consistent, but not yet fsync'd), as
// the broker opens SQLite when its own WAL makes each request durable.
// Whoever relies on a Save for durability, such as the broker before it
// truncates its WAL behind the checkpoint, calls Sync first.
type Syncer interface {
	// Sync makes every Save that returned before it was called durable.
	Sync(ctx context.Context) error
}

// Locker is implemented by a store several brokers share: it serialises
// one session across all of them, so a request reads the state the
// previous one saved, whichever broker served it.
type Locker interface {
	// LockSession blocks until the caller holds sessionID's lock across
	// every broker sharing the store (or ctx ends) and returns the release
	// function, which may be called more than once. A crashed holder's lock
	// is released by the server.
	LockSession(ctx context.Context, sessionID string) (unlock func(), err error)
}
