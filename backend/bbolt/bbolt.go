package bbolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Name is the name the backend is registered under.
const Name = "bbolt"

// FileName is the database file in the WAL directory.
const FileName = "wal.db"

// Params; see the package documentation.
const (
	ParamNoFreelistSync  = "no_freelist_sync"
	ParamInitialMmapSize = "initial_mmap_size"
)

// lockTimeout bounds the wait for bbolt's own flock on the file. The WAL's
// directory lock already keeps other writers out; this only stops a stray
// holder (a bbolt CLI left open) from blocking Open forever.
const lockTimeout = 100 * time.Millisecond

// defaultMmapSize is the default initial_mmap_size: address space, not
// memory. bbolt remaps only when the file outgrows the map, and a remap
// waits for every read transaction and, when it fails, leaves bbolt's meta
// pointers unset so the rollback that follows panics with the writer lock
// held.
const defaultMmapSize = 1 << 30

// bucket holds the records and the first-index marker.
var bucket = []byte("wal")

// unsafeNoSync makes every commit unsynced; tests only (export_test.go).
var unsafeNoSync = false

func init() {
	backend.Register(Name, backend.DriverFunc(Open))
	backend.RegisterParamChecker(Name, backend.ParamCheckerFunc(func(cfg backend.Config) error {
		_, err := boltOptions(cfg)
		return err
	}))
}

// boltOptions reads the params Open takes into bbolt's options.
func boltOptions(cfg backend.Config) (*bolt.Options, error) {
	p := backend.NewParams(cfg)
	opts := &bolt.Options{
		Timeout:         lockTimeout,
		NoGrowSync:      false,
		NoFreelistSync:  p.Bool(ParamNoFreelistSync, false),
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: int(p.Int64(ParamInitialMmapSize, defaultMmapSize)),
	}
	return opts, p.Err()
}

// Open opens the bbolt WAL in cfg.Dir, creating it if missing. backend.Open
// calls it through the registry and wraps it; call backend.Open rather than
// this.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	opts, err := boltOptions(cfg)
	if err != nil {
		return nil, err
	}
	fs := cfg.FileSystem()
	if err := backend.CheckDir(fs, cfg.Dir, ownsName); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Dir, FileName)
	store := kv.Store{Name: Name, File: path}
	w := &wal{
		store: store,
		log:   kv.NewLog(store, kv.VFSFiles(fs), cfg.Dir),
	}
	w.mode, _ = cfg.Modes()
	if _, err := fs.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := w.create(fs, cfg.Dir, opts); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("bbolt: stat %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkMetaPages(fs, path); err != nil {
		return nil, err
	}
	main := *opts
	main.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		w.file = f
		return f, err
	}
	err = w.call("open", true, func(*kv.Guard) error {
		var err error
		w.db, err = bolt.Open(path, w.mode, &main)
		return err
	})
	if err != nil {
		if kv.Panicked(err) {
			w.broken = err // bbolt's state is unknown: release its file, not the DB
		}
		w.release()
		return nil, w.mapError("open", err)
	}
	// Never NoSync, even under SyncNone: an unsynced commit's meta page can
	// reach the disk before the pages it points to, and a power loss then
	// loses what an earlier Sync made durable (power_loss_torn_writes).
	// Only a test that needs a backend acknowledging before fsync sets it.
	w.db.NoSync = unsafeNoSync
	if err := w.loadBounds(); err != nil {
		w.release()
		return nil, err
	}
	return w, nil
}

// create makes a new database atomically: bbolt initializes it (and syncs
// it) under a temporary name, the bucket is created, and the file is renamed
// into place and its directory, dir, fsync'd. bbolt alone would leave a new file's
// directory entry unsynced, and a crash during its initialization would
// leave a file too short to open.
func (w *wal) create(fs vfs.FS, dir string, opts *bolt.Options) error {
	tmp := w.store.File + ".tmp"
	if err := fs.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bbolt: remove %s: %w", tmp, err)
	}
	err := w.store.Run("create", false, func(*kv.Guard) error {
		db, err := bolt.Open(tmp, w.mode, opts)
		if err != nil {
			return err
		}
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket(bucket)
			return err
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("bbolt: create %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, w.store.File); err != nil {
		return fmt.Errorf("bbolt: rename %s: %w", tmp, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("bbolt: sync %s: %w", dir, err)
	}
	return nil
}

// mapError maps a bbolt error to the backend's: a failed meta page check is
// a *backend.CorruptError, a timed-out flock ErrLocked; the upstream error
// stays reachable through errors.As either way.
func (w *wal) mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *backend.CorruptError
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return w.store.Corrupt(nil, 0, "bbolt rejects the file during "+op, err)
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("bbolt: %s %s: %w: %w", op, w.store.File, backend.ErrLocked, err)
	}
	return fmt.Errorf("bbolt: %s %s: %w", op, w.store.File, err)
}

// closeDB closes bbolt, turning a panic into an error.
func (w *wal) closeDB() error {
	err := w.call("close", false, func(*kv.Guard) error { return w.db.Close() })
	return w.mapError("close", err)
}
