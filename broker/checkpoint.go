package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/nautilus-go/nautilus/broker/store"
)

// checkpoints tracks which WAL records are in the store. Concurrent
// requests finish out of order, so the checkpoint is the highest index
// below which every record is complete, not the highest completed one.
type checkpoints struct {
	mu      sync.Mutex
	through uint64          // every index <= through is in the store
	done    map[uint64]bool // completed indexes above through
}

// reset starts tracking after index through.
func (c *checkpoints) reset(through uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.through, c.done = through, map[uint64]bool{}
}

// value returns the checkpoint.
func (c *checkpoints) value() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.through
}

// peek returns what the checkpoint would be were the indexes in idxs,
// sorted ascending, complete too: the value to store in the transaction
// that stores them.
func (c *checkpoints) peek(idxs []uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.through
	for _, idx := range idxs {
		for c.done[cp+1] {
			cp++
		}
		if idx > cp+1 {
			break // a gap: an index before idx is in neither
		}
		cp = max(cp, idx)
	}
	for c.done[cp+1] {
		cp++
	}
	return cp
}

// complete marks idx as in the store and returns the new checkpoint.
func (c *checkpoints) complete(idx uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = map[uint64]bool{}
	}
	if idx > c.through {
		c.done[idx] = true
	}
	for c.done[c.through+1] {
		delete(c.done, c.through+1)
		c.through++
	}
	return c.through
}

// advancePersisted records that the store's checkpoint is at least cp and
// wakes the truncator when the WAL has enough behind it to drop.
func (b *Broker) advancePersisted(cp uint64) {
	for {
		cur := b.persisted.Load()
		if cp <= cur {
			return
		}
		if b.persisted.CompareAndSwap(cur, cp) {
			break
		}
	}
	if b.wal == nil {
		return
	}
	first, _, err := b.wal.Bounds(context.Background())
	if err == nil && cp+1 >= first+b.opts.TruncateEvery {
		select {
		case b.truncate <- struct{}{}:
		default: // a truncation is already pending
		}
	}
}

// truncateWAL drops the WAL records the store's checkpoint covers. A store
// whose commits may not be durable yet (store.Syncer) is synced first, so
// the WAL is never truncated past what the store has made durable: after a
// power loss that rolls back unsynced commits the WAL still holds their
// records, and replay, which merges, applies them again.
func (b *Broker) truncateWAL(ctx context.Context) error {
	first, last, err := b.wal.Bounds(ctx)
	if err != nil {
		return err
	}
	// Read before Sync: only Saves that returned before it are covered.
	before := min(b.persisted.Load()+1, last+1)
	if before <= first {
		return nil
	}
	if s, ok := b.store.s.(store.Syncer); ok {
		if err := s.Sync(ctx); err != nil {
			return fmt.Errorf("broker: sync the session store before truncating the WAL: %w", err)
		}
	}
	return b.wal.TruncateFront(ctx, before)
}

func (b *Broker) truncateLoop() {
	defer b.bg.Done()
	for {
		select {
		case <-b.stop:
			return
		case <-b.truncate:
			if err := b.truncateWAL(context.Background()); err != nil {
				b.log.Error("broker: WAL truncation failed", "err", err)
			}
		}
	}
}
