package lossyfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Server is one mount of a vfs.FS.
type Server struct {
	dir    string
	server *fuse.Server
	conn   uint32 // the kernel's FUSE connection number: the mount's device minor
	ctl    string // the FUSE control file system, to abort conn
	once   sync.Once
	err    error
}

// Mount serves fsys (its root directory) at the directory mountpoint until
// Unmount. It needs what Available checks, and mounts the FUSE control file
// system if it is absent.
func Mount(mountpoint string, fsys vfs.FS) (*Server, error) {
	if err := mountFusectl(); err != nil {
		return nil, err
	}
	var zero time.Duration // no kernel caching of names or attributes: ask every time
	root := &node{fsys: fsys}
	server, err := fs.Mount(mountpoint, root, &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			// mount(2) only: fusermount would hide mount's errno, and its
			// mounts could not be taken down with umount(2).
			DirectMountStrict: true,
			FsName:            "lossyfs",
			Name:              "lossyfs",
			DisableXAttrs:     true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("lossyfs: mount %s: %w", mountpoint, err)
	}
	conn, err := connection(filepath.Clean(mountpoint))
	if err != nil {
		// Nothing is open on the new mount yet: a lazy unmount ends it.
		if derr := syscall.Unmount(mountpoint, syscall.MNT_DETACH); derr != nil {
			return nil, fmt.Errorf("%w; detach %s: %v", err, mountpoint, derr)
		}
		server.Wait()
		return nil, err
	}
	return &Server{dir: mountpoint, server: server, conn: conn, ctl: fusectlDir}, nil
}

// Dir returns the mount point.
func (s *Server) Dir() string { return s.dir }

// Unmount detaches the file system and waits for the server to stop. If
// umount(2) fails, it aborts the FUSE connection and detaches the mount
// lazily, so that no mount is left behind, and returns umount's error, which
// wraps ErrBusy if files are still open (a library that leaked a descriptor).
// The abort matters: the server runs in this process, so a descriptor left
// open on a live connection would hang the process at exit, when the kernel
// closes it and waits for a server that is gone. Should the abort fail, the
// server keeps serving the open files until they are closed. It is
// idempotent.
func (s *Server) Unmount() error {
	s.once.Do(func() {
		// umount(2) directly: go-fuse's Unmount retries a busy mount for a while.
		err := syscall.Unmount(s.dir, 0)
		if err == nil {
			s.server.Wait()
			return
		}
		if errors.Is(err, syscall.EBUSY) {
			err = fmt.Errorf("%w: %w", ErrBusy, err)
		}
		var aborted bool
		aborted, s.err = takeDown(s.dir, s.ctl, s.conn, err)
		if aborted {
			s.server.Wait()
		}
	})
	return s.err
}

// node is a file or directory of the mount. It keeps no state of its own: its
// path in the inode tree names it in the backing FS.
type node struct {
	fs.Inode
	fsys vfs.FS
}

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
)

func (n *node) path(name string) string {
	return path.Join("/", n.Path(nil), name)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errors.Is(err, os.ErrClosed) {
		return syscall.EBADF
	}
	return fs.ToErrno(err)
}

// stable returns the inode identity of fi: the backing FS's inode number when
// it reports one (crashfs and the OS do), else 0 for go-fuse to assign.
func stable(fi os.FileInfo) fs.StableAttr {
	attr := fs.StableAttr{Mode: syscall.S_IFREG}
	if fi.IsDir() {
		attr.Mode = syscall.S_IFDIR
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino > 1 {
		attr.Ino = st.Ino
	}
	return attr
}

func fill(fi os.FileInfo, out *fuse.Attr) {
	st := stable(fi)
	out.Mode = st.Mode | uint32(fi.Mode().Perm())
	out.Ino = st.Ino
	out.Size = uint64(fi.Size())
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 4096
	out.Nlink = 1
	if fi.IsDir() {
		out.Nlink = 2
	}
	mtime := fi.ModTime()
	out.SetTimes(&mtime, &mtime, &mtime)
}

func (n *node) child(ctx context.Context, fi os.FileInfo, out *fuse.EntryOut) *fs.Inode {
	fill(fi, &out.Attr)
	return n.NewInode(ctx, &node{fsys: n.fsys}, stable(fi))
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	fi, err := n.fsys.Stat(n.path(name))
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, fi, out), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var fi os.FileInfo
	var err error
	if h, ok := f.(*handle); ok {
		fi, err = h.f.Stat()
	} else {
		fi, err = n.fsys.Stat(n.path(""))
	}
	if err != nil {
		return errno(err)
	}
	fill(fi, &out.Attr)
	return 0
}

