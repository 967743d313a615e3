package backend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

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
	lock, driverCfg, err := lockForExtra(ctx, cfg, true)
	if err != nil {
		return SalvageReport{}, err
	}
	defer lock.Close()
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

// FileLog describes a log kept as a sequence of files (segments) to
// SalvageFiles, which salvages any such log the same way.
type FileLog struct {
	FS vfs.FS
	// Check runs the checks Open runs, changing nothing, and returns the
	// bounds Open would report, or the error it would refuse with. A torn
	// tail is not an error: Open repairs it.
	Check func() (first, last uint64, err error)
	// Files returns the log's data files in index order.
	Files func() ([]string, error)
	// Highest returns the highest index held by a record that decodes in
	// data, a stretch of a data file, or 0 when none does.
	Highest func(data []byte) uint64
}

// SalvageFiles cuts l at the first damage Check reports: the file holding it
// is cut at the bad record (CutFile), and every later file is moved aside
// whole (MoveAside). A file cut to nothing keeps its name, which may say
// where the log starts; if Check still refuses it there (its name is wrong,
// as after a missing file), it is removed, its copy already kept. Each pass removes a file
// or ends in a clean cut, and it checks again until Check accepts the log.
// Damage outside the data files (a marker) is returned as an error with
// nothing changed.
func SalvageFiles(l FileLog) (SalvageReport, error) {
	var rep SalvageReport
	var highest uint64
	emptied := map[string]bool{}
	for {
		first, last, err := l.Check()
		var damage *CorruptError
		if err == nil {
			if rep.Damage != nil {
				rep.First, rep.Last = first, last
				rep.RemovedFrom = last + 1
				rep.RemovedTo = max(highest, rep.Damage.Index, rep.RemovedFrom)
			}
			return rep, nil
		}
		if !errors.As(err, &damage) {
			return rep, err
		}
		files, err := l.Files()
		if err != nil {
			return rep, err
		}
		at := slices.Index(files, damage.File)
		if at < 0 {
			return rep, fmt.Errorf("backend: cut at corruption: only damage to the data files can be cut out: %w", damage)
		}
		if rep.Damage == nil {
			rep.Damage = damage
		}
		for i, path := range files[at:] {
			if emptied[path] {
				// Its contents are in the copy kept when it was emptied.
				if err := l.remove(path, rep.Files); err != nil {
					return rep, err
				}
				continue
			}
			cut := int64(-1) // move aside
			if i == 0 {
				cut = max(damage.Offset, 0)
				emptied[path] = cut == 0
			}
			high, changed, err := l.cut(path, cut)
			if err != nil {
				return rep, err
			}
			highest = max(highest, high)
			rep.Files = append(rep.Files, changed)
			rep.RemovedBytes += changed.Size - max(changed.Kept, 0)
		}
	}
}

// cut cuts the file at path to offset cut, or moves it aside whole when cut
// is -1, and returns the highest index in what it removed.
func (l FileLog) cut(path string, cut int64) (uint64, SalvagedFile, error) {
	data, err := vfs.ReadFile(l.FS, path)
	if err != nil {
		return 0, SalvagedFile{}, fmt.Errorf("backend: cut at corruption: read %s: %w", path, err)
	}
	var changed SalvagedFile
	if cut < 0 {
		changed, err = MoveAside(l.FS, path)
	} else {
		changed, err = CutFile(l.FS, path, cut)
		data = data[cut:]
	}
	if err != nil {
		return 0, changed, err
	}
	return l.Highest(data), changed, nil
}

// remove deletes the file at path, which an earlier pass emptied, and marks
// it in files as moved aside whole.
func (l FileLog) remove(path string, files []SalvagedFile) error {
	if err := l.FS.Remove(path); err != nil {
		return fmt.Errorf("backend: cut at corruption: remove emptied %s: %w", path, err)
	}
	if err := l.FS.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("backend: cut at corruption: remove emptied %s: sync directory: %w", path, err)
	}
	for i := range files {
		if files[i].Path == path {
			files[i].Kept = -1
		}
	}
	return nil
}
