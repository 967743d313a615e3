// Package pebble is the WAL backend on github.com/cockroachdb/pebble/v2, an
// LSM key-value store, registered as "pebble".
//
// Import it (or backend/all) for its side effect and open it by name:
//
//	w, err := backend.Open(ctx, backend.Config{Backend: "pebble", Dir: dir})
//
// Pebble's files live in Dir/pebble, apart from the WAL's lock file: Pebble
// takes a LOCK file of its own there. Any other entry in Dir but the close
// record and the created marker fails Open with an error naming it
// (backend.CheckDir), so a directory holding another backend's log never
// opens as an empty log. Dir/pebble.created is written, durably, once the
// first pebble.Open has returned: without it Dir/pebble is a create a crash
// interrupted, which nothing was acknowledged from, and is started over;
// with it, a Dir/pebble holding no store is refused. Each record is stored under the key
// 'r' + its big-endian index, wrapped in the shared envelope (CRC32C, index,
// length), because Pebble's own checksums cover blocks, not the record and
// the index it belongs at. Package backend/internal/kv holds that layout,
// shared with the bbolt backend. OpenWithOptions runs Pebble on another
// file system, for tests.
//
// Each Append is one Pebble batch committed with pebble.Sync: one fsync of
// Pebble's WAL covers the batch, and the shared group commit puts concurrent
// Appends in one batch. Under SyncNone batches are committed with
// pebble.NoSync; Sync commits an empty synced entry, which fsyncs Pebble's
// WAL and so everything before it, and Close does the same.
//
// TruncateFront is one synced batch: a DeleteRange of the records below the
// new first index and the first index itself, under a meta key. The marker
// keeps indexes dense and never reused, across a truncation that empties the
// log and across reopen.
//
// # Options chosen for an append-only log
//
//   - No compression: records live until the next checkpoint truncates them,
//     the store stays small, and on a small machine compaction's CPU is
//     better left to the broker.
//   - No bloom filters (Pebble's default, kept on purpose): reads are range
//     scans at replay, never point lookups.
//   - L0StopWritesThreshold 64 and MemTableStopWritesThreshold 4: the keys only
//     grow, so flushed tables never overlap and are cheap to keep in L0; a
//     commit should stall on compaction only when it is far behind.
//   - A 2 MiB block cache: records are read once, at replay.
//   - Pebble's log goes to Config.Logger: Infof (flushes, compactions) at
//     Debug, Errorf at Error. Fatalf panics instead of exiting; see # Errors.
//   - FormatNewest for new stores.
//
// # Params
//
//	memtable_size       Pebble's memtable, 1MiB to 4GiB-1 (default 4MiB): more
//	                    memory, fewer flushes
//	bytes_per_sync      sstable writes are synced in the background every so
//	                    many bytes, to smooth I/O (default 512KiB)
//	wal_bytes_per_sync  under SyncNone, Pebble's WAL is synced in the
//	                    background every so many bytes (default 0: only by
//	                    Sync and Close)
//
// An unknown key is an error naming it.
//
// # Errors
//
// A record or marker that fails its envelope, a malformed key, a gap in the
// indexes, or a store holding fewer records than it was closed with is a
// *backend.CorruptError naming the Pebble directory, the key (hex) and the
// index; wrong bytes are never returned. Pebble's own corruption errors
// (pebble.IsCorruptionError) become a *backend.CorruptError with Err set to
// Pebble's error, and so does a damaged OPTIONS file, which Pebble would
// report as a mismatch. Pebble's LOCK held by another process is
// backend.ErrLocked. Other errors are wrapped as "pebble: op dir: ...",
// so errors.As still reaches Pebble's.
//
// pebble.Open flushes the WAL it replays before it returns and retries a
// failed flush without end, so on a failing disk it would never return. Open
// therefore fails on the first background error Pebble reports while it
// opens (and when ctx is done), leaving that pebble.Open to finish, or not,
// in the background; its DB is closed if it does. Corruption found by
// Pebble's background reads while it opens also fails the Open, but only
// once pebble.Open has returned and its DB is closed, since reads never
// stall it: the failed Open leaves no lock behind.
//
// Pebble calls its logger's Fatalf when it cannot go on, for example when a
// write or fsync of its WAL fails. Fatalf panics with a *FatalError; a panic
// inside a Pebble call is recovered and returned as an error (a
// *backend.CorruptError while reading), so the WAL fails stop.
//
// # Crash safety
//
// An Append acknowledged under SyncAlways is in Pebble's fsync'd WAL; Pebble
// replays it at Open. Directories the backend creates are fsync'd into their
// parents. A clean Close leaves a small close record (kv.CloseRecordFile)
// with the bounds; Open checks the store against it and removes it durably
// before the first write. This matters because Pebble reads its last WAL
// file only up to the first bad chunk: it cannot tell a flipped bit in that
// 32 KiB block from a torn write, and would give back a shorter log.
//
// # Limitations
//
//   - After a crash (no close record), damage in the last 32 KiB block of
//     Pebble's last WAL file is taken for a torn tail: Pebble drops the log
//     from that point, without a copy, and the loss is not reported.
//   - Write amplification: each record is written to Pebble's WAL, then to
//     an L0 table at flush, then again at each compaction; truncated records
//     leave range tombstones until compaction drops them, so disk space comes
//     back later than TruncateFront returns.
//   - Pebble runs background goroutines (flushes, compactions, WAL
//     rotation). A fatal error on one of them (say, a failed MANIFEST fsync
//     during a flush) panics that goroutine and ends the process, where
//     Pebble's default logger would have exited it.
//   - An Open abandoned on a background error keeps Pebble's lock, and its
//     goroutines keep retrying the flush, until the disk recovers or the
//     process exits: a caller should exit on that error, not retry in-process.
//   - Under SyncNone, Pebble writes its WAL from a background goroutine, so a
//     killed process can lose the last few Appends, not only a power loss.
//   - Config.FS is not used: Pebble does its own I/O (see OpenWithOptions).
package pebble
