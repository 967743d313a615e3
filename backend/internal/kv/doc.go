// Package kv holds what the key-value backends (pebble and bbolt) share: the
// key layout, the first-index marker, envelope decoding with the store's
// context, the guard that turns a library panic into an error, and the
// adapter's state beside the store (Log: the bounds, whether a write failed,
// and the close record a clean Close leaves).
//
// A log in a key-value store is a set of record keys, RecordPrefix followed
// by the big-endian index (so keys sort by index), each holding the record in
// the shared envelope (backend.AppendEnvelope), plus one marker key,
// FirstKey, holding the first index once the front has been truncated. The
// marker is written in the same atomic write as the deletion it describes, so
// the store always holds either the records [1, last] with no marker, or the
// records [first, last] with the marker first. After everything is truncated
// the marker alone says where the log goes on: the next index is first.
//
// A clean Close leaves a close record (CloseRecordFile) with the bounds, and
// Open checks the store against it, because neither library can always tell
// damage from a torn write and might hand back a shorter log in silence.
//
// # Errors
//
// Every check that fails returns a *backend.CorruptError naming the file
// (the database, or the close record), the key in hex and the index where
// they apply; Offset is -1 since the stores have no offsets to give. A panic inside the library is returned as an error too
// (Store.Run): a *backend.CorruptError while reading, a plain error while
// writing, either holding a *PanicError so the adapter can tell (Panicked)
// that the library may have left its locks held.
//
// # Params
//
// None: each adapter reads its own with backend.NewParams.
//
// # Crash safety
//
// The adapters commit the keys the package builds atomically. The close
// record is written atomically (temporary file, fsync, rename, directory
// fsync) and removed, durably, at Open before the first write.
//
// # Limitations
//
// The layout leaves the byte 'm' for meta keys and 'r' for records; a store
// shared with other data must keep those prefixes to itself.
package kv
