package sqlitewal_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"
)

// payload is record i's bytes in these tests.
func payload(i uint64) []byte { return fmt.Appendf(nil, "record %d of the log", i) }

// makeLog writes records 1..n to a new WAL in dir and closes it.
func makeLog(t *testing.T, dir string, n uint64) {
	t.Helper()
	w, err := backend.Open(t.Context(), backend.Config{Backend: sqlitewal.Name, Dir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for i := uint64(1); i <= n; i++ {
		if _, err := w.Append(t.Context(), payload(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// tamper runs stmt on the closed WAL's database through a connection of its
// own, as someone with the sqlite3 shell would.
func tamper(t *testing.T, dir, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitewal.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// storedRecord returns the BLOB stored for index i.
func storedRecord(t *testing.T, dir string, i uint64) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitewal.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rec []byte
	if err := db.QueryRow("SELECT record FROM records WHERE idx = ?", i).Scan(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// files returns the contents of every file in dir but the lock file.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if e.Name() == backend.LockFileName {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name()] = string(data)
	}
	return got
}

// replayAll opens dir and replays it from its first index, requiring every
// record delivered to be the one appended; it returns how many were
// delivered and the error of Open or Replay.
func replayAll(t *testing.T, dir string) (int, error) {
	t.Helper()
	w, err := backend.Open(t.Context(), backend.Config{Backend: sqlitewal.Name, Dir: dir})
	if err != nil {
		return 0, err
	}
	defer w.Close()
	first, _, err := w.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = w.Replay(t.Context(), first, func(i uint64, data []byte) error {
		if !bytes.Equal(data, payload(i)) {
			t.Fatalf("Replay delivered %q as record %d, want %q", data, i, payload(i))
		}
		n++
		return nil
	})
	return n, err
}

// wantCorrupt requires err to be a *backend.CorruptError naming the
// database file and key.
func wantCorrupt(t *testing.T, err error, dir, key string) *backend.CorruptError {
	t.Helper()
	var ce *backend.CorruptError
	if !errors.Is(err, backend.ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *backend.CorruptError", err)
	}
	if want := filepath.Join(dir, sqlitewal.FileName); ce.File != want {
		t.Errorf("CorruptError.File = %q, want %q", ce.File, want)
	}
	if ce.Key != key {
		t.Errorf("CorruptError.Key = %q, want %q (%v)", ce.Key, key, err)
	}
	return ce
}

// Every single bit flipped anywhere in a record's BLOB, through a raw SQL
// UPDATE, makes Replay fail with ErrCorrupt naming the row when it reaches
// it, after delivering the intact records before it unchanged.
func TestBitFlipInRecord(t *testing.T) {
	dir := t.TempDir()
	makeLog(t, dir, 5)
	original := storedRecord(t, dir, 3)
	for off := range original {
		for _, bit := range []byte{0x01, 0x80} {
			flipped := bytes.Clone(original)
			flipped[off] ^= bit
			tamper(t, dir, "UPDATE records SET record = ? WHERE idx = 3", flipped)
			n, err := replayAll(t, dir)
			ce := wantCorrupt(t, err, dir, "records.idx=3")
			if ce.Index != 3 || n != 2 {
				t.Fatalf("bit %#x of byte %d: Replay delivered %d records and failed at index %d, want 2 and 3", bit, off, n, ce.Index)
			}
		}
	}
	tamper(t, dir, "UPDATE records SET record = ? WHERE idx = 3", original)
	if n, err := replayAll(t, dir); err != nil || n != 5 {
		t.Fatalf("Replay of the restored log = (%d, %v), want all 5 records", n, err)
	}
}

// Damage Replay finds: a record too short for its envelope, a valid
// envelope stored under another index, and a missing row in the middle.
func TestDamageFoundByReplay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		reason string
	}{
		{"short_record", func(t *testing.T, dir string) {
			tamper(t, dir, "UPDATE records SET record = substr(record, 1, 20) WHERE idx = 3")
		}, "envelope length"},
		{"record_of_another_index", func(t *testing.T, dir string) {
			tamper(t, dir, "UPDATE records SET record = ? WHERE idx = 3", storedRecord(t, dir, 4))
		}, "envelope holds index 4"},
		{"missing_row", func(t *testing.T, dir string) {
			tamper(t, dir, "DELETE FROM records WHERE idx = 3")
		}, "index gap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeLog(t, dir, 5)
			tc.damage(t, dir)
			n, err := replayAll(t, dir)
			ce := wantCorrupt(t, err, dir, "records.idx=3")
			if ce.Index != 3 || n != 2 {
				t.Fatalf("Replay delivered %d records and failed at index %d, want 2 and 3", n, ce.Index)
			}
			if !bytes.Contains([]byte(ce.Reason), []byte(tc.reason)) {
				t.Errorf("reason %q does not say %q", ce.Reason, tc.reason)
			}
		})
	}
}

// Damage Open finds, at either end of the log or in the bounds row, makes
// it fail with ErrCorrupt naming the row and leaves every file as it was.
func TestDamageFoundByOpen(t *testing.T) {
	flip := func(i uint64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			rec := storedRecord(t, dir, i)
			rec[len(rec)-1] ^= 1
			tamper(t, dir, "UPDATE records SET record = ? WHERE idx = ?", rec, i)
		}
	}
	run := func(stmt string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { tamper(t, dir, stmt) }
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		key    string
	}{
		{"bit_flip_in_last_record", flip(5), "records.idx=5"},
		{"bit_flip_in_first_record", flip(1), "records.idx=1"},
		{"lost_tail", run("DELETE FROM records WHERE idx = 5"), "records.idx=4"},
		{"lost_head", run("DELETE FROM records WHERE idx = 1"), "records.idx=2"},
		{"next_index_moved", run("UPDATE meta SET next = 9"), "records.idx=5"},
		{"first_index_moved", run("UPDATE meta SET first = 2"), "records.idx=1"},
		{"bounds_reversed", run("UPDATE meta SET first = 7, next = 6"), "meta.id=1"},
		{"bounds_row_missing", run("DELETE FROM meta"), "meta.id=1"},
		{"records_but_empty_bounds", run("UPDATE meta SET first = 6, next = 6"), "records.idx=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			makeLog(t, dir, 5)
			tc.damage(t, dir)
			before := files(t, dir)
			_, err := replayAll(t, dir)
			wantCorrupt(t, err, dir, tc.key)
			if after := files(t, dir); !maps.Equal(before, after) {
				t.Errorf("Open refused the log but changed its files")
			}
		})
	}
}

// A database file SQLite itself rejects is ErrCorrupt naming the file, with
// SQLite's error still reachable, and Open changes no file.
func TestDamagedDatabaseHeader(t *testing.T) {
	dir := t.TempDir()
	makeLog(t, dir, 5)
	path := filepath.Join(dir, sqlitewal.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "not an SQLite file at all")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := files(t, dir)
	_, err = replayAll(t, dir)
	ce := wantCorrupt(t, err, dir, "")
	var se *sqlite.Error
	if !errors.As(ce, &se) {
		t.Errorf("the CorruptError does not wrap SQLite's error: %v", err)
	}
	if after := files(t, dir); !maps.Equal(before, after) {
		t.Errorf("Open refused the file but changed the directory's files")
	}
}
