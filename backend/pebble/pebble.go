package pebble

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/internal/kv"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Name is the name the backend is registered under.
const Name = "pebble"

// SubDir is the directory inside Config.Dir that holds Pebble's files, apart
// from the WAL's own lock file (Pebble takes a LOCK file of its own).
const SubDir = "pebble"

// Params and their defaults; see the package documentation.
const (
	ParamMemTableSize    = "memtable_size"
	ParamBytesPerSync    = "bytes_per_sync"
	ParamWALBytesPerSync = "wal_bytes_per_sync"

	defaultMemTableSize = 4 << 20
	defaultBytesPerSync = 512 << 10
	// Pebble refuses memtables of 4 GiB and more.
	maxMemTableSize = 4<<30 - 1
)

// Options are test-only settings, for OpenWithOptions.
type Options struct {
	// FS is the file system Pebble runs on (nil: the disk). Fault tests pass
	// pebble's vfs.NewMem, vfs.NewCrashableMem or an errorfs layer.
	FS pebblevfs.FS
}

func init() {
	backend.Register(Name, driver{})
}

// driver opens Pebble WALs with the given test-only options.
type driver struct{ opts *Options }

// CheckParams refuses the params Open refuses, touching nothing.
func (driver) CheckParams(cfg backend.Config) error {
	_, err := parseParams(cfg)
	return err
}

// Open opens the Pebble WAL in cfg.Dir, on disk. backend.Open calls it
// through the registry; call backend.Open rather than this.
func (d driver) Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	return open(ctx, cfg, d.opts)
}

// OpenWithOptions opens the WAL in cfg.Dir like backend.Open, wrapped in the
// same shared machinery, with Pebble configured by opts (nil: defaults). The
// directory lock is still taken through cfg.FS in cfg.Dir.
func OpenWithOptions(ctx context.Context, cfg backend.Config, opts *Options) (backend.WAL, error) {
	if cfg.Backend == "" {
		cfg.Backend = Name
	}
	return backend.OpenDriver(ctx, driver{opts: opts}, cfg)
}

// settings are the params after parsing.
type settings struct {
	memTableSize    int64
	bytesPerSync    int64
	walBytesPerSync int64
}

func parseParams(cfg backend.Config) (settings, error) {
	p := backend.NewParams(cfg)
	s := settings{
		memTableSize:    p.Int64(ParamMemTableSize, defaultMemTableSize),
		bytesPerSync:    p.Int64(ParamBytesPerSync, defaultBytesPerSync),
		walBytesPerSync: p.Int64(ParamWALBytesPerSync, 0),
	}
	if err := p.Err(); err != nil {
		return s, err
	}
	if s.memTableSize < 1<<20 || s.memTableSize > maxMemTableSize {
		return s, fmt.Errorf("backend %s: param %s=%d: want a size from 1MiB to 4GiB-1",
			Name, ParamMemTableSize, s.memTableSize)
	}
	return s, nil
}

// pebbleOptions chooses Pebble's settings for an append-only log; the
// package documentation explains each choice. Background errors are logged
// and, when background is not nil, offered to it without blocking.
func pebbleOptions(s settings, fs pebblevfs.FS, lg pebble.Logger, background chan<- error) *pebble.Options {
	opts := &pebble.Options{
		FS:                          fs,
		Logger:                      lg,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                uint64(s.memTableSize),
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       64,
		BytesPerSync:                int(s.bytesPerSync),
		WALBytesPerSync:             int(s.walBytesPerSync),
		CacheSize:                   2 << 20,
	}
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	events := pebble.MakeLoggingEventListener(lg)
	logBackground := events.BackgroundError
	events.BackgroundError = func(err error) {
		logBackground(err)
		select {
		case background <- err:
		default:
		}
	}
	opts.EventListener = &events
	opts.EnsureDefaults()
	return opts
}

