package backend

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// BrokenSuffix ends the name of the copy RepairTail keeps of a file before it
// cuts the file's torn tail off. Drivers must not take such files for data.
const BrokenSuffix = ".broken"

// Damage is the first bad record a driver's scan of its files found, with
// what rule 4 of docs/design.md needs to tell a torn write from corruption.
//
// A record may carry a durability claim: the index through which the log was
// durable (fsync'd) when it was written. A valid record after the damage that
// claims the damaged index durable proves the damage hit bytes that had
// reached the disk, so it is corruption. Records that claim less prove
// nothing: a power loss in the middle of an unsynced write that spans pages
// may keep a later page and lose an earlier one, leaving zeros or old bytes
// before valid records. A valid record that carries no claim (a log written
// before records carried them) is taken to claim everything, as rule 4 did
// before claims existed.
type Damage struct {
	// Err says where and why: File and Offset locate the start of the bad
	// record, Index is the index it should hold, Reason what failed.
	Err *CorruptError
	// LastFile is true when File can hold a torn write: the newest file of
	// a log that fsyncs a file before it starts the next.
	LastFile bool
	// ValidAfter is true when a valid record that carries no durability
	// claim lies somewhere after the bad one in File.
	ValidAfter bool
	// Claim is the valid record after the bad one in File with the highest
	// durability claim, nil when no valid record after it carries one.
	Claim *Claim
}

// Claim is a valid record's durability claim, where Damage found it.
type Claim struct {
	Index   uint64 // the record's index
	Offset  int64  // where it starts in the damaged file
	Durable uint64 // the index through which it says the log was durable
}

// Observe notes a valid record after the damage: its index, offset and
// durability claim (NoClaim when it carries none). A scan calls it for every
// valid record it finds after the bad one, in any order.
func (d *Damage) Observe(index uint64, offset int64, durable uint64) {
	switch {
	case durable == NoClaim:
		d.ValidAfter = true
	case d.Claim == nil || durable > d.Claim.Durable:
		d.Claim = &Claim{Index: index, Offset: offset, Durable: durable}
	}
}

// Torn reports whether d is a torn write: a bad record in the last file after
// which no valid record claims it durable. Anything else is corruption.
func (d Damage) Torn() bool {
	return d.LastFile && !d.ValidAfter && (d.Claim == nil || d.Claim.Durable < d.Err.Index)
}

// ResolveDamage applies rule 4 of docs/design.md to d. A torn tail is cut off at
// d.Err.Offset with RepairTail and ResolveDamage returns nil; anything else is
// returned as d.Err, its Reason saying why it is not a torn tail, and no file
// is touched.
func ResolveDamage(fs vfs.FS, d Damage, logger *slog.Logger, obs Observer) error {
	if d.Err == nil {
		return errors.New("backend: ResolveDamage without an error")
	}
	if d.Torn() {
		return RepairTail(fs, d.Err.File, d.Err.Offset, logger, obs)
	}
	return d.Corruption()
}

// RepairTail cuts the torn tail off the file at path: it keeps a copy of the
// whole file as path+BrokenSuffix (path+BrokenSuffix+".2", ".3", ... when
// that name is taken), fsyncs the copy and its directory, truncates path to goodSize,
// fsyncs it, logs a warning naming the file, offset and dropped bytes, and
// tells obs. A crash part way leaves the file whole, so the next Open repairs
// it again.
func RepairTail(fs vfs.FS, path string, goodSize int64, logger *slog.Logger, obs Observer) error {
	fi, err := fs.Stat(path)
	if err != nil {
		return fmt.Errorf("backend: repair %s: %w", path, err)
	}
	size := fi.Size()
	if goodSize < 0 || goodSize > size {
		return fmt.Errorf("backend: repair %s: cut at offset %d outside the file's %d bytes", path, goodSize, size)
	}
	if goodSize == size {
		return nil
	}
	copyPath, err := freeName(fs, path+BrokenSuffix)
	if err != nil {
		return fmt.Errorf("backend: repair %s: %w", path, err)
	}
	if err := copyFileSynced(fs, path, copyPath); err != nil {
		return fmt.Errorf("backend: repair %s: keep a copy as %s: %w", path, copyPath, err)
	}
	f, err := fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backend: repair %s: %w", path, err)
	}
	if err := f.Truncate(goodSize); err != nil {
		f.Close()
		return fmt.Errorf("backend: repair %s: truncate to %d: %w", path, goodSize, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("backend: repair %s: fsync after truncate to %d: %w", path, goodSize, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backend: repair %s: %w", path, err)
	}
	dropped := size - goodSize
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("wal: torn tail repaired", "file", path, "offset", goodSize,
		"dropped_bytes", dropped, "copy", copyPath)
	if obs != nil {
		obs.TailRepaired(path, dropped)
	}
	return nil
}

// RepairCopyOf reports whether name is a copy RepairTail keeps (or the
// temporary file of one a crash interrupted): orig.broken, orig.broken.N or
// either with ".tmp". It returns orig, so a driver can accept the copy only
// beside a name it owns.
func RepairCopyOf(name string) (orig string, ok bool) {
	name = strings.TrimSuffix(name, ".tmp")
	i := strings.LastIndex(name, BrokenSuffix)
	if i <= 0 {
		return "", false
	}
	rest := name[i+len(BrokenSuffix):]
	if rest != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(rest, "."))
		if rest[0] != '.' || err != nil || n < 2 || strconv.Itoa(n) != rest[1:] {
			return "", false
		}
	}
	return name[:i], true
}

// freeName returns name, or name.2, name.3, ... : the first that does not
// exist, so an earlier repair's copy is never overwritten.
func freeName(fs vfs.FS, name string) (string, error) {
	for n := 1; ; n++ {
		candidate := name
		if n > 1 {
			candidate = name + "." + strconv.Itoa(n)
		}
		_, err := fs.Stat(candidate)
		if errors.Is(err, os.ErrNotExist) {
			return candidate, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// copyFileSynced copies src to dst through a temporary file, fsyncing it and
// the directory, so dst is either absent or complete after a crash.
func copyFileSynced(fs vfs.FS, src, dst string) error {
	in, err := vfs.Open(fs, src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := vfs.Create(fs, tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, dst); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(dst))
}
