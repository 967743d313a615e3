// Package bbolt is the WAL backend on go.etcd.io/bbolt, a single-file
// copy-on-write B+tree, registered as "bbolt".
//
// Import it (or backend/all) for its side effect and open it by name:
//
//	w, err := backend.Open(ctx, backend.Config{Backend: "bbolt", Dir: dir})
//
// The log is the file Dir/wal.db with one bucket, "wal". Each record is
// stored under the key 'r' + its big-endian index, wrapped in the shared
// envelope (CRC32C, index, length): bbolt checksums only its two meta pages,
// so a flipped bit in a data page would otherwise be returned as data.
// Package backend/internal/kv holds that layout, shared with the pebble
// backend. Any other entry in Dir but the close record fails Open with an
// error naming it (backend.CheckDir), and a wal.db bbolt did not write (empty,
// random bytes) is a *backend.CorruptError naming it: it is never
// initialised over.
//
// Each Append is one read-write transaction (db.Update); the shared group
// commit puts concurrent Appends in one. Pages are packed full (FillPercent
// 1), since keys only grow. Every transaction is committed synced, under
// SyncNone too: bbolt's NoSync writes a commit's pages and its meta page
// with no fsync between them, so a power loss can keep the meta page and
// lose the pages, leaving a file whose newest meta points at garbage and
// losing records an earlier Sync had made durable. bbolt has no cheaper
// commit that is safe, so under SyncNone it costs what it costs under
// SyncAlways, and Sync has nothing left to do.
//
// TruncateFront is one synced transaction, whatever the sync mode: it
// deletes the records below the new first index and stores that index under
// a meta key. The marker keeps indexes dense and never reused, across a
// truncation that empties the log and across reopen.
//
// # Params
//
//	no_freelist_sync   do not write bbolt's freelist at each commit (default
//	                   false): commits write a page less, and Open rebuilds
//	                   the freelist by scanning the whole file
//	initial_mmap_size  the initial size of bbolt's memory map (default 1GiB,
//	                   address space, not memory). bbolt remaps when the file
//	                   outgrows the map; a remap waits for Replay's read
//	                   transactions, and a failed one leaves bbolt unusable
//	                   (see # Errors), so a map the log never outgrows is
//	                   safer. With a map over 16MiB the file grows in 16MiB
//	                   steps, each a truncate and an fsync, so there are few.
//
// Fixed options: a 100 ms timeout on bbolt's own file lock (the WAL's
// directory lock already keeps other writers out; the timeout only stops a
// stray holder from blocking Open forever), NoGrowSync false (growing the
// file is fsync'd), and the map freelist, fast on a file with many free pages.
//
// An unknown key is an error naming it.
//
// # Errors
//
// A record or marker that fails its envelope, a malformed key, a gap in the
// indexes, a missing bucket, or a file holding fewer records than it was
// closed with is a *backend.CorruptError naming the database file, the key
// (hex) and the index; wrong bytes are never returned. A meta page that fails
// its checksum is a *backend.CorruptError with its offset, and bbolt's own
// ErrInvalid, ErrChecksum, ErrVersionMismatch and ErrInvalidMapping become a
// *backend.CorruptError with Err set. bbolt's ErrTimeout on its file lock is
// backend.ErrLocked. Other errors are wrapped as "bbolt: op file: ...", so
// errors.As still reaches bbolt's.
//
// bbolt reads its pages through a memory map and trusts them: a damaged
// branch or leaf page can make it panic or fault. Every bbolt call runs with
// the panic recovered and memory faults turned into panics
// (debug.SetPanicOnFault), and returns it as a *backend.CorruptError while
// reading, or as an error (fail-stop) while writing. bbolt also panics on
// some of its own I/O error paths (a failed remap unsets its meta pointers,
// and the rollback that follows dereferences them) with its writer lock
// held. So after any panic the WAL stops calling bbolt: every call returns
// the panic (kv.PanicError, through errors.As), and Close releases bbolt's
// flock and file instead of calling db.Close, which would wait forever.
//
// # Crash safety
//
// A new file is created atomically: bbolt initializes it (with fdatasync)
// under a temporary name, the bucket is created, then it is renamed into place
// and the directory fsync'd; bbolt alone does not fsync the directory. Under
// SyncAlways a commit writes the data pages, fdatasyncs, writes a meta page
// and fdatasyncs, so an acknowledged Append survives a power loss.
//
// bbolt opens a file with one bad meta page by falling back to the other,
// older one. When the bad page is the newer one, that drops the last commit,
// an acknowledged Append, in silence; a torn meta write (possible only on a
// device that does not write 4 KiB pages atomically) looks the same. So Open
// requires both meta pages to be valid and reports ErrCorrupt otherwise.
//
// A clean Close leaves a small close record (kv.CloseRecordFile) with the
// bounds; Open checks the file against it and removes it durably before the
// first write, so a log that came back shorter is reported.
//
// # Limitations
//
//   - Two fdatasyncs per commit (data pages, then the meta page): about twice
//     the latency of a single-file append log on the same disk.
//   - The file never shrinks. TruncateFront frees pages for later Appends to
//     reuse, but the file keeps its largest size. To reclaim the space,
//     compact it offline, with the WAL closed: `bbolt compact -o new.db
//     wal.db` (go.etcd.io/bbolt/cmd/bbolt), or bolt.Compact into a new file,
//     then rename the new file over wal.db.
//   - Freelist and branch pages carry no checksum. Damage to them is found
//     when it reaches a record (through the envelope and the index checks) or
//     by `bbolt check`, not at Open.
//   - SyncNone is no cheaper than SyncAlways (see above).
//   - After bbolt panicked, its memory map of the file stays until the
//     process exits.
//   - bbolt does its own I/O on the operating system's files: Config.FS is
//     used only for the directory, the creation rename and the close record,
//     so it must be the operating system's or a layer over it.
package bbolt
