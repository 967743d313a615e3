package sqlitewal

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
)

// wal is the driver's WAL. The shared wrapper calls Append, Sync and
// TruncateFront one at a time; Replay and Bounds may run alongside them. The
// pool's single connection serializes the SQL itself.
type wal struct {
	db     *sql.DB
	insert *sql.Stmt // prepared once; each Append's transaction reuses it
	path   string
	sync   backend.SyncMode

	mu          sync.Mutex
	first, last uint64
	failed      bool // a write failed: Close skips its Sync
}

// Replay copies records out in chunks, one query each, and calls its
// callback outside any query, so a slow callback never holds the connection
// that Append needs. A chunk stops at replayChunk records or replayChunkBytes
// of payload, whichever comes first.
const (
	replayChunk      = 1024
	replayChunkBytes = 4 << 20
)

// recordKey names a record's row in a *backend.CorruptError.
func recordKey(index uint64) string { return fmt.Sprintf("records.idx=%d", index) }

// metaKey names the bounds row in a *backend.CorruptError.
const metaKey = "meta.id=1"

func (w *wal) corrupt(key string, index uint64, reason string) *backend.CorruptError {
	return &backend.CorruptError{File: w.path, Offset: -1, Key: key, Index: index, Reason: reason}
}

// decode checks a record's envelope against the index of its row.
func (w *wal) decode(index uint64, record []byte) ([]byte, error) {
	payload, err := backend.DecodeEnvelope(record, index)
	if err != nil {
		var ce *backend.CorruptError
		if errors.As(err, &ce) {
			ce.File, ce.Key = w.path, recordKey(index)
		}
		return nil, err
	}
	return payload, nil
}

// load reads the bounds at Open and checks them against the records: the
// meta row must name exactly the indexes the table holds at both ends, and
// the records there must pass their envelopes. The records between are
// checked by Replay. SQLite itself refuses an unfinished transaction in its
// WAL (torn tail) and recovers the last committed one.
func (w *wal) load(ctx context.Context) error {
	var (
		mode                string
		first, next         int64
		low, high           sql.NullInt64
		lowRecord, hiRecord []byte
	)
	err := w.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if err == nil && mode != "wal" {
		return fmt.Errorf("sqlitewal: open %s: journal_mode is %q, want wal", w.path, mode)
	}
	if err == nil {
		err = w.db.QueryRowContext(ctx, "SELECT first, next FROM meta WHERE id = 1").Scan(&first, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return w.corrupt(metaKey, 0, "the bounds row is missing")
		}
	}
	if err == nil {
		err = w.db.QueryRowContext(ctx, "SELECT min(idx), max(idx) FROM records").Scan(&low, &high)
	}
	if err == nil && low.Valid {
		err = w.db.QueryRowContext(ctx, "SELECT record FROM records WHERE idx = ?", low.Int64).Scan(&lowRecord)
	}
	if err == nil && high.Valid {
		err = w.db.QueryRowContext(ctx, "SELECT record FROM records WHERE idx = ?", high.Int64).Scan(&hiRecord)
	}
	if err != nil {
		return mapError("open", w.path, err)
	}

	switch {
	case first < 1 || next < first:
		return w.corrupt(metaKey, 0, fmt.Sprintf("the bounds row holds first %d and next %d", first, next))
	case !low.Valid && first != next:
		return w.corrupt(metaKey, uint64(first), fmt.Sprintf("no records, but the bounds row holds [%d, %d]", first, next-1))
	case low.Valid && low.Int64 != first:
		return w.corrupt(recordKey(uint64(low.Int64)), uint64(first),
			fmt.Sprintf("the first record has index %d, but the bounds row holds first %d", low.Int64, first))
	case high.Valid && high.Int64 != next-1:
		return w.corrupt(recordKey(uint64(high.Int64)), uint64(next-1),
			fmt.Sprintf("the last record has index %d, but the bounds row holds last %d", high.Int64, next-1))
	}
	if low.Valid {
		if _, err := w.decode(uint64(low.Int64), lowRecord); err != nil {
			return err
		}
		if _, err := w.decode(uint64(high.Int64), hiRecord); err != nil {
			return err
		}
	}
	w.first, w.last = uint64(first), uint64(next-1)
	return nil
}

// Append inserts the records and moves the next index in one transaction:
// under SyncAlways its commit fsyncs SQLite's WAL file, under SyncNone it
// only writes it.
func (w *wal) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	w.mu.Lock()
	next := w.last + 1
	w.mu.Unlock()
	last := next + uint64(len(data)) - 1
	err := w.inTx(ctx, func(tx *sql.Tx) error {
		insert := tx.StmtContext(ctx, w.insert)
		var buf []byte
		for n, d := range data {
			index := next + uint64(n)
			// SQLite copies the bound blob, so one buffer serves every record.
			buf = backend.AppendEnvelope(buf[:0], index, d)
			if _, err := insert.ExecContext(ctx, int64(index), buf); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "UPDATE meta SET next = ? WHERE id = 1", int64(last+1))
		return err
	})
	if err != nil {
		w.setFailed()
		return 0, mapError("append", w.path, err)
	}
	w.mu.Lock()
	w.last = last
	w.mu.Unlock()
	return last, nil
}

