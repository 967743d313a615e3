package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// CloseRecordFile is the file, in the WAL directory, that a clean Close
// leaves behind: the bounds the log held when it closed. Open checks the
// store against it and removes it before the first write.
//
// It exists because neither library can always tell damage from a torn
// write: Pebble reads its last WAL file only up to the first bad chunk and
// cannot tell a flipped bit in that 32 KiB block from a crash mid-write, and
// bbolt falls back to its older meta page. Either would silently give back a
// log shorter than the one acknowledged. After a clean Close nothing was
// being written, so a store that holds less than the record is corrupt.
const CloseRecordFile = "clean-close"

// EncodeCloseRecord returns the contents of CloseRecordFile for a log
// holding [first, last]: an envelope with index first and last as payload.
func EncodeCloseRecord(first, last uint64) []byte {
	return backend.AppendEnvelope(nil, first, binary.BigEndian.AppendUint64(nil, last))
}

// Files is the file access the close record needs, on the file system the
// store's library writes to.
type Files interface {
	// ReadFile returns the contents of name, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when it is absent.
	ReadFile(name string) ([]byte, error)
	// WriteFileAtomic replaces name with data, durably: a crash leaves the
	// old or the new contents.
	WriteFileAtomic(name string, data []byte) error
	Remove(name string) error
	SyncDir(dir string) error
}

// VFSFiles gives the close record access to a backend/vfs file system.
func VFSFiles(fsys vfs.FS) Files { return vfsFiles{fsys} }

type vfsFiles struct{ fs vfs.FS }

func (f vfsFiles) ReadFile(name string) ([]byte, error) { return vfs.ReadFile(f.fs, name) }
func (f vfsFiles) WriteFileAtomic(name string, data []byte) error {
	return vfs.WriteFileAtomic(f.fs, name, data)
}
func (f vfsFiles) Remove(name string) error { return f.fs.Remove(name) }
func (f vfsFiles) SyncDir(dir string) error { return f.fs.SyncDir(dir) }

// WriteCloseRecord records that the log in dir closed cleanly holding
// [first, last]. Call it only after the store is closed and every write
// succeeded: after a failed write the store may hold more than the bounds.
func (s Store) WriteCloseRecord(files Files, dir string, first, last uint64) error {
	path := filepath.Join(dir, CloseRecordFile)
	if err := files.WriteFileAtomic(path, EncodeCloseRecord(first, last)); err != nil {
		return fmt.Errorf("%s: write %s: %w", s.Name, path, err)
	}
	return nil
}

// CheckCloseRecord checks the bounds read at Open against the close record
// in dir, if there is one, and then removes the record durably, so that a
// crash after the next write never meets a stale one. It changes nothing
// when the check fails.
func (s Store) CheckCloseRecord(files Files, dir string, first, last uint64) error {
	path := filepath.Join(dir, CloseRecordFile)
	data, err := files.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", s.Name, path, err)
	}
	if err := s.checkCloseRecord(path, data, first, last); err != nil {
		return err
	}
	if err := files.Remove(path); err != nil {
		return fmt.Errorf("%s: remove %s: %w", s.Name, path, err)
	}
	if err := files.SyncDir(dir); err != nil {
		return fmt.Errorf("%s: sync %s: %w", s.Name, dir, err)
	}
	return nil
}

// checkCloseRecord checks the bounds against the record's contents, data,
// read from path.
func (s Store) checkCloseRecord(path string, data []byte, first, last uint64) error {
	wantFirst, wantLast, err := parseCloseRecord(path, data)
	if err != nil {
		return err
	}
	if first != wantFirst || last != wantLast {
		return s.Corrupt(nil, 0, fmt.Sprintf("the store holds [%d, %d] but was closed cleanly holding [%d, %d]",
			first, last, wantFirst, wantLast), nil)
	}
	return nil
}

// parseCloseRecord returns the bounds in a close record's contents, data,
// read from path, or a *backend.CorruptError.
func parseCloseRecord(path string, data []byte) (first, last uint64, err error) {
	bad := func(reason string, err error) error {
		return &backend.CorruptError{File: path, Offset: -1, Reason: reason, Err: err}
	}
	if len(data) != backend.EnvelopeHeaderSize+8 {
		return 0, 0, bad(fmt.Sprintf("close record of %d bytes, want %d", len(data), backend.EnvelopeHeaderSize+8), nil)
	}
	first = binary.BigEndian.Uint64(data[4:])
	payload, err := backend.DecodeEnvelope(data, first)
	if err != nil {
		return 0, 0, bad("close record fails its checksum", err)
	}
	if first == 0 {
		return 0, 0, bad("close record holds first index 0", nil)
	}
	return first, binary.BigEndian.Uint64(payload), nil
}
