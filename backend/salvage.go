package backend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Salvager is implemented by drivers that can cut a log at its first corrupt
// record, for an operator who would rather lose the records from there on
// than have no log. A driver offers one by implementing it on its Driver or
// with RegisterSalvager. Open never salvages: corruption is for an operator
// to decide on.
type Salvager interface {
	// Salvage finds the first damage in the log in cfg.Dir that Open or
	// Replay would refuse and removes that record and everything after it,
	// keeping a copy of every file it changes (see KeepCopy, MoveAside) and
	// making the change durable; afterwards the log opens with the records
	// before the damage. A log without such damage is left as it is
	// (SalvageReport.Damage nil). Damage it cannot cut around (a damaged
	// marker, the store's own structures) is an error, with nothing
	// changed. The caller holds the directory's lock (see Salvage).
	Salvage(ctx context.Context, cfg Config) (SalvageReport, error)
}

// SalvageReport says what a Salvager found and removed.
type SalvageReport struct {
	// Damage is the first damage found, nil when there was none and
	// nothing changed.
	Damage *CorruptError
	// First and Last are the log's bounds after the cut.
	First, Last uint64
	// RemovedFrom and RemovedTo are the indexes removed (both 0 when none):
	// RemovedFrom is Last+1, RemovedTo the highest index found in what was
	// removed, or what a clean close recorded, whichever is higher.
	RemovedFrom, RemovedTo uint64
	// RemovedBytes counts the log's bytes removed: cut from or moved out of
	// its files, or the removed keys and values of a key-value store.
	RemovedBytes int64
	// Files lists every file changed, each with the copy kept of it.
	Files []SalvagedFile
}

// SalvagedFile is a file (or a directory) a Salvager changed.
type SalvagedFile struct {
	Path string // the file as it is named in the log
	Copy string // where its previous contents are kept
	// Size is its size before; Kept its size after, or -1 when the file was
	// moved to Copy whole.
	Size, Kept int64
}

// RegisterSalvager makes s the Salvager of the driver registered as name. It
// is meant to be called from init and panics if name is empty, s is nil, or
// name already has one.
func RegisterSalvager(name string, s Salvager) {
	registerExtra("RegisterSalvager", salvagers, name, s)
}

// HasSalvager reports whether the driver registered as name offers a
// Salvager; false for an unknown name.
func HasSalvager(name string) bool {
	_, ok, _ := extra(salvagers, name)
	return ok
}

// Salvage cuts the log in cfg.Dir at its first corrupt record with its
// driver's Salvager, holding the directory's lock meanwhile. It fails with
// ErrLocked while a WAL holds the directory, and with an error wrapping
// errors.ErrUnsupported when the driver has no Salvager.
func Salvage(ctx context.Context, cfg Config) (SalvageReport, error) {
	s, ok, err := extra(salvagers, cfg.Backend)
	if err != nil {
		return SalvageReport{}, err
	}
	if !ok {
		return SalvageReport{}, fmt.Errorf("backend %s: cut at corruption: %w", cfg.Backend, errors.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return SalvageReport{}, err
	}
	lock, err := LockDir(cfg, true)
	if err != nil {
		return SalvageReport{}, err
	}
	defer lock.Close()
	_, driverCfg := splitParams(cfg)
	return s.Salvage(ctx, driverCfg)
}

// KeepCopy copies the file at path to a free name path+BrokenSuffix (then
// .2, .3, ...), durably, and returns the copy's name: what a Salvager does
// before it changes a file.
func KeepCopy(fs vfs.FS, path string) (string, error) {
	copyPath, err := freeName(fs, path+BrokenSuffix)
	if err != nil {
		return "", fmt.Errorf("backend: keep a copy of %s: %w", path, err)
	}
	if err := copyFileSynced(fs, path, copyPath); err != nil {
		return "", fmt.Errorf("backend: keep a copy of %s as %s: %w", path, copyPath, err)
	}
	return copyPath, nil
}

// CutFile keeps a copy of the file at path (KeepCopy) and then truncates it
// to size and fsyncs it.
func CutFile(fs vfs.FS, path string, size int64) (SalvagedFile, error) {
	fi, err := fs.Stat(path)
	if err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: cut %s: %w", path, err)
	}
	if size < 0 || size > fi.Size() {
		return SalvagedFile{}, fmt.Errorf("backend: cut %s: offset %d outside the file's %d bytes", path, size, fi.Size())
	}
	copyPath, err := KeepCopy(fs, path)
	if err != nil {
		return SalvagedFile{}, err
	}
	f, err := fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: cut %s: %w", path, err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: cut %s at offset %d: %w", path, size, err)
	}
	return SalvagedFile{Path: path, Copy: copyPath, Size: fi.Size(), Kept: size}, nil
}

// MoveAside renames the file at path to a free name path+BrokenSuffix (then
// .2, .3, ...) and fsyncs its directory, taking the file out of the log
// whole while keeping its contents.
func MoveAside(fs vfs.FS, path string) (SalvagedFile, error) {
	fi, err := fs.Stat(path)
	if err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: move aside %s: %w", path, err)
	}
	copyPath, err := freeName(fs, path+BrokenSuffix)
	if err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: move aside %s: %w", path, err)
	}
	if err := fs.Rename(path, copyPath); err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: move aside %s: %w", path, err)
	}
	if err := fs.SyncDir(filepath.Dir(path)); err != nil {
		return SalvagedFile{}, fmt.Errorf("backend: move aside %s: sync directory: %w", path, err)
	}
	return SalvagedFile{Path: path, Copy: copyPath, Size: fi.Size(), Kept: -1}, nil
}
