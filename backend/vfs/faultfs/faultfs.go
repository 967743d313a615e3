package faultfs

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Event is one operation reaching the FS, seen by every Hook twice: before it
// runs and, if it succeeded, after.
type Event struct {
	Op    Op
	Path  string // the name given, or the file's name for operations on a file
	N     int    // the operation's number among operations of its kind, from 1
	Seq   int    // its number among all operations, from 1
	After bool   // false: it has not run yet; true: it ran and succeeded
	Size  int    // bytes to write, for OpWrite
}

// IsSync reports whether e is a sync point: a file Sync or a SyncDir.
func (e Event) IsSync() bool { return e.Op == OpSync || e.Op == OpSyncDir }

// Hook is called for every Event. An error returned before the operation
// fails it without running it; an error returned after it fails an operation
// that did take effect (a write that reached the disk but reported EIO). Hooks
// run on the caller's goroutine, without the FS's lock held, and must be safe
// for concurrent use.
type Hook func(Event) error

// FS wraps an inner vfs.FS, numbering its operations and running hooks.
type FS struct {
	inner vfs.FS

	mu     sync.Mutex
	hooks  []Hook
	counts [numOps]int
	seq    int
	cut    error
}

var _ vfs.FS = (*FS)(nil)

// New returns inner with fault injection; it injects nothing until Inject.
func New(inner vfs.FS) *FS { return &FS{inner: inner} }

// Inject adds h after the hooks already there; the first error wins.
func (fs *FS) Inject(h Hook) {
	fs.mu.Lock()
	fs.hooks = append(fs.hooks, h)
	fs.mu.Unlock()
}

// Count returns how many operations of kind op have started (OpAny: of all kinds).
func (fs *FS) Count(op Op) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if op == OpAny {
		return fs.seq
	}
	return fs.counts[op]
}

// Cut makes every later operation fail with errno without reaching the inner
// FS, as if the power went out (or the disk was pulled) at this instant.
func (fs *FS) Cut(errno syscall.Errno) {
	fs.mu.Lock()
	if fs.cut == nil {
		fs.cut = errno
	}
	fs.mu.Unlock()
}

// before numbers an operation and runs the hooks on it.
func (fs *FS) before(op Op, path string, size int) (Event, error) {
	fs.mu.Lock()
	fs.seq++
	fs.counts[op]++
	e := Event{Op: op, Path: path, N: fs.counts[op], Seq: fs.seq, Size: size}
	hooks, cut := fs.hooks, fs.cut
	fs.mu.Unlock()
	if cut != nil {
		return e, &os.PathError{Op: op.String(), Path: path, Err: cut}
	}
	return e, run(hooks, e)
}

// after runs the hooks on an operation that succeeded.
func (fs *FS) after(e Event) error {
	fs.mu.Lock()
	hooks := fs.hooks
	fs.mu.Unlock()
	e.After = true
	return run(hooks, e)
}

func run(hooks []Hook, e Event) error {
	for _, h := range hooks {
		if err := h(e); err != nil {
			return err
		}
	}
	return nil
}

// do runs a name-level operation between its hooks.
func (fs *FS) do(op Op, path string, fn func() error) error {
	e, err := fs.before(op, path, 0)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return fs.after(e)
}

