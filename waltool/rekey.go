package waltool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// RekeyReport says what Rekey rewrote.
type RekeyReport struct {
	First, Last uint64 // the bounds of the log, unchanged by the rewrite
	Records     uint64 // records rewritten under the active key
}

// rekeyBatch bounds the records one Append of the rewrite carries.
const (
	rekeyBatchRecords = 1024
	rekeyBatchBytes   = 4 << 20
)

// beforeSwap, when set by a test, runs once the new log is durable and
// before it replaces the old one; an error stops Rekey there, as a crash
// would.
var beforeSwap func() error

// RekeyDir returns the sibling directory Rekey builds the new log of dir in.
func RekeyDir(dir string) string {
	dir = filepath.Clean(dir)
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".rekey")
}

// Rekey rewrites the log in cfg.Dir with every record sealed under
// cfg.Encryption's active key, keeping its indexes. It reads records under
// any configured key, and records never encrypted when
// cfg.Encryption.ReadPlaintext is set, so it also encrypts a log written
// without encryption.
//
// It holds the log's lock throughout (the WAL's, then the bare lock while
// it swaps), builds the new log in RekeyDir(dir)
// (removing what an interrupted run left there), closes it so that it is
// durable, then swaps the two directories atomically (renameat2
// RENAME_EXCHANGE on Linux) and fsyncs their parent; only then is the old
// log, now in RekeyDir(dir), removed. A crash before the swap leaves the old
// log in place and a partial new one that the next Rekey removes; a crash
// after it leaves the new log in place, and the old one in RekeyDir(dir)
// until the next Rekey removes it.
func Rekey(ctx context.Context, cfg backend.Config) (RekeyReport, error) {
	var rep RekeyReport
	if cfg.Encryption == nil {
		return rep, errors.New("waltool: rekey: no encryption configured: name the active key")
	}
	src, err := backend.Open(ctx, cfg)
	if err != nil {
		return rep, fmt.Errorf("waltool: rekey %s: %w", cfg.Dir, err)
	}
	defer src.Close()
	if rep.First, rep.Last, err = src.Bounds(ctx); err != nil {
		return rep, err
	}
	tmp := RekeyDir(cfg.Dir)
	if err := os.RemoveAll(tmp); err != nil {
		return rep, fmt.Errorf("waltool: rekey: remove what an earlier run left in %s: %w", tmp, err)
	}
	if rep.Records, err = rewrite(ctx, src, cfg, tmp, rep.First, rep.Last); err != nil {
		return rep, err
	}
	if beforeSwap != nil {
		if err := beforeSwap(); err != nil {
			return rep, err
		}
	}
	// Close the old log before the swap, since a library may write files
	// by path on close, and hold the bare lock instead so that no writer
	// opens it meanwhile; one that got in first makes LockDir fail.
	if err := src.Close(); err != nil {
		return rep, fmt.Errorf("waltool: rekey: close %s: %w", cfg.Dir, err)
	}
	lock, err := backend.LockDir(cfg, false)
	if err != nil {
		return rep, fmt.Errorf("waltool: rekey: %s: %w", cfg.Dir, err)
	}
	defer lock.Close()
	if err := exchangeDirs(tmp, cfg.Dir); err != nil {
		return rep, fmt.Errorf("waltool: rekey: swap %s and %s: %w", tmp, cfg.Dir, err)
	}
	parent := filepath.Dir(filepath.Clean(cfg.Dir))
	if err := vfs.Default.SyncDir(parent); err != nil {
		return rep, fmt.Errorf("waltool: rekey: fsync %s after the swap: %w", parent, err)
	}
	if err := lock.Close(); err != nil {
		return rep, err
	}
	if err := os.RemoveAll(tmp); err != nil {
		return rep, fmt.Errorf("waltool: rekey: remove the old log, now in %s: %w", tmp, err)
	}
	return rep, vfs.Default.SyncDir(parent)
}

// rewrite copies records first..last of src into a new log in dir, sealed
// under the active key, and closes it, which makes it durable.
func rewrite(ctx context.Context, src backend.WAL, cfg backend.Config, dir string, first, last uint64) (uint64, error) {
	enc := *cfg.Encryption
	enc.ReadPlaintext = false
	dstCfg := cfg
	dstCfg.Dir, dstCfg.Sync, dstCfg.Encryption = dir, backend.SyncNone, &enc
	dst, err := backend.Open(ctx, dstCfg)
	if err != nil {
		return 0, fmt.Errorf("waltool: rekey: open the new log in %s: %w", dir, err)
	}
	defer dst.Close()
	// Indexes keep their values: the records below first are gone, so
	// write empty ones in their place and cut them off.
	for next := uint64(1); next < first; {
		n := min(first-next, rekeyBatchRecords)
		if _, err := dst.Append(ctx, make([][]byte, n)...); err != nil {
			return 0, fmt.Errorf("waltool: rekey: %s: %w", dir, err)
		}
		next += n
		if err := dst.TruncateFront(ctx, next); err != nil {
			return 0, fmt.Errorf("waltool: rekey: %s: %w", dir, err)
		}
	}
	var batch [][]byte
	size, n := 0, uint64(0)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := dst.Append(ctx, batch...); err != nil {
			return fmt.Errorf("waltool: rekey: %s: %w", dir, err)
		}
		batch, size = batch[:0], 0
		return nil
	}
	if last >= first {
		err = src.Replay(ctx, first, func(_ uint64, data []byte) error {
			batch = append(batch, bytes.Clone(data))
			size += len(data)
			n++
			if len(batch) >= rekeyBatchRecords || size >= rekeyBatchBytes {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return 0, fmt.Errorf("waltool: rekey %s: %w", cfg.Dir, err)
		}
	}
	f, l, err := dst.Bounds(ctx)
	if err == nil && (f != first || l != last) {
		err = fmt.Errorf("new log holds [%d, %d], want [%d, %d]", f, l, first, last)
	}
	if err == nil {
		err = dst.Close()
	}
	if err != nil {
		return 0, fmt.Errorf("waltool: rekey: %s: %w", dir, err)
	}
	return n, nil
}
