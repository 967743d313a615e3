package pebble

import (
	"io"

	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
)

// files gives the close record (kv.CloseRecordFile) access to the file
// system Pebble runs on, so the record sits with Pebble's files whether they
// are on disk or in a test's in-memory file system.
type files struct{ fs pebblevfs.FS }

func (f files) ReadFile(name string) ([]byte, error) {
	file, err := f.fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return io.ReadAll(file)
}

// WriteFileAtomic writes a temporary file, fsyncs it, renames it over name
// and fsyncs the directory, as backend/vfs.WriteFileAtomic does.
func (f files) WriteFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	file, err := f.fs.Create(tmp, pebblevfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = file.Write(data)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.fs.Rename(tmp, name)
	}
	if err == nil {
		err = f.SyncDir(f.fs.PathDir(name))
	}
	return err
}

func (f files) Remove(name string) error { return f.fs.Remove(name) }

func (f files) SyncDir(dir string) error {
	d, err := f.fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
