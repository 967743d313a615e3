package sqlitewal_test

import (
	"bytes"
	"database/sql"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"
)

// An unknown param, or a malformed value, fails Open with an error naming
// the key, before any file is created.
func TestParamsRejected(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		key    string
	}{
		{map[string]string{"page_size": "4096"}, "page_size"},
		{map[string]string{sqlitewal.ParamCacheSize: "lots"}, sqlitewal.ParamCacheSize},
		{map[string]string{sqlitewal.ParamBusyTimeout: "100"}, sqlitewal.ParamBusyTimeout},
		{map[string]string{sqlitewal.ParamWALAutocheckpoint: "-1"}, sqlitewal.ParamWALAutocheckpoint},
	} {
		t.Run(tc.key, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			w, err := backend.Open(t.Context(), backend.Config{Backend: sqlitewal.Name, Dir: dir, Params: tc.params})
			if err == nil {
				w.Close()
				t.Fatalf("Open with params %v succeeded", tc.params)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Open with params %v = %v, want an error naming %s", tc.params, err, tc.key)
			}
			if _, err := os.Stat(filepath.Join(dir, sqlitewal.FileName)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open refused its params but created the database (stat: %v)", err)
			}
		})
	}
}

// A database another process holds (an sqlite3 shell with a write
// transaction open, here a connection of this test) fails Open with
// ErrLocked once busy_timeout has passed, not before.
func TestBusyDatabaseIsLocked(t *testing.T) {
	dir := t.TempDir()
	makeLog(t, dir, 2)
	other, err := sql.Open("sqlite", filepath.Join(dir, sqlitewal.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("UPDATE meta SET next = next"); err != nil {
		t.Fatal(err)
	}

	const timeout = 300 * time.Millisecond
	start := time.Now()
	w, err := backend.Open(t.Context(), backend.Config{Backend: sqlitewal.Name, Dir: dir,
		Params: map[string]string{sqlitewal.ParamBusyTimeout: timeout.String()}})
	if err == nil {
		w.Close()
		t.Fatal("Open of a database another connection holds succeeded")
	}
	if !errors.Is(err, backend.ErrLocked) {
		t.Fatalf("Open of a database another connection holds = %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < timeout {
		t.Errorf("Open gave up after %v, before busy_timeout %v", waited, timeout)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := replayAll(t, dir); err != nil || n != 2 {
		t.Fatalf("Open after the other connection closed: replayed %d records, %v; want 2", n, err)
	}
}

// A -wal or -journal file without its database is refused, not applied to a
// new database, and left as it was.
func TestStaleWALWithoutDatabase(t *testing.T) {
	for _, suffix := range []string{"-wal", "-journal"} {
		t.Run(suffix, func(t *testing.T) {
			dir := t.TempDir()
			makeLog(t, dir, 2)
			if err := os.Remove(filepath.Join(dir, sqlitewal.FileName)); err != nil {
				t.Fatal(err)
			}
			stale := filepath.Join(dir, sqlitewal.FileName+suffix)
			if err := os.WriteFile(stale, bytes.Repeat([]byte{0x37}, 4096), 0o644); err != nil {
				t.Fatal(err)
			}
			before := files(t, dir)
			_, err := replayAll(t, dir)
			if !errors.Is(err, backend.ErrForeignFile) || !strings.Contains(err.Error(), sqlitewal.FileName+suffix) {
				t.Fatalf("Open beside a lone %s = %v, want ErrForeignFile naming it", stale, err)
			}
			if after := files(t, dir); !maps.Equal(before, after) {
				t.Errorf("Open refused the directory but changed its files")
			}
		})
	}
}

// What an interrupted create leaves (a temporary database, with or without
// its -wal file) is removed and the log created afresh.
func TestInterruptedCreateIsRedone(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, sqlitewal.FileName+".tmp")
	for _, name := range []string{tmp, tmp + "-wal"} {
		if err := os.WriteFile(name, []byte("half a database"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := backend.Open(t.Context(), backend.Config{Backend: sqlitewal.Name, Dir: dir})
	if err != nil {
		t.Fatalf("Open after an interrupted create: %v", err)
	}
	if last, err := w.Append(t.Context(), payload(1)); err != nil || last != 1 {
		t.Fatalf("Append = (%d, %v), want 1", last, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 1 || got[sqlitewal.FileName] == "" {
		t.Errorf("files after create and Close: %v, want %s alone", slicesOf(got), sqlitewal.FileName)
	}
}

func slicesOf(m map[string]string) []string {
	var names []string
	for name := range m {
		names = append(names, name)
	}
	return names
}

// The WAL index lives in heap memory (locking_mode EXCLUSIVE): no -shm file
// is created and so nothing is memory-mapped, while the WAL is open or
// after a reopen, in either sync mode.
func TestNoSharedMemoryFile(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			for session := range 2 {
				w, err := backend.Open(t.Context(), backend.Config{Backend: sqlitewal.Name, Dir: dir, Sync: mode})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Append(t.Context(), payload(1), payload(2)); err != nil {
					t.Fatal(err)
				}
				if err := w.Sync(t.Context()); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dir, sqlitewal.FileName+"-wal")); err != nil {
					t.Fatalf("session %d: the -wal file is missing, so this test checks nothing: %v", session, err)
				}
				shm := filepath.Join(dir, sqlitewal.FileName+"-shm")
				if _, err := os.Stat(shm); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("session %d: %s exists (stat: %v): SQLite maps its WAL index", session, shm, err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
