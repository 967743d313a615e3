package pebble

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

func init() {
	backend.RegisterSalvager(Name, salvager{})
}

// salvager is the pebble backend's backend.Salvager, for the operator tools.
type salvager struct{}

// Salvage scans the records with Pebble opened read-only and, when one fails
// its checks, keeps a copy of Pebble's directory (Dir/pebble.broken), deletes
// that record and every later one in one synced batch, and rewrites the
// close record with the bounds left (kv.Store.Salvage). Damage Pebble itself
// reports (its block or log checksums) is refused: cutting records cannot
// mend Pebble's files.
func (salvager) Salvage(ctx context.Context, cfg backend.Config) (backend.SalvageReport, error) {
	settings, err := parseParams(cfg)
	if err != nil {
		return backend.SalvageReport{}, err
	}
	fs := pebblevfs.Default // as the registered driver: Pebble does its own I/O
	dir := filepath.Join(cfg.Dir, SubDir)
	if _, err := fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return backend.SalvageReport{}, nil // no store, nothing to cut
	}
	w := &wal{store: kv.Store{Name: Name, File: dir}}
	open := func(readOnly bool) error {
		background := make(chan error, 1)
		opts := pebbleOptions(settings, fs, newLogger(cfg.Log(), dir), background)
		opts.ReadOnly = readOnly
		w.db, err = w.openDB(ctx, opts, background)
		return err
	}
	if err := open(true); err != nil {
		return backend.SalvageReport{}, refuse(dir, err)
	}
	sc, err := w.scan()
	if cerr := w.closeDB(); err == nil {
		err = cerr
	}
	if err != nil {
		return backend.SalvageReport{}, refuse(dir, err)
	}
	return w.store.Salvage(sc, files{fs}, cfg.Dir, func(from []byte) ([]backend.SalvagedFile, error) {
		kept, err := keepDir(fs, dir)
		if err != nil {
			return nil, err
		}
		if err := open(false); err != nil {
			return nil, err
		}
		err = w.store.Run("salvage", false, func(*kv.Guard) error {
			b := w.db.NewBatch()
			err := b.DeleteRange(from, kv.RecordsEnd, nil)
			if err == nil {
				err = b.Commit(pebble.Sync)
			}
			if cerr := b.Close(); err == nil {
				err = cerr
			}
			return err
		})
		if cerr := w.closeDB(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, w.mapError("salvage", err)
		}
		if kept.Kept, err = dirSize(fs, dir); err != nil {
			return nil, err
		}
		return []backend.SalvagedFile{kept}, nil
	})
}

// refuse explains an error that stops a salvage before anything changed.
func refuse(dir string, err error) error {
	return fmt.Errorf("pebble: cut at corruption in %s: only damaged records can be cut out, not this: %w", dir, err)
}

// scan reads the marker and every record from one iterator, so from one
// consistent view of the store.
func (w *wal) scan() (kv.Scan, error) {
	var sc kv.Scan
	err := w.store.Run("salvage", true, func(g *kv.Guard) error {
		iter, err := w.records()
		if err != nil {
			return w.mapError("salvage", err)
		}
		marker, err := w.marker(iter)
		if err == nil {
			sc, err = w.store.ScanRecords(marker, func(fn func(key, val []byte)) error {
				for ok := iter.SeekGE(kv.RecordsStart); ok; ok = iter.Next() {
					val, err := iter.ValueAndErr()
					if err != nil {
						return err
					}
					fn(iter.Key(), val)
				}
				return iter.Error()
			})
		}
		if cerr := iter.Close(); err == nil {
			err = cerr
		}
		return w.mapError("salvage", err)
	})
	return sc, err
}

// keepDir copies Pebble's directory dir to a free name dir.broken[.N],
// through a temporary name and with every file and directory synced, so the
// copy is whole or absent after a crash.
func keepDir(fs pebblevfs.FS, dir string) (backend.SalvagedFile, error) {
	copyPath := dir + backend.BrokenSuffix
	for n := 2; ; n++ {
		if _, err := fs.Stat(copyPath); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return backend.SalvagedFile{}, fmt.Errorf("pebble: stat %s: %w", copyPath, err)
		}
		copyPath = dir + backend.BrokenSuffix + "." + strconv.Itoa(n)
	}
	tmp := copyPath + ".tmp"
	if err := fs.RemoveAll(tmp); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("pebble: remove %s: %w", tmp, err)
	}
	if _, err := pebblevfs.Clone(fs, fs, dir, tmp, pebblevfs.CloneSync); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("pebble: keep a copy of %s: %w", dir, err)
	}
	if err := fs.Rename(tmp, copyPath); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("pebble: keep a copy of %s: %w", dir, err)
	}
	if err := (files{fs}).SyncDir(filepath.Dir(dir)); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("pebble: keep a copy of %s: sync: %w", dir, err)
	}
	size, err := dirSize(fs, copyPath)
	if err != nil {
		return backend.SalvagedFile{}, err
	}
	return backend.SalvagedFile{Path: dir, Copy: copyPath, Size: size}, nil
}

// dirSize returns the bytes of the files in dir.
func dirSize(fs pebblevfs.FS, dir string) (int64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return 0, fmt.Errorf("pebble: list %s: %w", dir, err)
	}
	var size int64
	for _, name := range names {
		fi, err := fs.Stat(fs.PathJoin(dir, name))
		if err != nil {
			return 0, fmt.Errorf("pebble: stat %s: %w", name, err)
		}
		if !fi.IsDir() {
			size += fi.Size()
		}
	}
	return size, nil
}
