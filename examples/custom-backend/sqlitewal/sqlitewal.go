package sqlitewal

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Name is the name the backend is registered under.
const Name = "sqlite"

// FileName is the database file in the WAL directory.
const FileName = "wal.sqlite"

// Params; see the package documentation.
const (
	ParamBusyTimeout       = "busy_timeout"
	ParamCacheSize         = "cache_size"
	ParamWALAutocheckpoint = "wal_autocheckpoint"
)

// Defaults of the params.
const (
	defaultBusyTimeout       = 100 * time.Millisecond
	defaultCacheSize         = 2 << 20 // SQLite's own default, 2000 KiB, rounded
	defaultWALAutocheckpoint = 1000    // pages, SQLite's own default
)

// schema is the whole database: the records, each in the shared envelope
// under its index (idx, because INDEX is an SQL keyword), and one row of
// bounds. STRICT makes SQLite refuse anything but an integer index and a
// BLOB record.
const schema = `
CREATE TABLE records (idx INTEGER PRIMARY KEY, record BLOB NOT NULL) STRICT;
CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), first INTEGER NOT NULL, next INTEGER NOT NULL) STRICT;
INSERT INTO meta (id, first, next) VALUES (1, 1, 1);
`

func init() {
	backend.Register(Name, backend.DriverFunc(Open))
}

// settings are the params, read and checked.
type settings struct {
	busyTimeout       time.Duration
	cacheSize         int64 // bytes
	walAutocheckpoint int64 // pages
}

func parseParams(cfg backend.Config) (settings, error) {
	p := backend.NewParams(cfg)
	s := settings{
		busyTimeout:       p.Duration(ParamBusyTimeout, defaultBusyTimeout),
		cacheSize:         p.Int64(ParamCacheSize, defaultCacheSize),
		walAutocheckpoint: p.Int64(ParamWALAutocheckpoint, defaultWALAutocheckpoint),
	}
	return s, p.Err()
}

// pragmas returns the pragmas every connection runs first, in this order:
// busy_timeout, since the others may meet another process's lock;
// locking_mode EXCLUSIVE before anything reads the file, or SQLite would map
// a -shm file for its WAL index; journal_mode WAL when the file is new (the
// mode is stored in the file, and load checks it); then synchronous, FULL
// under SyncAlways and NORMAL under SyncNone (# Crash safety in the package
// documentation says why not NORMAL and OFF), and the params.
func pragmas(mode backend.SyncMode, s settings, newFile bool) []string {
	sync := "FULL"
	if mode == backend.SyncNone {
		sync = "NORMAL"
	}
	p := []string{
		fmt.Sprintf("busy_timeout = %d", s.busyTimeout.Milliseconds()),
		"locking_mode = EXCLUSIVE",
	}
	if newFile {
		p = append(p, "journal_mode = WAL")
	}
	return append(p,
		"synchronous = "+sync,
		fmt.Sprintf("cache_size = %d", -max(1, s.cacheSize>>10)), // negative: KiB
		fmt.Sprintf("wal_autocheckpoint = %d", s.walAutocheckpoint),
	)
}

// openDB returns a pool of one connection to the database at path, each
// connection set up with pragmas in order. The driver's own _pragma DSN
// parameter sorts its pragmas by name, which would run cache_size (a read
// of the file) before locking_mode.
func openDB(path string, pragmas []string) (*sql.DB, error) {
	base, err := sqlite.NewConnector((&url.URL{Scheme: "file", Path: path}).String())
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector{Connector: base, pragmas: pragmas})
	// One connection: with locking_mode EXCLUSIVE a second could not read
	// the file anyway, and the pool then serializes Replay's queries with
	// the writes instead of interleaving them inside a transaction.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// connector runs its pragmas on every connection it opens.
type connector struct {
	driver.Connector
	pragmas []string
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	exec, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("sqlitewal: the sqlite driver's connection does not implement driver.ExecerContext")
	}
	for _, p := range c.pragmas {
		if _, err := exec.ExecContext(ctx, "PRAGMA "+p, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("PRAGMA %s: %w", p, err)
		}
	}
	return conn, nil
}