// inTx runs fn in a transaction on conn, committing if it succeeds.
func (w *wal) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

type replayed struct {
	index   uint64
	payload []byte
}

// Replay reads the records from `from` to the last acknowledged at the
// call, in chunks, checking that the indexes are dense and every envelope.
func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	w.mu.Lock()
	last := w.last
	w.mu.Unlock()
	for next := from; next <= last; {
		chunk, damage := w.readChunk(ctx, next, last)
		for _, r := range chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(r.index, r.payload); err != nil {
				return err
			}
		}
		if damage != nil {
			return damage
		}
		next += uint64(len(chunk))
	}
	return nil
}

// readChunk reads the records from `from` on, up to last and the chunk
// limits, in one read transaction. On error it also returns the intact
// records before the failure, for Replay to deliver first.
func (w *wal) readChunk(ctx context.Context, from, last uint64) ([]replayed, error) {
	var chunk []replayed
	err := w.inTx(ctx, func(tx *sql.Tx) error {
		var first int64
		if err := tx.QueryRowContext(ctx, "SELECT first FROM meta WHERE id = 1").Scan(&first); err != nil {
			return err
		}
		if from < uint64(first) { // truncated since the wrapper checked from
			return backend.OutOfRange("replay at", from, uint64(first), last)
		}
		rows, err := tx.QueryContext(ctx, "SELECT idx, record FROM records WHERE idx >= ? AND idx <= ? ORDER BY idx LIMIT ?",
			int64(from), int64(last), replayChunk)
		if err != nil {
			return err
		}
		defer rows.Close()
		want, size := from, 0
		for rows.Next() {
			var index int64
			var record sql.RawBytes
			if err := rows.Scan(&index, &record); err != nil {
				return err
			}
			if uint64(index) != want {
				return w.corrupt(recordKey(want), want, fmt.Sprintf("index gap: the next record has index %d", index))
			}
			payload, err := w.decode(want, record)
			if err != nil {
				return err
			}
			chunk = append(chunk, replayed{index: want, payload: bytes.Clone(payload)})
			want++
			if size += len(payload); size >= replayChunkBytes {
				break
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(chunk) == 0 {
			return w.corrupt(recordKey(from), from, fmt.Sprintf("the record is missing, but the log ends at %d", last))
		}
		return nil
	})
	return chunk, mapError("replay", w.path, err)
}

func (w *wal) Bounds(context.Context) (uint64, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last, nil
}

// TruncateFront deletes the records below before and stores before as the
// first index in one transaction, fsync'd whatever the sync mode: the
// contract makes truncation durable. Under SyncNone the connection commits
// it with synchronous FULL, whose fsync of the WAL file also covers every
// commit written before it. The bounds row keeps the next index across a
// truncation that empties the log.
func (w *wal) TruncateFront(ctx context.Context, before uint64) error {
	err := w.truncate(ctx, before)
	if err != nil {
		w.setFailed()
		return mapError("truncate", w.path, err)
	}
	w.mu.Lock()
	w.first = before
	w.mu.Unlock()
	return nil
}

func (w *wal) truncate(ctx context.Context, before uint64) (err error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if w.sync == backend.SyncNone {
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
			return err
		}
		defer func() {
			if _, rerr := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err == nil {
				err = rerr
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM records WHERE idx < ?", int64(before)); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE meta SET first = ? WHERE id = 1", int64(before)); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Sync makes every commit durable. Under SyncAlways each commit already
// fsync'd the WAL file. Under SyncNone a full checkpoint does it: with
// synchronous NORMAL it fsyncs the WAL file, copies it into the database
// file and fsyncs that. A checkpoint that finds nothing to copy fsyncs
// nothing, and needs not: the checkpoint that copied it fsync'd both files.
func (w *wal) Sync(ctx context.Context) error {
	if w.sync == backend.SyncAlways {
		return nil
	}
	if err := w.checkpoint(ctx); err != nil {
		w.setFailed()
		return mapError("sync", w.path, err)
	}
	return nil
}

func (w *wal) checkpoint(ctx context.Context) error {
	var busy, logFrames, checkpointed int64
	err := w.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(FULL)").Scan(&busy, &logFrames, &checkpointed)
	if err == nil && busy != 0 {
		err = fmt.Errorf("checkpoint copied %d of %d WAL frames and could not finish", checkpointed, logFrames)
	}
	return err
}

func (w *wal) setFailed() {
	w.mu.Lock()
	w.failed = true
	w.mu.Unlock()
}

// Close makes SyncNone's commits durable with Sync, then closes SQLite,
// which checkpoints its WAL file into the database file and removes it.
// SQLite's close ignores a failed checkpoint, so the explicit Sync is what
// reports one. After a failed write Close only closes: that error was
// returned already, and the WAL must be reopened to be used again.
func (w *wal) Close() error {
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	var err error
	if !failed {
		err = w.Sync(context.Background())
	}
	w.insert.Close()
	if cerr := w.db.Close(); err == nil {
		err = mapError("close", w.path, cerr)
	}
	return err
}
