package bbolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

func init() {
	backend.RegisterSalvager(Name, salvager{})
}

// salvager is the bbolt backend's backend.Salvager, for the operator tools.
type salvager struct{}

// Salvage scans the records with bbolt opened read-only and, when one fails
// its checks, keeps a copy of the file (wal.db.broken), deletes that record
// and every later one in one synced transaction, and rewrites the close
// record with the bounds left (kv.Store.Salvage). A bad meta page, a missing
// bucket or damage that makes bbolt panic is refused: cutting records cannot
// mend bbolt's own pages.
func (salvager) Salvage(ctx context.Context, cfg backend.Config) (backend.SalvageReport, error) {
	opts, err := boltOptions(cfg)
	if err != nil {
		return backend.SalvageReport{}, err
	}
	fs := cfg.FileSystem()
	path := filepath.Join(cfg.Dir, FileName)
	if _, err := fs.Stat(path); errors.Is(err, os.ErrNotExist) {
		return backend.SalvageReport{}, nil // no file, nothing to cut
	}
	if err := ctx.Err(); err != nil {
		return backend.SalvageReport{}, err
	}
	if err := checkMetaPages(fs, path); err != nil {
		return backend.SalvageReport{}, refuse(path, err)
	}
	w := &wal{store: kv.Store{Name: Name, File: path}}
	var sc kv.Scan
	err = w.withBucket(opts, true, func(b *bolt.Bucket) error {
		var err error
		sc, err = w.store.ScanRecords(b.Get(kv.FirstKey), func(fn func(key, val []byte)) error {
			c := b.Cursor()
			for k, v := c.Seek(kv.RecordsStart); isRecord(k); k, v = c.Next() {
				fn(k, v)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return backend.SalvageReport{}, refuse(path, err)
	}
	return w.store.Salvage(sc, kv.VFSFiles(fs), cfg.Dir, func(from []byte) ([]backend.SalvagedFile, error) {
		before, err := fs.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("bbolt: stat %s: %w", path, err)
		}
		copyPath, err := backend.KeepCopy(fs, path)
		if err != nil {
			return nil, err
		}
		err = w.withBucket(opts, false, func(b *bolt.Bucket) error {
			// Keys first, then deletes: a cursor skips keys deleted under it.
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(from); isRecord(k); k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		after, err := fs.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("bbolt: stat %s: %w", path, err)
		}
		return []backend.SalvagedFile{{Path: path, Copy: copyPath, Size: before.Size(), Kept: after.Size()}}, nil
	})
}

// withBucket opens bbolt, read-only or not, runs fn on the bucket in one
// transaction (a read-write one, synced, when not read-only), and closes
// bbolt; a panic in bbolt is returned as an error.
func (w *wal) withBucket(opts *bolt.Options, readOnly bool, fn func(b *bolt.Bucket) error) error {
	o := *opts
	o.ReadOnly = readOnly
	op := "salvage"
	err := w.store.Run(op, readOnly, func(*kv.Guard) error {
		db, err := bolt.Open(w.store.File, 0o600, &o)
		if err != nil {
			return err
		}
		tx := db.Update
		if readOnly {
			tx = db.View
		}
		err = tx(func(tx *bolt.Tx) error {
			b, err := w.records(tx)
			if err != nil {
				return err
			}
			return fn(b)
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return w.mapError(op, err)
}

// refuse explains an error that stops a salvage before anything changed.
func refuse(path string, err error) error {
	return fmt.Errorf("bbolt: cut at corruption in %s: only damaged records can be cut out, not this: %w", path, err)
}
