package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Inspector is implemented by drivers that can check a WAL directory without
// changing it, so an operator tool need not copy the log to check it. A driver
// offers one by implementing it on its Driver or with RegisterInspector.
type Inspector interface {
	// Inspect reports what Open followed by a Replay of every record would
	// find in cfg.Dir, changing nothing: the bounds, the files, and the torn
	// tail Open would cut off. Damage Open or Replay would refuse is returned
	// as the same error (a *CorruptError naming file, offset and index). The
	// caller holds the directory's lock (see Inspect).
	Inspect(ctx context.Context, cfg Config) (Inspection, error)
}

// Inspection is what an Inspector found in a WAL directory.
type Inspection struct {
	First, Last uint64     // the bounds Open would report
	Files       []FileSpan // the log's data files, in index order
	// Torn is the torn tail Open would cut off, nil when there is none: File,
	// Offset (where the cut goes), Index (the record it held) and Reason.
	Torn      *CorruptError
	TornBytes int64 // bytes Open would cut off
}

// FileSpan is a data file of a log and the records of the log it holds;
// Last < First when it holds none.
type FileSpan struct {
	Path        string
	First, Last uint64
}

var (
	extrasMu   sync.RWMutex
	inspectors = map[string]Inspector{}
	salvagers  = map[string]Salvager{}
)

// RegisterInspector makes i the Inspector of the driver registered as name.
// It is meant to be called from init and panics if name is empty, i is nil,
// or name already has one.
func RegisterInspector(name string, i Inspector) {
	registerExtra("RegisterInspector", inspectors, name, i)
}

func registerExtra[T comparable](fn string, m map[string]T, name string, v T) {
	extrasMu.Lock()
	defer extrasMu.Unlock()
	var zero T
	if name == "" {
		panic("backend: " + fn + " with an empty name")
	}
	if v == zero {
		panic("backend: " + fn + " is nil")
	}
	if _, dup := m[name]; dup {
		panic("backend: " + fn + " called twice for driver " + name)
	}
	m[name] = v
}

// extra returns the driver registered as name when it implements T, or else
// the T registered for name, or false.
func extra[T any](m map[string]T, name string) (T, bool, error) {
	var zero T
	d, err := lookup(name)
	if err != nil {
		return zero, false, err
	}
	if v, ok := d.(T); ok {
		return v, true, nil
	}
	extrasMu.RLock()
	defer extrasMu.RUnlock()
	v, ok := m[name]
	return v, ok, nil
}

// HasInspector reports whether the driver registered as name offers an
// Inspector; false for an unknown name.
func HasInspector(name string) bool {
	_, ok, _ := extra(inspectors, name)
	return ok
}

// Inspect checks the WAL in cfg.Dir with its driver's Inspector, changing
// nothing, while holding the directory's lock (LockDir without create), so no
// writer changes the files under it. It fails with ErrLocked while a WAL
// holds the directory, and with an error wrapping errors.ErrUnsupported when
// the driver has no Inspector.
func Inspect(ctx context.Context, cfg Config) (Inspection, error) {
	in, ok, err := extra(inspectors, cfg.Backend)
	if err != nil {
		return Inspection{}, err
	}
	if !ok {
		return Inspection{}, fmt.Errorf("backend %s: inspect: %w", cfg.Backend, errors.ErrUnsupported)
	}
	lock, driverCfg, err := lockForExtra(ctx, cfg, false)
	if err != nil {
		return Inspection{}, err
	}
	defer lock.Close()
	return in.Inspect(ctx, driverCfg)
}

// lockForExtra checks ctx and takes the directory's lock (LockDir) for an
// Inspector or Salvager, and returns the config the driver sees: without
// the shared layer's params, as Open passes it.
func lockForExtra(ctx context.Context, cfg Config, create bool) (io.Closer, Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, cfg, err
	}
	lock, err := LockDir(cfg, create)
	if err != nil {
		return nil, cfg, err
	}
	_, driverCfg := splitParams(cfg)
	return lock, driverCfg, nil
}

// LockDir takes the lock a WAL holds on cfg.Dir (Dir/LockFileName), for a
// tool that reads or changes the directory with no WAL open. It fails fast
// with an error wrapping ErrLocked while a WAL, in this process or another,
// holds it. Without create it changes nothing: a directory with no lock file
// has never been opened by a WAL, which creates the file before it locks it,
// so nothing is locked and the returned Closer does nothing.
func LockDir(cfg Config, create bool) (io.Closer, error) {
	fs := cfg.FileSystem()
	path := filepath.Join(cfg.Dir, LockFileName)
	if !create {
		if _, err := fs.Stat(cfg.Dir); err != nil {
			return nil, fmt.Errorf("backend %s: %w", cfg.Backend, err)
		}
		if _, err := fs.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nopCloser{}, nil
		}
	}
	lock, err := fs.Lock(path)
	if errors.Is(err, vfs.ErrWouldBlock) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, cfg.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %s: lock %s: %w", cfg.Backend, cfg.Dir, err)
	}
	return lock, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Corruption returns the error Open reports for d when it is not a torn
// write: d.Err, its Reason saying why it is not one. It changes nothing, so
// an Inspector reports what ResolveDamage would refuse.
func (d Damage) Corruption() *CorruptError {
	e := *d.Err
	switch {
	case !d.LastFile:
		e.Reason += " (in a file older than the last, so not a torn tail)"
	case d.ValidAfter:
		e.Reason += " (followed by a valid record that carries no durability claim, so not a torn tail)"
	case d.Claim != nil && d.Claim.Durable >= e.Index:
		e.Reason += fmt.Sprintf(" (record %d at offset %d, written after it, claims the log durable through index %d, so not a torn write)",
			d.Claim.Index, d.Claim.Offset, d.Claim.Durable)
	}
	return &e
}
