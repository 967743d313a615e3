// Package jsonl is the write-ahead log stored as segments of JSON lines, the
// design's own format and the broker's default WAL. It registers itself as
// "jsonl"; the broker, walbench and the operator tools open it through
// backend.Open:
//
//	import _ "github.com/nautilus-go/nautilus/backend/jsonl"
//
//	w, err := backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir})
//
// Every record is one line, readable with jq. A payload that is valid JSON
// (and UTF-8, with no newline) is embedded verbatim under "d"; any other
// payload is base64 under "b":
//
//	{"i":1,"s":0,"c":"d4554308","d":{"op":"assert","session":"s1"}}
//	{"i":2,"s":1,"c":"7424183c","b":"AAECAw=="}
//
// "i" is the index; "s" the durability claim, the index through which the
// log was fsync'd when the line was written (below "i"); "c" the CRC32C
// (backend.Checksum) of the index and the claim, each as 8 big-endian bytes,
// followed by the exact payload bytes, so the payload read back is byte for
// byte the one appended. The keys always come in this order, which lets the
// reader decode a line without reflection. Zero bytes, index 0 and a line
// without its newline never decode as a record. Lines written before claims
// existed have no "s" and a CRC32C of the index and payload only:
//
//	{"i":1,"c":"0ac3b4d1","d":{"op":"assert","session":"s1"}}
//
// They still decode and claim nothing (backend.NoClaim), so old logs open
// and are judged by the rule that held when they were written.
//
// AppendLine, DecodeLine and ScanSegment are the format's codec and checker,
// for fuzz tests and tools; Inspect checks a whole directory as Open does
// without changing it, for a verify tool (Open itself is the repair).
//
// # Files
//
// A directory holds:
//
//	00000000000000000001.jsonl   segments, named by their first index (SegmentName)
//	first-index.json[.tmp]       the marker: the log's first index, once truncated
//	<segment>.broken[.N]         a copy of a segment kept before a torn tail was cut
//	wal.lock                     the shared layer's lock (backend.LockFileName)
//
// The marker holds the first index and a CRC32C of it:
//
//	{"first_index":5,"crc":"b9d9a696"}
//
// Any other file is refused at Open with an error naming it, so a directory
// shared with another backend or a stray file that looks like a segment is
// never silently ignored.
//
// A segment is preallocated when it is created (param preallocate): its
// segment_bytes are allocated with fallocate where the file system has it,
// or its size extended otherwise, and fsync'd, so later writes change no file
// size and an fdatasync has no metadata to write. Zero bytes that run from
// the last record to the end of a segment are the end of the log, whether
// the segment was preallocated or not; Open appends after the last record.
//
// Each Append encodes its whole batch into one buffer and writes it (under
// SyncAlways at once, under SyncNone with the Appends before it; see Crash
// safety) with one write call to the last segment. A new segment is started when a batch would
// take the current one past segment_bytes (a batch never spans segments, so a
// segment may exceed segment_bytes by one batch). TruncateFront deletes whole
// segments entirely below its argument and records the new first index in the
// marker; records below it in the first remaining segment stay on disk but are
// never replayed. Indexes are never reused: after the whole log is truncated
// the marker still holds the next index, also across reopen.
//
// # Params
//
//	segment_bytes   size at which a new segment is started (default 64MiB;
//	                suffixes KiB, MiB, GiB; at least 1)
//	preallocate     allocate each segment's segment_bytes when it is
//	                created (default true)
//	write_buffer    bytes of SyncNone Appends held in memory before one
//	                write (default 0: every Append is written before it
//	                returns; at most 1MiB; see Crash safety)
//
// Any other key is an error naming it.
//
// # Errors
//
// Damage is a *backend.CorruptError (errors.Is(err, backend.ErrCorrupt))
// naming the file, the byte offset and, when known, the index: a checksum
// mismatch, a malformed line, an index gap or repeat within or between
// segments, a missing first or middle segment, or a torn record anywhere but at
// the end of the last segment. Replay checks every record again and reports
// damage the same way; it never returns wrong bytes. A Replay overtaken by a
// concurrent TruncateFront (the segment it was about to read is gone) returns
// backend.ErrOutOfRange. An unexpected file in the directory, or a malformed
// segment name such as x.jsonl, is an *fs.PathError naming it, wrapping
// backend.ErrForeignFile. I/O errors are wrapped with the file and offset, so
// errors.Is still finds their cause (syscall.ENOSPC, say).
//
// # Cost
//
// The hot path is kept to what the format needs. Deciding whether a payload
// is embedded is one pass with no allocation (embeddable), exactly as strict
// as encoding/json.Valid with utf8.Valid, which it replaces at a quarter
// to a half of the cost. A lone writer's Append takes the shared layer's
// group commit without a request or a channel. Under SyncNone an Append
// costs one write call besides the encoding, the embed check and the
// CRC32C; with write_buffer set it makes no system call until the buffer
// is full (see Crash safety). Replay reads 1MiB at a time into a pooled
// buffer and decodes each line in place: an embedded payload is a slice of
// the buffer (valid during the callback only), a base64 one is decoded into
// a reused scratch buffer, so a replay allocates per segment, not per record.
//
// # Crash safety
//
// All I/O goes through Config.FS (package vfs), so fault-injecting and
// power-loss-simulating file systems can sit underneath.
//
// With SyncAlways, Append writes the batch and fdatasyncs the segment before
// it returns; a new segment's directory entry is fsync'd before the first
// record in it is acknowledged. An acknowledged record survives kill -9 and
// power loss.
//
// With SyncNone, an acknowledged record is durable only after a later Sync or
// Close (backend's contract for that mode). By default each Append writes
// its batch before it returns, so an acknowledged record is in the page
// cache and survives kill -9, as the contract says, but not a power loss.
//
// write_buffer trades the kill -9 promise for fewer system calls: Appends
// are encoded into a buffer in memory, written with one write call when it
// outgrows write_buffer, by Sync, Close and TruncateFront (which also
// fdatasync), when a new segment is started (the segment left behind is
// written and fsync'd first), and by Replay before it reads. With 64KiB that
// is one write per ~250 records of 200 bytes, most of what makes a SyncNone
// Append cost well under a microsecond. The price: kill -9 loses the records
// still in the buffer, up to write_buffer bytes of the newest acknowledged
// records. Either way what a crash loses is a suffix of records not covered
// by Sync or Close, and Open finds the log ending cleanly at the last record
// written, or at a torn tail it repairs.
//
// A fresh WAL needs no setup file: an empty directory is an empty log, and the
// first Append creates segment 1 and fsyncs the directory, so a crash at any
// point leaves either no segment or one that holds only what was written.
//
// TruncateFront first fsyncs pending appends, then replaces the marker
// atomically (temporary file, fsync, rename, directory fsync), then deletes
// segments and fsyncs the directory. A crash before the rename leaves the old
// log; after it, the new first index holds and Open deletes the segments
// left entirely below it.
//
// At Open every segment is scanned. A bad or short record in the last
// segment that no valid record after it claims durable is a torn write: the
// segment is copied to <segment>.broken (fsync'd), cut to its last valid
// record and fsync'd, the repair is logged (slog warning naming the file,
// offset and dropped bytes) and reported to Config.Observer, and Open goes on.
// A power loss may leave a hole of lost pages before pages of the same
// unsynced write that did reach the disk; the records there claim only what
// was fsync'd before them, so the hole is a torn write too. Anything else
// (a later record claiming the damage durable, or one of the old format,
// which claims nothing; damage in a segment that is not the last, since a
// segment is fsync'd before the next is created) is corruption and Open
// refuses, leaving every file as it was. Open then fsyncs the last segment,
// because a crashed process may have left records in the page cache only,
// and new records will claim them durable. A segment cut by a repair, or
// written without preallocation, is not preallocated again; the next one is.
package jsonl
