// Package sqlitewal is a WAL backend on SQLite (modernc.org/sqlite, pure Go),
// registered as "sqlite": a complete custom backend written as a user of the
// framework would write one, against the public API of package backend
// alone. docs/custom-backend.md walks through it.
//
// Import it for its side effect and open it by name:
//
//	import _ "github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"
//
//	w, err := backend.Open(ctx, backend.Config{Backend: "sqlite", Dir: dir})
//
// The log is the database Dir/wal.sqlite, in SQLite's WAL journal mode, with
// two STRICT tables:
//
//	records (idx INTEGER PRIMARY KEY, record BLOB NOT NULL)
//	meta    (id INTEGER PRIMARY KEY CHECK (id = 1), first INTEGER NOT NULL, next INTEGER NOT NULL)
//
// Each record is stored under its index wrapped in the shared envelope
// (backend.AppendEnvelope: CRC32C, index, length), since SQLite checksums
// nothing in the database file. The one meta row holds the first index and
// the next one, so indexes are never reused, also after TruncateFront
// empties the log and the WAL is reopened.
//
// Each Append is one transaction: the records' INSERTs and the move of next
// (the shared group commit puts concurrent Appends in one). TruncateFront is
// one transaction too: a DELETE of the records below the new first index and
// the move of first. Replay reads in chunks of up to 1024 records or 4 MiB,
// one read transaction each, and calls its callback between them, holding no
// connection, so a slow callback never delays an Append.
//
// The connection runs with locking_mode EXCLUSIVE, set before anything reads
// the file: SQLite keeps its WAL index in heap memory instead of a
// memory-mapped -shm file, and holds the file's lock until Close. The
// directory lock already allows one writer, so nothing is lost.
//
// # Params
//
//	busy_timeout        how long Open waits for a lock that another process
//	                    (an sqlite3 shell) holds on the database before it
//	                    fails with backend.ErrLocked (default 100ms)
//	cache_size          SQLite's page cache, such as 8MiB (default 2MiB)
//	wal_autocheckpoint  SQLite copies its WAL file into the database file
//	                    once the WAL holds this many pages (default 1000;
//	                    0: only at Sync under SyncNone and at Close)
//
// An unknown key, or a malformed value, is an error naming it.
//
// # Errors
//
// A record that fails its envelope, a gap in the indexes, a meta row that
// does not match the records at either end of the log, or a database SQLite
// reports as damaged (SQLITE_CORRUPT, SQLITE_NOTADB) is a
// *backend.CorruptError naming the database file and the row, such as
// "records.idx=3" or "meta.id=1", and the index; wrong bytes are never
// returned. Open checks the meta row and the records at both ends; Replay
// checks every record it reads. A file in the directory this backend did not
// write fails Open with backend.ErrForeignFile naming it, and so does a
// -wal or -journal file left without its database.
//
// SQLite's result codes stand for the errno the driver does not expose:
// SQLITE_FULL (a write that hit ENOSPC) satisfies errors.Is(err,
// syscall.ENOSPC), the SQLITE_IOERR family (a failed read, write or fsync)
// errors.Is(err, syscall.EIO), and SQLITE_BUSY backend.ErrLocked. SQLite's
// *sqlite.Error stays reachable with errors.As.
//
// # Crash safety
//
// Under SyncAlways the connection runs with synchronous FULL: in WAL mode
// each commit fsyncs SQLite's WAL file before it returns, so an acknowledged
// Append survives kill -9 and power loss. NORMAL would not do: in WAL mode it
// fsyncs only at checkpoints, and a power loss takes the last commits with
// it.
//
// Under SyncNone it runs with synchronous NORMAL, not OFF: commits are
// written to the WAL file without fsync (they survive kill -9, not a power
// loss), but every checkpoint fsyncs the WAL file before copying it into the
// database file and the database file before the WAL file is reused. With
// OFF a checkpoint could leave database pages half written while the WAL is
// already being overwritten, so a power loss could corrupt records an earlier
// Sync had made durable; and a later PRAGMA wal_checkpoint that finds the WAL
// already copied fsyncs nothing, so Sync could not make those records durable
// at all. Sync runs PRAGMA wal_checkpoint(FULL): under NORMAL it fsyncs the
// WAL file, copies it into the database file and fsyncs that. Close runs Sync
// before closing SQLite, because SQLite's own checkpoint at close ignores its
// errors. TruncateFront commits with synchronous FULL in either mode, so it is
// durable when it returns, and its fsync of the WAL file covers every earlier
// commit.
//
// A new database is created atomically: SQLite writes the schema into
// wal.sqlite.tmp and, closing it, checkpoints and fsyncs it; the file is then
// renamed to wal.sqlite and the directory fsync'd, so the name is durable
// before Open returns. SQLite fsyncs the directory after creating a -wal
// file, but never after creating the database file. An interrupted create
// leaves only wal.sqlite.tmp files, which the next Open removes.
//
// A transaction torn by a crash is never acknowledged; SQLite's recovery
// drops it at Open by the WAL file's frame checksums.
//
// # Limitations
//
//   - SQLite recovers a torn WAL file by itself: it keeps no .broken copy and
//     logs nothing. It also cannot tell a torn tail from a flipped bit in the
//     WAL file of a log that crashed: either drops that commit and every later
//     one. After a clean Close the WAL file is gone, and every record is in
//     the database file under its envelope.
//   - Open refuses a damaged log without writing to it, but closing SQLite
//     then checkpoints a WAL file left by a crash into the database file:
//     the same records moved, not changed. Nothing else is written.
//   - The database file does not shrink: TruncateFront frees pages for later
//     Appends. To reclaim the space, run VACUUM on it with the WAL closed.
//   - Replay costs more per record than the key-value backends' (an SQL
//     row scanned, checked and copied); docs/custom-backend.md has figures.
//   - SQLite does its own I/O on the operating system's files, and so does
//     this package: Config.FS is not used, and the conformance cases that
//     need every operation to pass through a vfs.FS skip.
package sqlitewal
