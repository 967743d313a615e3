package pebble

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

// wal is the driver's WAL. The shared wrapper serializes Append, Sync and
// TruncateFront; Replay and Bounds read Pebble snapshots and the log's
// bounds, so they may run alongside.
type wal struct {
	db    *pebble.DB
	store kv.Store
	log   *kv.Log
	write *pebble.WriteOptions // pebble.Sync, or pebble.NoSync under SyncNone
	sync  backend.SyncMode

	env, key []byte // scratch for the serialized writes; the batch copies them
}

// maxScratch bounds the envelope buffer kept between Appends.
const maxScratch = 1 << 20

// records returns an iterator over the marker and the records. An iterator
// reads one consistent snapshot, so the marker and records agree.
func (w *wal) records() (*pebble.Iterator, error) {
	return w.db.NewIter(&pebble.IterOptions{LowerBound: kv.FirstKey, UpperBound: kv.RecordsEnd})
}

// marker returns the stored first-index marker, or nil when there is none.
func (w *wal) marker(iter *pebble.Iterator) ([]byte, error) {
	if !iter.SeekGE(kv.FirstKey) || !bytes.Equal(iter.Key(), kv.FirstKey) {
		return nil, iter.Error()
	}
	return iter.ValueAndErr()
}

func edge(iter *pebble.Iterator) (kv.Edge, error) {
	val, err := iter.ValueAndErr()
	return kv.Edge{Key: slices.Clone(iter.Key()), Val: slices.Clone(val)}, err
}

// loadBounds reads first and last at Open, checking the marker and both
// ends, and opens the log with them.
func (w *wal) loadBounds() error {
	var first, last uint64
	err := w.store.Run("open", true, func(*kv.Guard) error {
		iter, err := w.records()
		if err != nil {
			return w.mapError("open", err)
		}
		first, last, err = w.readBounds(iter)
		if cerr := iter.Close(); err == nil {
			err = w.mapError("open", cerr)
		}
		return err
	})
	if err != nil {
		return err
	}
	return w.log.Open(first, last)
}

func (w *wal) readBounds(iter *pebble.Iterator) (first, last uint64, err error) {
	marker, err := w.marker(iter)
	if err != nil {
		return 0, 0, w.mapError("open", err)
	}
	marker = slices.Clone(marker)
	var low, high kv.Edge
	if iter.SeekGE(kv.RecordsStart) {
		if low, err = edge(iter); err == nil && iter.Last() {
			high, err = edge(iter)
		}
	}
	if err == nil {
		err = iter.Error()
	}
	if err != nil {
		return 0, 0, w.mapError("open", err)
	}
	return w.store.Bounds(marker, low, high)
}

// Append writes the records as one batch, committed with pebble.Sync under
// SyncAlways, so one WAL fsync covers them all.
func (w *wal) Append(_ context.Context, data ...[]byte) (uint64, error) {
	last, err := w.log.Append(len(data), func(next uint64) error {
		return w.store.Run("append", false, func(*kv.Guard) error {
			b := w.db.NewBatch()
			for n, d := range data {
				i := next + uint64(n)
				w.env = backend.AppendEnvelope(w.env[:0], i, d)
				w.key = kv.AppendRecordKey(w.key[:0], i)
				if err := b.Set(w.key, w.env, nil); err != nil {
					b.Close()
					return err
				}
			}
			if cap(w.env) > maxScratch {
				w.env = nil
			}
			err := b.Commit(w.write)
			if cerr := b.Close(); err == nil {
				err = cerr
			}
			return err
		})
	})
	return last, w.mapError("append", err)
}

// Replay reads one snapshot in key order, checking every key and envelope.
func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	_, last := w.log.Bounds() // the snapshot taken below holds at least this much
	var fnErr error
	err := w.store.Run("replay", true, func(g *kv.Guard) error {
		iter, err := w.records()
		if err != nil {
			return w.mapError("replay", err)
		}
		err = w.replay(ctx, iter, from, last, func(i uint64, data []byte) error {
			fnErr = g.User(func() error { return fn(i, data) })
			return fnErr
		})
		if cerr := iter.Close(); err == nil {
			err = w.mapError("replay", cerr)
		}
		return err
	})
	if fnErr != nil && errors.Is(err, fnErr) {
		return fnErr
	}
	return err
}

func (w *wal) replay(ctx context.Context, iter *pebble.Iterator, from, last uint64, fn func(uint64, []byte) error) error {
	marker, err := w.marker(iter)
	if err != nil {
		return w.mapError("replay", err)
	}
	first := uint64(1)
	if marker != nil {
		if first, err = w.store.DecodeFirst(marker); err != nil {
			return err
		}
	}
	if from < first { // truncated since the wrapper checked from
		return backend.OutOfRange("replay from", from, first, last)
	}
	seq := w.store.Sequence(from)
	for ok := iter.SeekGE(kv.RecordKey(from)); ok; ok = iter.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		val, err := iter.ValueAndErr()
		if err != nil {
			return w.mapError("replay", err)
		}
		i, payload, err := seq.Next(iter.Key(), val)
		if err != nil {
			return err
		}
		if err := fn(i, payload); err != nil {
			return err
		}
	}
	if err := iter.Error(); err != nil {
		return w.mapError("replay", err)
	}
	return seq.End(last)
}

func (w *wal) Bounds(context.Context) (uint64, uint64, error) {
	first, last := w.log.Bounds()
	return first, last, nil
}

// TruncateFront deletes the records below before and records before as the
// first index in one synced batch, whatever the sync mode: the contract
// makes truncation durable. The marker also carries the next index across
// a truncation that empties the log.
func (w *wal) TruncateFront(_ context.Context, before uint64) error {
	err := w.log.Truncate(before, func(uint64) error {
		return w.store.Run("truncate", false, func(*kv.Guard) error {
			b := w.db.NewBatch()
			err := b.DeleteRange(kv.RecordsStart, kv.RecordKey(before), nil)
			if err == nil {
				err = b.Set(kv.FirstKey, kv.EncodeFirst(before), nil)
			}
			if err == nil {
				err = b.Commit(pebble.Sync)
			}
			if cerr := b.Close(); err == nil {
				err = cerr
			}
			return err
		})
	})
	return w.mapError("truncate", err)
}

// Sync fsyncs Pebble's WAL by committing an empty, synced log entry: the WAL
// is one sequential file, so syncing it covers every earlier entry. Under
// SyncAlways every Append is already synced.
func (w *wal) Sync(context.Context) error {
	if w.sync == backend.SyncAlways {
		return nil
	}
	err := w.log.Write(func() error {
		return w.store.Run("sync", false, func(*kv.Guard) error {
			return w.db.LogData(nil, pebble.Sync)
		})
	})
	return w.mapError("sync", err)
}

// Close syncs what SyncNone left unsynced, closes Pebble and, when every
// write succeeded, leaves the close record that the next Open checks.
func (w *wal) Close() error {
	return w.log.Close(func() error { return w.Sync(context.Background()) }, w.closeDB)
}
