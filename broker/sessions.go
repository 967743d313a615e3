package broker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// session is an active session: its state and the lock that serialises its
// requests from the read of its state to the store write. It keeps the
// compact State, not the working memory built from it: a request builds
// its memory afresh (memoryOf), which costs little next to what thousands
// of idle sessions' facts would hold.
type session struct {
	id string
	mu sync.Mutex // the session lock

	// Guarded by mu.
	state        State  // the session's exposure; valid when loaded
	loaded       bool   // state is read from the store or kept up to date
	known        bool   // the store has it, or a request has been applied
	unlockShared func() // releases the store's session lock, with a shared store

	// Guarded by Broker.sessMu.
	refs     int // callers holding or waiting for mu
	lastUsed time.Time

	applied atomic.Uint64 // sequence number of the last record applied in memory
	stored  atomic.Uint64 // sequence number of the last record in the store
}

// markStored records that the store holds the session up to seq.
func (s *session) markStored(seq uint64) {
	for {
		cur := s.stored.Load()
		if seq <= cur || s.stored.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// acquire takes the session lock, loading the session from the store on
// first use. The caller must release it.
func (b *Broker) acquire(ctx context.Context, id string) (*session, error) {
	b.sessMu.Lock()
	s, ok := b.sessions[id]
	if !ok {
		s = &session{id: id}
		b.sessions[id] = s
	}
	s.refs++
	b.sessMu.Unlock()

	s.mu.Lock()
	if b.locker != nil {
		// Another broker may have served the session since: hold its lock
		// in the store from this read to the store write, and read afresh.
		unlock, err := b.locker.LockSession(ctx, id)
		if err != nil {
			b.release(s)
			return nil, fmt.Errorf("broker: lock session %q in the shared store: %w", id, err)
		}
		s.unlockShared = unlock
		s.unload()
	}
	if s.loaded {
		return s, nil
	}
	st, found, err := b.store.Load(ctx, id)
	if err != nil {
		b.release(s)
		return nil, fmt.Errorf("broker: load session %q: %w", id, err)
	}
	if !found {
		st = newState()
	}
	s.state, s.loaded, s.known = st, true, found
	return s, nil
}

// unload forgets the session's state, so that the next acquire reads it
// from the store.
func (s *session) unload() {
	s.state, s.loaded, s.known = State{}, false, false
}

// release drops the session lock taken by acquire, and the store's lock
// with a shared store.
func (b *Broker) release(s *session) {
	if s.unlockShared != nil {
		s.unlockShared()
		s.unlockShared = nil
		s.unload()
	}
	s.mu.Unlock()
	b.sessMu.Lock()
	s.refs--
	s.lastUsed = b.opts.Now()
	b.sessMu.Unlock()
}

// evictIdle drops from memory the sessions nobody is using that have been
// idle for IdleTimeout and whose updates are all in the store. It returns
// how many it dropped.
func (b *Broker) evictIdle(now time.Time) int {
	b.sessMu.Lock()
	defer b.sessMu.Unlock()
	n := 0
	for id, s := range b.sessions {
		// refs == 0 under sessMu: nobody holds or waits for s.mu.
		if s.refs == 0 && now.Sub(s.lastUsed) >= b.opts.IdleTimeout && s.stored.Load() >= s.applied.Load() {
			delete(b.sessions, id)
			n++
		}
	}
	return n
}

// activeSessions returns how many sessions are in memory.
func (b *Broker) activeSessions() int {
	b.sessMu.Lock()
	defer b.sessMu.Unlock()
	return len(b.sessions)
}

func (b *Broker) evictLoop() {
	defer b.bg.Done()
	t := time.NewTicker(max(b.opts.IdleTimeout/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.evictIdle(b.opts.Now())
		}
	}
}
