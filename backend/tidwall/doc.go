// Package tidwall is the backend over github.com/tidwall/wal, registered as
// "tidwall". Users select it with Config.Backend "tidwall" after importing it
// (or backend/all) for its side effect; backend.Open wraps it in the shared
// machinery (lock, group commit, fail-stop, bounds checks).
//
// It promises the contract of package backend and closes the library's gaps:
// every record is checksummed, a torn tail is repaired instead of failing
// Open, segment creation and removal are made durable with a directory fsync,
// and the log can be emptied without reusing indexes.
//
// # Layout
//
// The library owns Config.Dir/segments (SegmentsDir), so the framework's
// lock in Config.Dir is never taken for a segment. Any other entry in
// Config.Dir, or a name in SegmentsDir that neither the library nor the
// adapter writes (a non-numeric segment name, a subdirectory), fails Open with
// an *fs.PathError naming it (errors.Is backend.ErrForeignFile), before
// anything is created: the library would skip it, and a directory holding
// another backend's log would open as an empty log.
//
// Segments are named after their first index (20 digits) and hold the
// library's binary entries, a uvarint length and that many bytes, each
// wrapping one record in the shared envelope's claiming form
// (backend.AppendEnvelopeClaim: CRC32C, index, length, and the index through
// which the log was fsync'd when the record was written). Logs written with
// the plain envelope, before records carried claims, open unchanged.
//
// The binary format is used, not the library's JSON one: the envelope is
// binary, so JSON would store it base64-encoded (a third larger and no longer
// readable), and JSON's own index field is not checked by the library anyway.
// The jsonl backend is the human-readable choice.
//
// TruncateFront(last+1) uses the library's AllowEmpty option: the log becomes
// one empty segment named last+1, so after a reopen Bounds is (last+1, last)
// and the next Append gets last+1. No separate marker file is needed.
//
// # Params
//
//	segment_size        bytes after which the library starts a new segment
//	                    (default 20MiB, the library's; 1 byte to 1GiB)
//	segment_cache_size  older segments kept in memory for Replay (default 2)
//
// Any other key is an error naming it.
//
// # Errors
//
// Damage is a *backend.CorruptError (errors.Is(err, backend.ErrCorrupt))
// naming the segment file, the byte offset of the bad record and its index.
// The library's ErrCorrupt maps to a *backend.CorruptError whose Err is the
// library's error; its ErrNotFound and ErrOutOfRange map to
// backend.ErrOutOfRange, its ErrClosed to backend.ErrClosed, all still
// reachable with errors.Is. I/O errors (EFBIG, ENOSPC, EIO) are wrapped with
// the operation and file.
//
// # Crash safety
//
// Before the library opens the log, Open reads the last segment whole and
// checks every record's framing, checksum and index. A bad record in it that
// no valid record after it claims durable (a torn write, a zero-filled or
// garbage tail, or a page of a multi-page write lost before pages that
// reached the disk) is a torn tail: the segment is copied to
// <segment>.broken, cut back to its last good record and fsync'd, a warning
// is logged and Observer.TailRepaired is told (backend.Damage,
// backend.ResolveDamage). Anything else in it (a bad record that a later
// record claims durable or that is followed by a plain envelope, which claims
// nothing) fails Open with ErrCorrupt and leaves every file unchanged.
//
// Only the last segment can hold a torn write: the library fsyncs a segment
// before it starts the next. A sealed segment is checked at its ends only: it
// must begin with a valid record of the index its name gives and end, at the
// end of the file, with a valid record of the index before the next
// segment's. That refuses, with ErrCorrupt and nothing changed, an index gap
// (a deleted middle segment), an overlong or shortened segment, a misnamed
// one and bytes appended to one; the segment is then read whole to name the
// damage. A bad record between the ends of a sealed segment is damage, not a
// torn tail, and nothing at Open could repair it: Replay finds it, as it
// finds damage that appears after Open, and so do the operator tools
// (waltool verify replays every record; salvage reads every segment whole).
// Open fsyncs the last segment before new records claim what it holds
// durable: a crashed process may have left it in the page cache only. Replay
// checks every record again and never returns bytes whose checksum or index
// is wrong.
//
// With SyncAlways the library fsyncs the segment after each write batch (one
// per Append); it calls (*os.File).Sync, which is fsync(2), not fdatasync.
// When an Append starts a new segment, the directory is fsync'd before the
// Append returns (the adapter follows the library's rotation rule to know).
// With SyncNone the library does not fsync on Append; Sync and Close fsync
// the last segment and, if a segment was created, the directory. The library
// fsyncs a segment before starting the next, in both modes. TruncateFront
// fsyncs the directory before it returns, in both modes.
//
// After a failed write the library's memory no longer matches its files (it
// may count a half-written record, or drop the last segment from its cache).
// The shared wrapper stops all writes; Replay stops at the last acknowledged
// index, and a read the library then gets wrong is reported as a consequence
// of the write error (wrapping it), not as corruption. Reopening loads a
// consistent log from the files, repairing a half-written record as a torn
// tail.
//
// # Limitations
//
// The library reads and writes segments through package os, not Config.FS;
// the adapter's own reads, repairs and directory fsyncs use Config.FS, which
// must therefore be a layer over the operating system's files (a
// fault-injecting one, say), not an in-memory one. Open refuses a Config.FS
// whose files the operating system does not see. Faults injected through
// Config.FS reach only the adapter's own I/O.
//
// The library's TruncateFront writes a new first segment, removes the old
// ones and renames the new one without a directory fsync in between; the
// adapter fsyncs the directory after it. A power loss part way through is
// recovered by the library at the next Open as long as the file system keeps
// directory operations in order (ext4, xfs and btrfs do).
//
// Open reads the last segment whole and both ends of every other one, so its
// time grows with the segment size and, slowly, with the number of segments.
// The library holds the last segment in memory
// whole, plus segment_cache_size older ones while replaying.
//
// The library's Read fills its segment cache under a shared lock, so two
// concurrent Reads race; the adapter serializes them, and concurrent Replays
// take turns record by record.
//
// The library's Close returns at a failing fsync without closing its file;
// the adapter then closes the file itself, through the library's unexported
// field (the module version is pinned and a test checks the field). If the
// library's Open fails after it opened the last segment (a read error in it),
// that descriptor stays open until the garbage collector closes it.
//
// A deleted first or last segment cannot be told from a truncated or shorter
// log: no segment records what came before or after it.
package tidwall
