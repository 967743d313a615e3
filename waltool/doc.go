// Package waltool checks, dumps, measures and repairs a write-ahead log
// directory of any registered backend, built-in or custom: it is the logic
// of the `nautilus wal` operator commands, for programs that register their
// own backends and want the same tools.
//
//	rep, err := waltool.Verify(ctx, backend.Config{Backend: "jsonl", Dir: dir})
//	if rep.Problem != nil { ... } // where and why, torn or corrupt
//
// # How a log is read
//
// Verify, Stats and Dump never change the directory. When the backend has
// an Inspector (backend.Inspect; jsonl has one), Verify and Stats use it, in
// place. Otherwise, and always for Dump, the directory is copied to a
// temporary directory (os.TempDir, so TMPDIR chooses where; it needs room
// for a copy of the log) while the WAL's lock is held, so that no writer
// changes it mid-copy; the copy is opened with backend.Open, which may
// repair a torn tail in the copy, and every record is replayed. File names
// in what they report are the original directory's.
//
// Every function fails with an error wrapping backend.ErrLocked while a WAL
// holds the directory: stop the process using it first.
//
// Repair opens the log itself, so Open cuts a torn tail off (keeping a
// .broken copy), and reports what was cut. With Cut set it also cuts the log
// at its first corrupt record with the backend's Salvager (backend.Salvage),
// which keeps a copy of every file it changes; a backend without one is
// refused with an error wrapping errors.ErrUnsupported.
//
// # Dump format
//
// Dump writes one JSON object per line, in index order:
//
//	{"index":1,"data":{"op":"assert","session":"s1"}}
//	{"index":2,"base64":"AAECAw=="}
//
// A record that is valid JSON and UTF-8 with no line break is under "data",
// byte for byte; any other record is under "base64" (standard encoding), as
// a JSON field cannot say which of the two a string holds. So a broker log
// reads with jq, and `jq -r '.base64 // empty' | base64 -d` gives the rest
// (jq's own @base64d would mangle bytes that are not UTF-8).
package waltool