// Setattr supports truncation (ftruncate, O_TRUNC); other changes are accepted
// and ignored, since the backing FS keeps no owners or times.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, ok := f.(*handle)
		if !ok {
			vf, err := n.fsys.OpenFile(n.path(""), os.O_WRONLY, 0)
			if err != nil {
				return errno(err)
			}
			defer vf.Close()
			h = &handle{f: vf}
		}
		if err := h.f.Truncate(int64(size)); err != nil {
			return errno(err)
		}
	}
	return n.Getattr(ctx, f, out)
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	dir := n.path("")
	names, err := n.fsys.ReadDir(dir)
	if err != nil {
		return nil, errno(err)
	}
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		fi, err := n.fsys.Stat(path.Join(dir, name))
		if err != nil {
			return nil, errno(err)
		}
		st := stable(fi)
		entries = append(entries, fuse.DirEntry{Name: name, Mode: st.Mode, Ino: st.Ino})
	}
	return fs.NewListDirStream(entries), 0
}

// openFlags keeps the access mode and O_TRUNC: the kernel computes append
// offsets itself and sends every write with its offset.
func openFlags(flags uint32) int {
	return int(flags) & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_TRUNC)
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f, err := n.fsys.OpenFile(n.path(""), openFlags(flags), 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	return &handle{f: f}, 0, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	flag := openFlags(flags) | os.O_CREATE
	if flags&syscall.O_EXCL != 0 {
		flag |= os.O_EXCL
	}
	f, err := n.fsys.OpenFile(n.path(name), flag, os.FileMode(mode).Perm())
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, errno(err)
	}
	return n.child(ctx, fi, out), &handle{f: f}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := n.path(name)
	if _, err := n.fsys.Stat(p); err == nil {
		return nil, syscall.EEXIST
	}
	if err := n.fsys.MkdirAll(p, os.FileMode(mode).Perm()); err != nil {
		return nil, errno(err)
	}
	fi, err := n.fsys.Stat(p)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, fi, out), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(n.fsys.Remove(n.path(name)))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(n.fsys.Remove(n.path(name)))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to := path.Join("/", newParent.EmbeddedInode().Path(nil), newName)
	switch flags {
	case 0:
	case renameNoReplace:
		if _, err := n.fsys.Stat(to); err == nil {
			return syscall.EEXIST
		}
	default:
		return syscall.EINVAL
	}
	return errno(n.fsys.Rename(n.path(name), to))
}

// Fsync serves FSYNC (fsync and fdatasync alike, flags tell them apart) on a
// file and FSYNCDIR on a directory.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if n.IsDir() {
		return errno(n.fsys.SyncDir(n.path("")))
	}
	if h, ok := f.(*handle); ok {
		return errno(h.f.Sync())
	}
	vf, err := n.fsys.OpenFile(n.path(""), os.O_RDONLY, 0)
	if err != nil {
		return errno(err)
	}
	defer vf.Close()
	return errno(vf.Sync())
}

// handle is an open file of the backing FS.
type handle struct {
	mu sync.Mutex // orders Seek+Write for files without WriteAt
	f  vfs.File
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	var n int
	var err error
	if wa, ok := h.f.(io.WriterAt); ok {
		n, err = wa.WriteAt(data, off)
	} else {
		h.mu.Lock()
		if _, err = h.f.Seek(off, io.SeekStart); err == nil {
			n, err = h.f.Write(data)
		}
		h.mu.Unlock()
	}
	if err != nil {
		return uint32(n), errno(err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor; there is nothing to flush,
// writes have already reached the backing FS.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (h *handle) Release(ctx context.Context) syscall.Errno { return errno(h.f.Close()) }

// renameNoReplace is renameat2's RENAME_NOREPLACE flag.
const renameNoReplace = 0x1
