package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// WAL is an append-only log of records addressed by dense, never reused
// indexes starting at 1. All methods are safe for concurrent use.
type WAL interface {
	// Append adds the records in order and returns the index of the last one.
	// With SyncAlways (the default) they are durable (fdatasync'd) when it returns.
	Append(ctx context.Context, data ...[]byte) (last uint64, err error)
	// Replay calls fn for each record with index >= from, in order. from must be in
	// [first, last+1]; else ErrOutOfRange. data is valid only during the call.
	Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error
	// Bounds returns the first and last index. Empty: first == last+1 (a new WAL: 1, 0).
	Bounds(ctx context.Context) (first, last uint64, err error)
	// TruncateFront durably removes every record with index < before;
	// before must be in [first, last+1] (last+1 empties the log).
	TruncateFront(ctx context.Context, before uint64) error
	// Sync makes everything appended so far durable.
	Sync(ctx context.Context) error
	// Close is idempotent; every other call after it returns ErrClosed.
	Close() error
}

// SyncMode says when an Append becomes durable.
type SyncMode int

const (
	// SyncAlways makes every Append durable before it returns. The zero value.
	SyncAlways SyncMode = iota
	// SyncNone leaves appended records in the OS page cache until Sync or Close:
	// they survive a killed process but not a power loss.
	SyncNone
)

// String returns "always" or "none".
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses "always" or "none" (the config spelling).
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always", "":
		return SyncAlways, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("backend: unknown sync mode %q (want always or none)", s)
}

// Config selects and configures a backend.
type Config struct {
	Backend string            // a registered name: "jsonl", "tidwall", "pebble", "bbolt", or a custom one
	Dir     string            // a directory owned by this WAL alone; created if missing
	Sync    SyncMode          // SyncAlways (default) or SyncNone
	Params  map[string]string // backend-specific; an unknown key is an error naming it

	// FS is the file system the framework and FS-aware drivers use for their own
	// I/O (nil: the operating system's). Tests put a fault-injecting or
	// crash-simulating FS here; drivers whose library does its own I/O ignore it.
	FS vfs.FS
	// Logger receives repairs and warnings (nil: slog.Default()).
	Logger *slog.Logger
	// Observer, when set, is told of commits, fsyncs, replays, repairs and
	// corruption; package walmetrics turns these into Prometheus metrics.
	Observer Observer
	// FileMode and DirMode widen the permission bits of the files and
	// directories Open and the driver create (zero: 0600 and 0700, private
	// to the owner), e.g. 0640 and 0750 for a backup group. They only widen:
	// a mode lacking the owner's bits is an error. The umask can only narrow
	// them; the lock file stays 0600.
	FileMode, DirMode os.FileMode
	// Encryption, when set, seals every record before the driver sees it
	// (see Encryption); nil stores records as they are.
	Encryption *Encryption
}

// Modes returns the permission bits for the files and directories a WAL
// creates: cfg.FileMode and cfg.DirMode, or vfs.FileMode and vfs.DirMode
// when zero. A driver whose library does its own I/O passes them to it.
func (cfg Config) Modes() (file, dir os.FileMode) {
	file, dir = cfg.FileMode, cfg.DirMode
	if file == 0 {
		file = vfs.FileMode
	}
	if dir == 0 {
		dir = vfs.DirMode
	}
	return file, dir
}

// FileSystem returns cfg.FS, or the operating system's file system when it
// is nil, creating files and directories with cfg.Modes() when cfg widens them.
func (cfg Config) FileSystem() vfs.FS {
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	if cfg.FileMode != 0 || cfg.DirMode != 0 {
		file, dir := cfg.Modes()
		fs = vfs.WithModes(fs, file, dir)
	}
	return fs
}

// Log returns cfg.Logger, or slog.Default() when it is nil.
func (cfg Config) Log() *slog.Logger {
	if cfg.Logger == nil {
		return slog.Default()
	}
	return cfg.Logger
}

// Observe returns cfg.Observer, or one that ignores everything when it is nil.
func (cfg Config) Observe() Observer {
	if cfg.Observer == nil {
		return NopObserver{}
	}
	return cfg.Observer
}

// Errors every backend reports. Test for them with errors.Is.
var (
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrCorrupt means stored records failed a check; see *CorruptError for where.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrOutOfRange means an index argument lies outside the log's bounds.
	ErrOutOfRange = errors.New("wal: index out of range")
	// ErrLocked means another WAL, in this process or another, holds the directory.
	ErrLocked = errors.New("wal: directory locked by another writer")
)

// CorruptError says where a stored record failed a check. It satisfies
// errors.Is(err, ErrCorrupt); Err, when set, is the upstream cause.
type CorruptError struct {
	File   string // the file (or database) holding the damage
	Offset int64  // byte offset in File, or -1 when the store has no offsets
	Index  uint64 // the record index involved, or 0 when unknown
	Key    string // the key in a key-value store, when there is one
	Reason string // what failed: "checksum mismatch", "index gap", ...
	Err    error  // upstream cause, if any
}

func (e *CorruptError) Error() string {
	msg := "wal: corrupt record"
	if e.File != "" {
		msg += " in " + e.File
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Key != "" {
		msg += fmt.Sprintf(" key %s", e.Key)
	}
	if e.Index != 0 {
		msg += fmt.Sprintf(" (index %d)", e.Index)
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports ErrCorrupt as a match, so errors.Is(err, ErrCorrupt) holds.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the upstream cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// OutOfRange returns an error wrapping ErrOutOfRange that names the bounds.
func OutOfRange(op string, index, first, last uint64) error {
	return fmt.Errorf("%w: %s %d not in [%d, %d]", ErrOutOfRange, op, index, first, last+1)
}
