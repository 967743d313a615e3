package bbolt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

// wal is the driver's WAL. The shared wrapper serializes Append, Sync and
// TruncateFront; Replay and Bounds run read transactions and read the log's
// bounds, so they may run alongside.
type wal struct {
	db    *bolt.DB
	store kv.Store
	log   *kv.Log
	mode  os.FileMode // of the database file, from Config.Modes

	// file is bbolt's file, kept to release it (and bbolt's flock on it)
	// when bbolt cannot be closed.
	file *os.File

	mu     sync.Mutex
	broken error // bbolt panicked and may hold its locks: stop calling it
}

// call runs a bbolt call through the store's guard, unless an earlier write
// panicked. bbolt can panic on its own I/O error paths (a failed remap
// leaves its meta pages unset, and the rollback that follows dereferences
// them), leaving its writer lock held; after that, db.Close would block
// forever, so the file is abandoned instead (see Close). A panic while
// reading (a damaged page) unwinds through the read transaction's rollback,
// which releases its lock, so bbolt stays usable.
func (w *wal) call(op string, reading bool, fn func(g *kv.Guard) error) error {
	w.mu.Lock()
	broken := w.broken
	w.mu.Unlock()
	if broken != nil {
		return fmt.Errorf("bbolt: %s %s: unusable after an earlier panic: %w", op, w.store.File, broken)
	}
	err := w.store.Run(op, reading, fn)
	if !reading && kv.Panicked(err) {
		w.mu.Lock()
		if w.broken == nil {
			w.broken = err
		}
		w.mu.Unlock()
	}
	return err
}

// replayChunk is how many records one read transaction of Replay copies out.
// Replay calls its callback outside any transaction: a long read transaction
// would block the writer whenever bbolt must grow its memory map.
const replayChunk = 1024

// records returns the bucket, or a *backend.CorruptError when it is missing.
func (w *wal) records(tx *bolt.Tx) (*bolt.Bucket, error) {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil, w.store.Corrupt(bucket, 0, "bucket "+string(bucket)+" is missing", nil)
	}
	return b, nil
}

// firstIndex returns the first index stored in b's marker (1 without one).
func (w *wal) firstIndex(b *bolt.Bucket) (uint64, error) {
	marker := b.Get(kv.FirstKey)
	if marker == nil {
		return 1, nil
	}
	return w.store.DecodeFirst(marker)
}

func isRecord(key []byte) bool { return len(key) > 0 && key[0] == kv.RecordPrefix }

// loadBounds reads first and last at Open, checking the marker and both
// ends, and opens the log with them.
func (w *wal) loadBounds() error {
	var first, last uint64
	err := w.call("open", true, func(*kv.Guard) error {
		return w.db.View(func(tx *bolt.Tx) error {
			b, err := w.records(tx)
			if err != nil {
				return err
			}
			var low, high kv.Edge
			c := b.Cursor()
			if k, v := c.Seek(kv.RecordsStart); isRecord(k) {
				low = kv.Edge{Key: k, Val: v}
				k, v = c.Last()
				high = kv.Edge{Key: k, Val: v}
			}
			first, last, err = w.store.Bounds(b.Get(kv.FirstKey), low, high)
			return err
		})
	})
	if err != nil {
		return w.mapError("open", err)
	}
	return w.log.Open(first, last)
}

