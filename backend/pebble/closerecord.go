package pebble

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nautilus-go/nautilus/backend/internal/kv"
)

// closeRecord reads, checks and writes kv.CloseRecordFile in the WAL
// directory, on the file system Pebble runs on.
type closeRecord struct {
	fs   pebblevfs.FS
	dir  string // the WAL directory
	path string
}

func newCloseRecord(fs pebblevfs.FS, dir string) closeRecord {
	return closeRecord{fs: fs, dir: dir, path: filepath.Join(dir, kv.CloseRecordFile)}
}

// check compares the store's bounds with the record a clean Close left, if
// any, and then removes it durably, so that a crash after the next write
// never meets a stale record. It changes nothing when the check fails.
func (c closeRecord) check(store kv.Store, first, last uint64) error {
	f, err := c.fs.Open(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	if err := store.CheckCloseRecord(c.path, data, first, last); err != nil {
		return err
	}
	if err := c.fs.Remove(c.path); err != nil {
		return err
	}
	return syncDir(c.fs, c.dir)
}

// write records [first, last] after a clean Close: a temporary file,
// fsync'd, renamed over the record, and the directory fsync'd.
func (c closeRecord) write(first, last uint64) error {
	tmp := c.path + ".tmp"
	f, err := c.fs.Create(tmp, pebblevfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write(kv.EncodeCloseRecord(first, last))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.fs.Rename(tmp, c.path)
	}
	if err == nil {
		err = syncDir(c.fs, c.dir)
	}
	return err
}

func syncDir(fs pebblevfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
