// Package backend defines the write-ahead log contract every Nautilus WAL
// backend implements, the registry that selects one by name, and the shared
// machinery that wraps every driver once.
//
// The broker, walbench and the operator tools use only this package: they call
// Open with a Config naming a registered backend. A backend package registers
// a Driver from init (import it, or backend/all, for its side effect):
//
//	import _ "github.com/nautilus-go/nautilus/backend/all"
//
//	w, err := backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir})
//	last, err := w.Append(ctx, record)
//
// # Promises
//
// Every WAL returned by Open keeps the rules of docs/design.md: indexes start at 1,
// are dense and never reused; with SyncAlways an acknowledged Append survives
// kill -9 and power loss; every record is checksummed (CRC32C) with its index;
// a torn tail is repaired and anything else is ErrCorrupt; after a write or
// fsync error the WAL is fail-stop; one writer per directory; all methods are
// safe for concurrent use.
//
// # Shared machinery
//
// Open wraps the driver's WAL so that each driver holds only what is
// particular to its storage:
//   - an exclusive lock on Dir/wal.lock (a second Open fails fast with ErrLocked);
//   - Dir is created if missing, 0700, and its parent fsync'd; Open warns
//     (Config.Logger) when an existing Dir is open to group or others who
//     can reach it;
//   - group commit: concurrent Appends are coalesced into one driver Append and
//     so share one fsync; a lone writer waits for nothing;
//   - fail-stop: the first error from a driver's Append, Sync or TruncateFront
//     is returned by every later write until the WAL is closed and reopened;
//   - a ctx already done is refused before anything changes;
//   - index arguments are checked against the bounds, so a driver sees only
//     valid ones; Close is idempotent and later calls get ErrClosed.
//
// For drivers, the envelope (AppendEnvelope, AppendEnvelopeClaim,
// DecodeEnvelope, DecodeEnvelopeClaim), Checksum, Params, rule 4 (Damage,
// ResolveDamage, RepairTail) and package vfs are the shared building blocks.
// A segment-file driver that stamps each record with the index through which
// its log was fsync'd when the record was written, and reports each valid
// record after damage with Damage.Observe, gets torn writes within a
// multi-page write told from corruption of durable records.
//
// # Encryption
//
// With Config.Encryption set, Open seals every record before the driver sees
// it, so no driver holds plaintext: XChaCha20-Poly1305 under the active key,
// a fresh random 24-byte nonce per record, and the record's index (with the
// header naming the key) as associated data, so a record moved to another
// index fails to open. Every key in Encryption.Keys opens; LoadKeys reads
// them from files or env vars. A record under a key not configured, or under
// a different secret, is ErrKey (*KeyError naming the key id); an altered or
// moved one is ErrCorrupt; a record written without encryption is refused as
// corrupt unless Encryption.ReadPlaintext. The format is in encrypt.go and
// docs/design.md.
//
// # Operator tools
//
// A driver may offer the operator tools (package waltool, `nautilus wal`)
// two optional extras, on its Driver or registered by name: an Inspector
// checks a directory without changing it, and a Salvager cuts a log at its
// first corrupt record, keeping a copy of what it changes (KeepCopy, CutFile,
// MoveAside, SalvageFiles for logs of segment files). Inspect and Salvage
// call them holding the directory's lock (LockDir). Open itself never cuts
// at corruption.
//
// # Writing a driver
//
// A driver's WAL is called by the wrapper one write at a time (Append, Sync,
// TruncateFront never overlap); Replay and Bounds may run concurrently with
// writes and with each other. Its Append must return old last + len(data),
// copy what it keeps, and be durable on return under SyncAlways. Its Close
// must make appended records durable. It must report damage as *CorruptError
// and never return wrong bytes. It must ignore LockFileName in Dir and refuse,
// before creating anything, an entry it did not write (CheckDir): a directory
// holding another backend's log must not open as an empty log.
//
// # File modes
//
// A log holds whatever its records say, so every file the framework or a
// driver creates is 0600 and every directory 0700 (vfs.FileMode,
// vfs.DirMode); Config.FileMode and Config.DirMode widen them on purpose,
// say to 0640 and 0750 for a backup group, and never narrow the owner's
// bits. The lock file stays 0600. A driver creating files through
// cfg.FileSystem() gets the modes with nothing to do; one whose library
// does its own I/O passes cfg.Modes() to it, or creates the file with that
// mode before the library opens it, as SQLite and Pebble need. The process
// umask can only narrow these modes further. The conformance case
// private_files checks every driver.
//
// # Params
//
// Shared params, read by Open before the driver sees the rest:
//
//	group_commit_max_delay  how long a group-commit leader waits for more
//	                        writers before its fsync (default 0)
//	slow_fsync_threshold    a durable Append or Sync slower than this logs a
//	                        warning (default 1s; 0 turns it off)
//
// An unknown key, shared or the driver's, is an error naming it.
//
// # Errors
//
// ErrClosed, ErrCorrupt (with *CorruptError naming file, offset, key, index),
// ErrOutOfRange and ErrLocked are the contract's sentinels; test with
// errors.Is. ErrKey (with *KeyError naming the key id) is a missing or wrong
// encryption key. ErrForeignFile is wrapped by the *fs.PathError naming a file in
// Dir that the driver did not write.
// Upstream errors are wrapped, so errors.As still reaches them; an I/O error
// such as ENOSPC satisfies errors.Is(err, syscall.ENOSPC).
//
// # Crash safety
//
// The framework's own files (the lock, marker files written with
// vfs.WriteFileAtomic) are fsync'd along with their directory. What a
// backend's data files promise is stated in its package documentation.
package backend