// OpenFile counts as OpCreate when flag has O_CREATE, else OpOpen.
func (fs *FS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	op := OpOpen
	if flag&os.O_CREATE != 0 {
		op = OpCreate
	}
	var f vfs.File
	err := fs.do(op, name, func() (err error) {
		f, err = fs.inner.OpenFile(name, flag, perm)
		return err
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	return &file{fs: fs, inner: f}, nil
}

func (fs *FS) Remove(name string) error {
	return fs.do(OpRemove, name, func() error { return fs.inner.Remove(name) })
}

// Rename reports oldname as the event's Path.
func (fs *FS) Rename(oldname, newname string) error {
	return fs.do(OpRename, oldname, func() error { return fs.inner.Rename(oldname, newname) })
}

func (fs *FS) MkdirAll(name string, perm os.FileMode) error {
	return fs.do(OpMkdir, name, func() error { return fs.inner.MkdirAll(name, perm) })
}

func (fs *FS) Stat(name string) (fi os.FileInfo, err error) {
	err = fs.do(OpStat, name, func() (err error) {
		fi, err = fs.inner.Stat(name)
		return err
	})
	return fi, err
}

func (fs *FS) ReadDir(name string) (names []string, err error) {
	err = fs.do(OpReadDir, name, func() (err error) {
		names, err = fs.inner.ReadDir(name)
		return err
	})
	return names, err
}

func (fs *FS) SyncDir(name string) error {
	return fs.do(OpSyncDir, name, func() error { return fs.inner.SyncDir(name) })
}

func (fs *FS) Lock(name string) (l io.Closer, err error) {
	err = fs.do(OpLock, name, func() (err error) {
		l, err = fs.inner.Lock(name)
		return err
	})
	if err != nil && l != nil {
		l.Close()
		l = nil
	}
	return l, err
}

// file wraps an inner file; its operations are numbered with the FS's.
type file struct {
	fs    *FS
	inner vfs.File
}

func (f *file) Name() string { return f.inner.Name() }

func (f *file) Seek(offset int64, whence int) (int64, error) { return f.inner.Seek(offset, whence) }

func (f *file) Read(p []byte) (n int, err error) {
	err = f.fs.do(OpRead, f.Name(), func() (err error) {
		n, err = f.inner.Read(p)
		return err
	})
	return n, err
}

func (f *file) ReadAt(p []byte, off int64) (n int, err error) {
	err = f.fs.do(OpRead, f.Name(), func() (err error) {
		n, err = f.inner.ReadAt(p, off)
		return err
	})
	return n, err
}

func (f *file) Write(p []byte) (int, error) {
	return f.write(p, func(b []byte) (int, error) { return f.inner.Write(b) })
}

// WriteAt is available when the inner file has it; otherwise it fails with EINVAL.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	wa, ok := f.inner.(io.WriterAt)
	if !ok {
		return 0, &os.PathError{Op: "writeat", Path: f.Name(), Err: syscall.EINVAL}
	}
	return f.write(p, func(b []byte) (int, error) { return wa.WriteAt(b, off) })
}

// write runs a write between its hooks, honouring a short write asked for by
// a hook: the first bytes reach the inner file, then the error is returned.
func (f *file) write(p []byte, fn func([]byte) (int, error)) (int, error) {
	e, err := f.fs.before(OpWrite, f.Name(), len(p))
	if err != nil {
		var short *shortWrite
		if !errors.As(err, &short) {
			return 0, err
		}
		n := min(short.n, len(p))
		if n < 0 {
			n = len(p) / 2
		}
		if n > 0 {
			if n, werr := fn(p[:n]); werr != nil {
				return n, werr
			}
		}
		return n, short.err
	}
	n, err := fn(p)
	if err != nil {
		return n, err
	}
	return n, f.fs.after(e)
}

func (f *file) Sync() error {
	return f.fs.do(OpSync, f.Name(), f.inner.Sync)
}

func (f *file) Truncate(size int64) error {
	return f.fs.do(OpTruncate, f.Name(), func() error { return f.inner.Truncate(size) })
}

func (f *file) Stat() (fi os.FileInfo, err error) {
	err = f.fs.do(OpStat, f.Name(), func() (err error) {
		fi, err = f.inner.Stat()
		return err
	})
	return fi, err
}

// Close always closes the inner file, so an injected failure leaks nothing.
func (f *file) Close() error {
	e, err := f.fs.before(OpClose, f.Name(), 0)
	cerr := f.inner.Close()
	if err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	return f.fs.after(e)
}