// Open opens the SQLite WAL in cfg.Dir, creating it if missing. backend.Open
// calls it through the registry and wraps it in the shared machinery (the
// directory lock, group commit, fail-stop, index checks); call backend.Open
// rather than this.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	s, err := parseParams(cfg)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("sqlitewal: open %s: %w", cfg.Dir, err)
	}
	// Another backend's log, or anything else this backend did not write,
	// is refused before anything is created: it would otherwise open as a
	// new, empty log.
	if err := backend.CheckDir(vfs.Default, dir, owned); err != nil {
		return nil, fmt.Errorf("sqlitewal: open %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fileMode, _ := cfg.Modes()
		if err := create(ctx, dir, path, s, fileMode); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("sqlitewal: stat %s: %w", path, err)
	}

	db, err := openDB(path, pragmas(cfg.Sync, s, false))
	if err != nil {
		return nil, fmt.Errorf("sqlitewal: open %s: %w", path, err)
	}
	w := &wal{db: db, path: path, sync: cfg.Sync}
	if err := w.load(ctx); err != nil {
		db.Close()
		return nil, err
	}
	w.insert, err = db.PrepareContext(ctx, "INSERT INTO records (idx, record) VALUES (?, ?)")
	if err != nil {
		db.Close()
		return nil, mapError("open", path, err)
	}
	return w, nil
}

// create makes a new database atomically: SQLite writes the schema into a
// temporary file and, closing it, checkpoints its WAL into the file and
// fsyncs it; the file is then renamed into place and the directory fsync'd,
// which SQLite never does for a database file. A crash before the rename
// leaves only the temporary files, which the next create removes. The file
// is created empty with mode first: SQLite would create it 0644, and it
// gives its -wal and -journal files the database file's mode.
func create(ctx context.Context, dir, path string, s settings, mode os.FileMode) error {
	if err := checkNoStaleWAL(path); err != nil {
		return err
	}
	tmp := path + ".tmp"
	for _, name := range []string{tmp, tmp + "-wal", tmp + "-journal", tmp + "-shm"} {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlitewal: remove %s: %w", name, err)
		}
	}
	f, err := os.OpenFile(tmp, os.O_RDONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("sqlitewal: create %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlitewal: create %s: %w", tmp, err)
	}
	db, err := openDB(tmp, pragmas(backend.SyncAlways, s, true))
	if err != nil {
		return fmt.Errorf("sqlitewal: create %s: %w", tmp, err)
	}
	_, err = db.ExecContext(ctx, schema)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return mapError("create", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sqlitewal: rename %s: %w", tmp, err)
	}
	if err := vfs.Default.SyncDir(dir); err != nil {
		return fmt.Errorf("sqlitewal: sync %s: %w", dir, err)
	}
	return nil
}

// companions are the files SQLite keeps beside a database file.
var companions = []string{"-wal", "-journal", "-shm"}

// owned reports whether name is a file this backend writes in the WAL
// directory: the database, its companions, and what an interrupted create
// leaves (the temporary database and its companions).
func owned(name string) bool {
	for _, base := range []string{FileName, FileName + ".tmp"} {
		if name == base {
			return true
		}
		for _, c := range companions {
			if name == base+c {
				return true
			}
		}
	}
	return false
}

// checkNoStaleWAL refuses to create a database beside a -wal or -journal
// file left without its database: SQLite would take its pages for the new
// database's.
func checkNoStaleWAL(path string) error {
	for _, c := range companions[:2] {
		if _, err := os.Stat(path + c); err == nil {
			return fmt.Errorf("sqlitewal: open %s: %s%s exists without its database: %w", filepath.Dir(path), FileName, c, backend.ErrForeignFile)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlitewal: stat %s%s: %w", path, c, err)
		}
	}
	return nil
}

// mapError maps an SQLite error to the backend's, keeping it reachable with
// errors.As (*sqlite.Error). The driver does not expose the errno behind an
// I/O error (sqlite3_system_errno), so the result code stands for it:
// SQLite returns SQLITE_FULL for a write that hit ENOSPC and the
// SQLITE_IOERR family for a failed read, write or fsync, reported here as
// EIO.
func mapError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var ce *backend.CorruptError
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("sqlitewal: %s %s: %w", op, path, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return &backend.CorruptError{File: path, Offset: -1, Reason: "sqlite rejects the file during " + op, Err: err}
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("sqlitewal: %s %s: %w: %w", op, path, syscall.ENOSPC, err)
	case sqlite3.SQLITE_IOERR:
		return fmt.Errorf("sqlitewal: %s %s: %w: %w", op, path, syscall.EIO, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("sqlitewal: %s %s: %w: %w", op, path, backend.ErrLocked, err)
	}
	return fmt.Errorf("sqlitewal: %s %s: %w", op, path, err)
}