// Append puts the records in one read-write transaction: bbolt writes the
// dirty pages, fdatasyncs, writes the meta page and fdatasyncs again.
func (w *wal) Append(_ context.Context, data ...[]byte) (uint64, error) {
	// bbolt keeps keys and values until the commit, so each gets its own
	// bytes, carved from one buffer.
	size := 0
	for _, d := range data {
		size += kv.RecordKeySize + backend.EnvelopeHeaderSize + len(d)
	}
	buf := make([]byte, 0, size)
	last, err := w.log.Append(len(data), func(next uint64) error {
		return w.call("append", false, func(*kv.Guard) error {
			return w.db.Update(func(tx *bolt.Tx) error {
				b, err := w.records(tx)
				if err != nil {
					return err
				}
				b.FillPercent = 1 // keys only grow: pack pages full
				for n, d := range data {
					i := next + uint64(n)
					start := len(buf)
					buf = kv.AppendRecordKey(buf, i)
					key := buf[start:len(buf):len(buf)]
					start = len(buf)
					buf = backend.AppendEnvelope(buf, i, d)
					if err := b.Put(key, buf[start:len(buf):len(buf)]); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
	return last, w.mapError("append", err)
}

type replayed struct {
	index   uint64
	payload []byte
}

// Replay copies records out in chunks, each from one read transaction, and
// checks every key and envelope.
func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	_, last := w.log.Bounds() // every chunk's transaction sees at least this much
	seq := w.store.Sequence(from)
	for {
		chunk, err := w.readChunk(seq, last)
		if err != nil {
			return err
		}
		for _, r := range chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(r.index, r.payload); err != nil {
				return err
			}
		}
		if len(chunk) < replayChunk {
			return seq.End(last)
		}
	}
}

// readChunk reads up to replayChunk records from seq.Want() on.
func (w *wal) readChunk(seq *kv.Sequence, last uint64) ([]replayed, error) {
	var chunk []replayed
	err := w.call("replay", true, func(*kv.Guard) error {
		return w.db.View(func(tx *bolt.Tx) error {
			b, err := w.records(tx)
			if err != nil {
				return err
			}
			first, err := w.firstIndex(b)
			if err != nil {
				return err
			}
			from := seq.Want()
			if from < first { // truncated since the wrapper checked from
				return backend.OutOfRange("replay at", from, first, last)
			}
			c := b.Cursor()
			for k, v := c.Seek(kv.RecordKey(from)); isRecord(k) && len(chunk) < replayChunk; k, v = c.Next() {
				i, payload, err := seq.Next(k, v)
				if err != nil {
					return err
				}
				chunk = append(chunk, replayed{index: i, payload: bytes.Clone(payload)})
			}
			return nil
		})
	})
	return chunk, w.mapError("replay", err)
}

func (w *wal) Bounds(context.Context) (uint64, uint64, error) {
	first, last := w.log.Bounds()
	return first, last, nil
}

// TruncateFront deletes the records below before and stores before as the
// first index in one synced transaction, as every commit is. The marker also carries the next index
// across a truncation that empties the log. The file does not shrink; the
// freed pages are reused by later Appends.
func (w *wal) TruncateFront(_ context.Context, before uint64) error {
	err := w.log.Truncate(before, func(first uint64) error {
		return w.call("truncate", false, func(*kv.Guard) error {
			return w.db.Update(func(tx *bolt.Tx) error {
				b, err := w.records(tx)
				if err != nil {
					return err
				}
				for i := first; i < before; i++ {
					if err := b.Delete(kv.RecordKey(i)); err != nil {
						return err
					}
				}
				return b.Put(kv.FirstKey, kv.EncodeFirst(before))
			})
		})
	})
	return w.mapError("truncate", err)
}

// Sync has nothing to do: every commit is synced, in either sync mode.
func (w *wal) Sync(context.Context) error { return nil }

// release closes bbolt or, after it panicked, only its file.
func (w *wal) release() error {
	w.mu.Lock()
	broken := w.broken
	w.mu.Unlock()
	if broken == nil {
		if w.db == nil { // bolt.Open failed and closed its file
			return nil
		}
		return w.closeDB()
	}
	err := fmt.Errorf("bbolt: close %s: abandoned after a panic: %w", w.store.File, broken)
	if w.file != nil {
		uerr := unlock(w.file)
		if cerr := w.file.Close(); uerr == nil {
			uerr = cerr
		}
		if uerr != nil {
			err = fmt.Errorf("%w; release the file: %w", err, uerr)
		}
	}
	return err
}

// Close closes bbolt (every commit is already synced) and, when every
// write succeeded, leaves the close record that the next Open checks. After bbolt panicked it releases bbolt's flock and
// closes the file; the memory map stays until the process exits.
func (w *wal) Close() error {
	return w.log.Close(func() error { return w.Sync(context.Background()) }, w.release)
}
