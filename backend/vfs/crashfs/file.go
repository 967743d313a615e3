package crashfs

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// file is an open handle. It keeps the node, not the name, so a renamed or
// removed file stays readable and writable through it, as on POSIX.
type file struct {
	fs     *FS
	n      *node
	name   string
	flag   int
	pos    int64
	closed bool
}

func (f *file) check(op string, write bool) error {
	switch {
	case f.closed:
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	case write && f.flag&(os.O_WRONLY|os.O_RDWR) == 0:
		return pathErr(op, f.name, syscall.EBADF)
	case !write && f.flag&os.O_WRONLY != 0:
		return pathErr(op, f.name, syscall.EBADF)
	case f.n.dir && op != "sync" && op != "close" && op != "stat":
		return pathErr(op, f.name, syscall.EISDIR)
	}
	return nil
}

func (f *file) Name() string { return f.name }

func (f *file) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.readAtLocked("read", p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.readAtLocked("read", p, off)
}

func (f *file) readAtLocked(op string, p []byte, off int64) (int, error) {
	if err := f.check(op, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr(op, f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *file) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	off := f.pos
	if f.flag&os.O_APPEND != 0 {
		off = int64(len(f.n.data))
	}
	n, err := f.writeAtLocked(p, off)
	f.pos = off + int64(n)
	return n, err
}

// WriteAt writes p at off, zero-filling any gap past the end.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAtLocked(p, off)
}

func (f *file) writeAtLocked(p []byte, off int64) (int, error) {
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("write", f.name, syscall.EINVAL)
	}
	end := off + int64(len(p))
	if end > int64(len(f.n.data)) {
		f.n.data = grow(f.n.data, int(end))
	}
	copy(f.n.data[off:], p)
	f.n.mtime = time.Now()
	return len(p), nil
}

// grow returns b extended with zeros to n bytes.
func grow(b []byte, n int) []byte {
	if n <= cap(b) {
		old := len(b)
		b = b[:n]
		clear(b[old:])
		return b
	}
	nb := make([]byte, n, n+n/2)
	copy(nb, b)
	return nb
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: os.ErrClosed}
	}
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = f.pos + offset
	case io.SeekEnd:
		pos = int64(len(f.n.data)) + offset
	default:
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	if pos < 0 {
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	f.pos = pos
	return pos, nil
}

func (f *file) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	f.closed = true
	return nil
}

func (f *file) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, &os.PathError{Op: "stat", Path: f.name, Err: os.ErrClosed}
	}
	return f.n.info(filepath.Base(f.name)), nil
}

// Sync makes the contents durable; on a directory handle it is SyncDir.
func (f *file) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "sync", Path: f.name, Err: os.ErrClosed}
	}
	if f.n.dir {
		f.n.syncDir()
		return nil
	}
	f.n.synced = append(f.n.synced[:0:0], f.n.data...)
	return nil
}

func (f *file) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = grow(f.n.data, int(size))
	}
	f.n.mtime = time.Now()
	return nil
}