func open(ctx context.Context, cfg backend.Config, o *Options) (backend.WAL, error) {
	s, err := parseParams(cfg)
	if err != nil {
		return nil, err
	}
	fs := pebblevfs.Default
	if o != nil && o.FS != nil {
		fs = o.FS
	}
	if err := backend.CheckDir(cfg.FileSystem(), cfg.Dir, ownsName); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Dir, SubDir)
	fresh, err := startOver(fs, cfg, dir)
	if err != nil {
		return nil, err
	}
	if err := mkdirSynced(fs, dir); err != nil {
		return nil, fmt.Errorf("pebble: create %s: %w", dir, err)
	}
	if !fresh {
		// Checked before pebble.Open, which writes its LOCK file even when
		// it then refuses.
		if desc, err := pebble.Peek(dir, fs); err == nil && !desc.Exists {
			return nil, &iofs.PathError{Op: "pebble: open", Path: dir,
				Err: fmt.Errorf("holds no Pebble store though one was created here: %w", backend.ErrForeignFile)}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	store := kv.Store{Name: Name, File: dir}
	w := &wal{
		store: store,
		log:   kv.NewLog(store, files{fs}, cfg.Dir),
		write: pebble.Sync,
		sync:  cfg.Sync,
	}
	if cfg.Sync == backend.SyncNone {
		w.write = pebble.NoSync
	}
	background := make(chan error, 1)
	opts := pebbleOptions(s, fs, newLogger(cfg.Log(), dir), background)
	opts.ErrorIfNotExists = !fresh
	if w.db, err = w.openDB(ctx, opts, background); err != nil {
		return nil, err
	}
	if fresh {
		if err := (files{fs}).WriteFileAtomic(filepath.Join(cfg.Dir, CreatedFile), []byte("pebble store created\n")); err != nil {
			w.closeDB()
			return nil, fmt.Errorf("pebble: mark %s created: %w", dir, err)
		}
	}
	if err := w.loadBounds(); err != nil {
		w.closeDB()
		return nil, err
	}
	return w, nil
}

// CreatedFile, in Config.Dir, says that SubDir holds a whole store: it is
// written, durably, once the first pebble.Open has returned. Without it
// SubDir is a create that a crash interrupted (nothing was acknowledged
// yet, since Open had not returned) and is started over; with it, a SubDir
// holding no store is refused rather than initialised over as an empty log.
const CreatedFile = "pebble.created"

// startOver reports whether the store must be created afresh, after
// removing what an interrupted create left in dir.
func startOver(fs pebblevfs.FS, cfg backend.Config, dir string) (bool, error) {
	if _, err := fs.Stat(filepath.Join(cfg.Dir, CreatedFile)); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("pebble: stat %s: %w", filepath.Join(cfg.Dir, CreatedFile), err)
	}
	if err := fs.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("pebble: remove %s left by an interrupted create: %w", dir, err)
	}
	return true, nil
}

// openDB runs pebble.Open, which flushes the WAL it replays before it
// returns and retries a failed flush without end: on a failing disk it never
// returns. So a background error while it runs fails the open, as does ctx;
// the abandoned pebble.Open is left to finish, and its DB closed if it does.
func (w *wal) openDB(ctx context.Context, opts *pebble.Options, background <-chan error) (*pebble.DB, error) {
	type result struct {
		db  *pebble.DB
		err error
	}
	opened := make(chan result, 1)
	go func() {
		var r result
		r.err = w.store.Run("open", true, func(*kv.Guard) error {
			if err := checkOptionsFile(opts.FS, w.store.File, opts); err != nil {
				return err
			}
			var err error
			r.db, err = pebble.Open(w.store.File, opts)
			return err
		})
		opened <- r
	}()
	abandon := func() {
		go func() {
			if r := <-opened; r.db != nil {
				r.db.Close()
			}
		}()
	}
	select {
	case r := <-opened:
		return r.db, w.mapError("open", r.err)
	case err := <-background:
		abandon()
		return nil, w.mapError("open", fmt.Errorf("background work failed while opening: %w", err))
	case <-ctx.Done():
		abandon()
		return nil, ctx.Err()
	}
}

// mkdirSynced creates dir and any missing parents on Pebble's file system,
// fsyncing each parent whose entries changed, so the new directories
// survive a power loss (Pebble syncs only its own directory). It is
// backend/vfs.MkdirAllSynced for Pebble's vfs, which tests swap for an
// in-memory one.
func mkdirSynced(fs pebblevfs.FS, dir string) error {
	dir = filepath.Clean(dir)
	if _, err := fs.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirSynced(fs, parent); err != nil {
			return err
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return files{fs}.SyncDir(parent)
}

// checkOptionsFile checks Pebble's latest OPTIONS file, which has no
// checksum, before Pebble reads it: Pebble rejects a mismatch with an error
// that says nothing of corruption, yet this WAL always writes the same
// comparer and merger, so a mismatch means the file is damaged.
func checkOptionsFile(fs pebblevfs.FS, dir string, opts *pebble.Options) error {
	desc, err := pebble.Peek(dir, fs)
	if err != nil || !desc.Exists || desc.OptionsFilename == "" {
		return err
	}
	path := desc.OptionsFilename // Peek returns the full path
	f, err := fs.Open(path)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	if err := opts.CheckCompatibility(dir, string(data)); err != nil {
		return &backend.CorruptError{File: path, Offset: -1, Reason: "options file does not match the options the WAL writes", Err: err}
	}
	return nil
}

// mapError maps a Pebble error to the backend's: corruption becomes a
// *backend.CorruptError, a held lock ErrLocked; the upstream error stays
// reachable through errors.As either way.
func (w *wal) mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *backend.CorruptError
	if errors.As(err, &ce) {
		return err
	}
	if pebble.IsCorruptionError(err) || errors.Is(err, pebble.ErrCorruption) {
		return w.store.Corrupt(nil, 0, "pebble reports corruption during "+op, err)
	}
	if errors.Is(err, vfs.ErrWouldBlock) {
		return fmt.Errorf("pebble: %s %s: %w: %w", op, w.store.File, backend.ErrLocked, err)
	}
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return &iofs.PathError{Op: "pebble: " + op, Path: w.store.File,
			Err: fmt.Errorf("holds no Pebble store: %w (%w)", backend.ErrForeignFile, err)}
	}
	return fmt.Errorf("pebble: %s %s: %w", op, w.store.File, err)
}

// closeDB closes Pebble, turning a panic into an error.
func (w *wal) closeDB() error {
	err := w.store.Run("close", false, func(*kv.Guard) error { return w.db.Close() })
	return w.mapError("close", err)
}
