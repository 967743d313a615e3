package broker

import (
	"context"
	"fmt"

	"github.com/nautilus-go/nautilus/backend"
)

// replay brings the store up to the WAL before the broker serves: every
// record after the store's checkpoint is applied, in index order, to the
// state of its session, and the result is saved in one transaction with the
// new checkpoint, so a record that fails to decode leaves the store as it
// was. Applying a record twice changes nothing, so a crash during replay, or
// one between a store write and its checkpoint, is harmless.
func (b *Broker) replay(ctx context.Context) error {
	dir := b.cfg.Persistence.WALPath
	cp, err := b.store.Checkpoint(ctx)
	if err != nil {
		return err
	}
	first, last, err := b.wal.Bounds(ctx)
	if err != nil {
		return fmt.Errorf("broker: WAL %s: %w", dir, err)
	}
	if last < cp {
		if first != last+1 {
			return fmt.Errorf("broker: session store checkpoint %d is ahead of WAL %s (records %d..%d): the WAL belongs to another store",
				cp, dir, first, last)
		}
		// An empty WAL behind the store: the WAL directory was replaced (for
		// example a new backend) after a clean shutdown had emptied the old one.
		b.log.Warn("broker: WAL is empty and behind the session store's checkpoint; restarting the checkpoint from it",
			"wal_path", dir, "checkpoint", cp, "wal_last", last)
		if err := b.store.SetCheckpoint(ctx, last); err != nil {
			return err
		}
		cp = last
	}
	if first > cp+1 {
		return fmt.Errorf("broker: WAL %s starts at index %d but the session store's checkpoint is %d: records %d..%d are in neither",
			dir, first, cp, cp+1, first-1)
	}

	states := map[string]State{}
	var order []string
	n := 0
	err = b.wal.Replay(ctx, cp+1, func(idx uint64, data []byte) error {
		rec, err := DecodeRecord(data)
		if err != nil {
			return &backend.CorruptError{File: dir, Offset: -1, Index: idx,
				Reason: "record does not decode as a broker record", Err: err}
		}
		st, ok := states[rec.SessionID]
		if !ok {
			st = newState()
			if b.locker == nil {
				// Alone on the store: read each session once, up front.
				stored, found, err := b.store.Load(ctx, rec.SessionID)
				if err != nil {
					return err
				}
				if found {
					st = stored
				}
			}
			order = append(order, rec.SessionID)
		}
		st, err = applyRecord(st, rec)
		if err != nil {
			return &backend.CorruptError{File: dir, Offset: -1, Index: idx, Reason: "record does not apply", Err: err}
		}
		states[rec.SessionID] = st
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: replay WAL %s (%s) from index %d: %w", dir, b.cfg.Persistence.WALBackend, cp+1, err)
	}
	if n > 0 {
		save := b.saveReplayed
		if b.locker != nil {
			save = b.mergeReplayed
		}
		if err := save(ctx, order, states, last); err != nil {
			return fmt.Errorf("broker: store replayed WAL records: %w", err)
		}
		b.log.Info("broker: replayed WAL into the session store", "records", n, "sessions", len(order), "from", cp+1, "to", last)
	}
	b.metrics.replayed.Add(float64(n))
	b.checkpoints.reset(last)
	b.persisted.Store(last)
	if err := b.truncateWAL(ctx); err != nil {
		return fmt.Errorf("broker: truncate WAL %s after replay: %w", dir, err)
	}
	return nil
}

// saveReplayed stores the replayed states and the new checkpoint in one
// transaction: the broker is alone on the store, and states began from it.
func (b *Broker) saveReplayed(ctx context.Context, order []string, states map[string]State, last uint64) error {
	save := make([]SessionState, 0, len(order))
	for _, id := range order {
		save = append(save, SessionState{SessionID: id, State: states[id]})
	}
	return b.store.Save(ctx, save, last)
}

// mergeReplayed merges the replayed records into a store other brokers are
// serving from: states hold only the records' own updates (from a new
// session), and each session is merged into what the store holds now under
// its session lock. The merge is commutative and idempotent, so what the
// other brokers wrote meanwhile and what a crash here leaves half-merged
// both come out right. The checkpoint rises only once every session is in.
func (b *Broker) mergeReplayed(ctx context.Context, order []string, states map[string]State, last uint64) error {
	for _, id := range order {
		err := func() error {
			unlock, err := b.locker.LockSession(ctx, id)
			if err != nil {
				return err
			}
			defer unlock()
			stored, found, err := b.store.Load(ctx, id)
			if err != nil {
				return err
			}
			merged := states[id]
			if found {
				merged = mergeStates(id, stored, merged)
			}
			return b.store.Save(ctx, []SessionState{{SessionID: id, State: merged}}, 0)
		}()
		if err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
	}
	return b.store.Save(ctx, nil, last)
}
