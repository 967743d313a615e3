package crashfs

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// FS is an in-memory file system that tracks, per file, the contents as of the
// last Sync and, per directory, the entries as of the last SyncDir.
type FS struct {
	mu      sync.Mutex
	root    *node
	nextIno uint64
	locks   map[string]bool
}

var _ vfs.FS = (*FS)(nil)

// node is a file or a directory. What is visible now and what is durable are
// kept apart; CrashImage keeps only the durable half.
type node struct {
	ino   uint64
	dir   bool
	mode  os.FileMode
	mtime time.Time

	data, synced []byte // files

	kids, syncedKids map[string]*node // directories
}

// New returns an empty FS holding only the root directory, which is durable.
func New() *FS {
	fs := &FS{locks: map[string]bool{}}
	fs.root = fs.newDir(0o755)
	return fs
}

func (fs *FS) newNode() *node {
	fs.nextIno++
	return &node{ino: fs.nextIno, mtime: time.Now()}
}

func (fs *FS) newDir(perm os.FileMode) *node {
	n := fs.newNode()
	n.dir, n.mode = true, os.ModeDir|perm.Perm()
	n.kids, n.syncedKids = map[string]*node{}, map[string]*node{}
	return n
}

func pathErr(op, name string, errno syscall.Errno) error {
	return &os.PathError{Op: op, Path: name, Err: errno}
}

// split returns the components of name below the root.
func split(name string) []string {
	clean := strings.Trim(filepath.ToSlash(filepath.Clean("/"+name)), "/")
	if clean == "" {
		return nil
	}
	return strings.Split(clean, "/")
}

// walk returns the node at name, or ENOENT / ENOTDIR.
func (fs *FS) walk(op, name string) (*node, error) {
	n := fs.root
	for _, part := range split(name) {
		if !n.dir {
			return nil, pathErr(op, name, syscall.ENOTDIR)
		}
		child, ok := n.kids[part]
		if !ok {
			return nil, pathErr(op, name, syscall.ENOENT)
		}
		n = child
	}
	return n, nil
}

// parent returns the directory holding name and name's last component.
func (fs *FS) parent(op, name string) (*node, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", pathErr(op, name, syscall.EINVAL)
	}
	dir, err := fs.walk(op, strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !dir.dir {
		return nil, "", pathErr(op, name, syscall.ENOTDIR)
	}
	return dir, parts[len(parts)-1], nil
}

// OpenFile opens name with the os package's flags (O_CREATE, O_EXCL, O_TRUNC,
// O_APPEND, O_RDONLY, O_WRONLY, O_RDWR). A directory opens read-only; its Sync
// is SyncDir.
func (fs *FS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.parent("open", name)
	if err != nil {
		if len(split(name)) == 0 { // the root directory itself
			return &file{fs: fs, n: fs.root, name: name, flag: os.O_RDONLY}, nil
		}
		return nil, err
	}
	n, ok := dir.kids[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, syscall.EEXIST)
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, syscall.ENOENT)
	case !ok:
		n = fs.newNode()
		n.mode = perm.Perm()
		dir.kids[base] = n
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if n.dir && writable {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	if flag&os.O_TRUNC != 0 && writable {
		n.data = n.data[:0]
		n.mtime = time.Now()
	}
	return &file{fs: fs, n: n, name: name, flag: flag}, nil
}

// Remove removes a file or an empty directory.
func (fs *FS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.kids[base]
	if !ok {
		return pathErr("remove", name, syscall.ENOENT)
	}
	if n.dir && len(n.kids) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(dir.kids, base)
	return nil
}

// Rename moves oldname to newname, replacing a file or an empty directory there.
func (fs *FS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	odir, obase, err := fs.parent("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := odir.kids[obase]
	if !ok {
		return pathErr("rename", oldname, syscall.ENOENT)
	}
	ndir, nbase, err := fs.parent("rename", newname)
	if err != nil {
		return err
	}
	if old, ok := ndir.kids[nbase]; ok && old != n {
		switch {
		case old.dir && !n.dir:
			return pathErr("rename", newname, syscall.EISDIR)
		case !old.dir && n.dir:
			return pathErr("rename", newname, syscall.ENOTDIR)
		case old.dir && len(old.kids) > 0:
			return pathErr("rename", newname, syscall.ENOTEMPTY)
		}
	}
	if n.dir && isUnder(n, ndir) {
		return pathErr("rename", newname, syscall.EINVAL)
	}
	delete(odir.kids, obase)
	ndir.kids[nbase] = n
	return nil
}

// isUnder reports whether d is dir or lies below it.
func isUnder(dir, d *node) bool {
	if dir == d {
		return true
	}
	for _, k := range dir.kids {
		if k.dir && isUnder(k, d) {
			return true
		}
	}
	return false
}

// MkdirAll creates name and any missing parents. Like a real file system, the
// new entries are durable only after SyncDir of each parent.
func (fs *FS) MkdirAll(name string, perm os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.root
	for _, part := range split(name) {
		child, ok := n.kids[part]
		if !ok {
			child = fs.newDir(perm)
			n.kids[part] = child
		} else if !child.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		n = child
	}
	return nil
}

// Stat describes name.
func (fs *FS) Stat(name string) (os.FileInfo, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk("stat", name)
	if err != nil {
		return nil, err
	}
	parts := split(name)
	base := "/"
	if len(parts) > 0 {
		base = parts[len(parts)-1]
	}
	return n.info(base), nil
}

// ReadDir returns the sorted names in directory name.
func (fs *FS) ReadDir(name string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk("readdir", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	return sortedNames(n.kids), nil
}

func sortedNames(m map[string]*node) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// SyncDir makes directory name's current entries durable.
func (fs *FS) SyncDir(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk("syncdir", name)
	if err != nil {
		return err
	}
	if !n.dir {
		return pathErr("syncdir", name, syscall.ENOTDIR)
	}
	n.syncDir()
	return nil
}

func (n *node) syncDir() {
	n.syncedKids = make(map[string]*node, len(n.kids))
	for k, v := range n.kids {
		n.syncedKids[k] = v
	}
}

// Lock takes name in an in-process lock table, creating the file if missing.
// A crash image starts with no locks held, as after a reboot.
func (fs *FS) Lock(name string) (io.Closer, error) {
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE, vfs.FileMode)
	if err != nil {
		return nil, err
	}
	f.Close()
	key := filepath.Clean("/" + name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.locks[key] {
		return nil, pathErr("lock", name, vfs.ErrWouldBlock)
	}
	fs.locks[key] = true
	return &lock{fs: fs, key: key}, nil
}

type lock struct {
	fs   *FS
	key  string
	once sync.Once
}

func (l *lock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locks, l.key)
		l.fs.mu.Unlock()
	})
	return nil
}

func (n *node) info(name string) os.FileInfo {
	return fileInfo{name: name, size: int64(len(n.data)), mode: n.mode, mtime: n.mtime, ino: n.ino}
}

type fileInfo struct {
	name  string
	size  int64
	mode  os.FileMode
	mtime time.Time
	ino   uint64
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() os.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return fi.mtime }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return &syscall.Stat_t{Ino: fi.ino, Nlink: 1, Size: fi.size} }
