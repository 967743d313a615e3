package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	tidwall "github.com/tidwall/wal"
	bolt "go.etcd.io/bbolt"

	"github.com/nautilus-go/nautilus/backend"
)

// The baselines write the same payload bytes as the backends with the same
// durability, without the framework: no envelope, no lock, no group commit.
// Each append is one library commit (one write and fdatasync for the plain
// file), so their fsync counts are known by construction, except pebble-raw
// whose own commit pipeline may merge syncs: it counts them at pebble's file
// layer.

// fdatasyncFile appends to one plain file and fdatasyncs it per append: the
// disk's own limit for a durable write. With chunk > 0 (fdatasync-prealloc)
// the file is allocated ahead of the writes, chunk bytes at a time, with
// fallocate extending its size, as etcd's wal and hashicorp/raft-wal
// allocate their segments: each fdatasync then has data to write but no file
// size to record.
type fdatasyncFile struct {
	mu    sync.Mutex
	f     *os.File
	buf   []byte
	mode  backend.SyncMode
	size  int
	count int64
	chunk int64 // bytes allocated at a time; 0 for a file that grows by its writes
	end   int64 // preallocated: where the records end and the next write goes
	alloc int64 // preallocated: bytes allocated, the file's size
}

// preallocChunk is what fdatasync-prealloc allocates at a time: etcd's wal
// segment size. A default run writes a few megabytes per row, so the whole
// row fits in the chunk allocated at open, before the timed loop.
const preallocChunk = 64 << 20

func openFdatasync(_ context.Context, o storeOptions) (store, error) { return openPlainFile(o, 0) }

func openFdatasyncPrealloc(_ context.Context, o storeOptions) (store, error) {
	return openPlainFile(o, preallocChunk)
}

// openPlainFile opens the fdatasync baselines' file; chunk > 0 preallocates
// it chunk bytes at a time.
func openPlainFile(o storeOptions, chunk int64) (*fdatasyncFile, error) {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, err
	}
	flags := os.O_RDWR | os.O_CREATE | os.O_APPEND
	if chunk > 0 {
		flags = os.O_RDWR | os.O_CREATE // writes go at end, inside the allocated size
	}
	f, err := os.OpenFile(filepath.Join(o.dir, "fdatasync.log"), flags, 0o600)
	if err != nil {
		return nil, err
	}
	s := &fdatasyncFile{f: f, mode: o.sync, size: o.size, chunk: chunk}
	if chunk == 0 {
		return s, nil
	}
	err = s.openPreallocated()
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// openPreallocated finds where an existing file's records end and, when
// no room is left after them (a new file has none), allocates a chunk, made
// durable before the first append.
func (s *fdatasyncFile) openPreallocated() error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	s.alloc = fi.Size()
	if s.end, err = recordsEnd(s.f, s.alloc, s.size); err != nil {
		return err
	}
	return s.reserve(1, true)
}

// recordsEnd returns where the records of a preallocated file of fileSize
// bytes end: at the first record slot whose first byte is zero. Records are
// written whole and in order, and no payload holds a zero byte, so the
// slots in use are a prefix and a binary search over first bytes finds it.
func recordsEnd(f *os.File, fileSize int64, size int) (int64, error) {
	var (
		b       [1]byte
		readErr error
	)
	n := sort.Search(int(fileSize/int64(size)), func(k int) bool {
		if readErr != nil {
			return true
		}
		if _, err := f.ReadAt(b[:], int64(k)*int64(size)); err != nil {
			readErr = err
			return true
		}
		return b[0] == 0
	})
	if readErr != nil {
		return 0, readErr
	}
	return int64(n) * int64(size), nil
}

// reserve allocates whole chunks until n more bytes fit after the records,
// and, when durable, fsyncs the allocation so that no later fdatasync
// carries it. Growing during a run costs the append that crosses a chunk,
// as cutting a segment costs the peers' writer.
func (s *fdatasyncFile) reserve(n int64, durable bool) error {
	if s.end+n <= s.alloc {
		return nil
	}
	grow := (s.end + n - s.alloc + s.chunk - 1) / s.chunk * s.chunk
	if err := preallocate(s.f, s.alloc, grow); err != nil {
		return err
	}
	s.alloc += grow
	if !durable {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.count++
	return nil
}

// preallocate allocates [off, off+n) of f and extends its size over it.
// Where the file system has no fallocate, it writes zeros instead: the
// blocks are then allocated all the same.
func preallocate(f *os.File, off, n int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, off, n)
		switch err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		case syscall.EOPNOTSUPP:
			return zeroFill(f, off, n)
		}
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}

// zeroFill writes n zero bytes at off.
func zeroFill(f *os.File, off, n int64) error {
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

func (s *fdatasyncFile) append(_ context.Context, recs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := recs[0]
	if len(recs) > 1 {
		s.buf = s.buf[:0]
		for _, r := range recs {
			s.buf = append(s.buf, r...)
		}
		data = s.buf
	}
	if err := s.write(data); err != nil {
		return err
	}
	if s.mode == backend.SyncNone {
		return nil
	}
	s.count++
	return fdatasync(s.f)
}

// write appends data: at the end of a growing file, or into the allocated
// region of a preallocated one.
func (s *fdatasyncFile) write(data []byte) error {
	if s.chunk == 0 {
		_, err := s.f.Write(data)
		return err
	}
	if err := s.reserve(int64(len(data)), s.mode == backend.SyncAlways); err != nil {
		return err
	}
	if _, err := s.f.WriteAt(data, s.end); err != nil {
		return err
	}
	s.end += int64(len(data))
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// replay reads the file back in records of the run's size.
func (s *fdatasyncFile) replay(ctx context.Context, fn func([]byte)) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := int64(1 << 62)
	if s.chunk > 0 {
		end = s.end // the zeros after it are allocated, not written
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, end), 1<<16)
	rec := make([]byte, s.size)
	var n int64
	for {
		if _, err := io.ReadFull(r, rec); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n++
		fn(rec)
	}
}

func (s *fdatasyncFile) truncateFront(context.Context, uint64) error { return errUnsupported }

func (s *fdatasyncFile) syncs() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *fdatasyncFile) close() error { return s.f.Close() }

// tidwallRaw is github.com/tidwall/wal with its default options; NoSync false
// makes every Write fsync. The library needs each index in order, so writers
// take turns: it has no group commit of its own.
type tidwallRaw struct {
	mu    sync.Mutex
	log   *tidwall.Log
	next  uint64
	batch tidwall.Batch
	mode  backend.SyncMode
	count int64
}

func openTidwallRaw(_ context.Context, o storeOptions) (store, error) {
	opts := *tidwall.DefaultOptions
	opts.NoSync = o.sync == backend.SyncNone
	l, err := tidwall.Open(o.dir, &opts)
	if err != nil {
		return nil, err
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		return nil, err
	}
	return &tidwallRaw{log: l, next: last + 1, mode: o.sync}, nil
}

func (s *tidwallRaw) append(_ context.Context, recs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if len(recs) == 1 {
		err = s.log.Write(s.next, recs[0])
	} else {
		s.batch.Clear()
		for i, r := range recs {
			s.batch.Write(s.next+uint64(i), r)
		}
		err = s.log.WriteBatch(&s.batch)
	}
	if err != nil {
		return err
	}
	s.next += uint64(len(recs))
	if s.mode == backend.SyncAlways {
		s.count++
	}
	return nil
}

func (s *tidwallRaw) replay(ctx context.Context, fn func([]byte)) (int64, error) {
	first, err := s.log.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := s.log.LastIndex()
	if err != nil || first == 0 {
		return 0, err
	}
	var n int64
	for i := first; i <= last; i++ {
		data, err := s.log.Read(i)
		if err != nil {
			return n, err
		}
		n++
		fn(data)
	}
	return n, nil
}

func (s *tidwallRaw) truncateFront(_ context.Context, before uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if before >= s.next {
		// tidwall keeps at least one entry; keep the last, as the framework's
		// tidwall backend must.
		before = s.next - 1
	}
	return s.log.TruncateFront(before)
}

func (s *tidwallRaw) syncs() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *tidwallRaw) close() error { return s.log.Close() }

// pebbleRaw is a pebble DB with its default options, one Set (or a batch)
// with pebble.Sync per append. Concurrent writers share pebble's own commit
// pipeline, which may merge their WAL syncs.
type pebbleRaw struct {
	db    *pebble.DB
	next  atomic.Uint64
	write *pebble.WriteOptions
	fs    *syncCountingFS
}

func openPebbleRaw(_ context.Context, o storeOptions) (store, error) {
	fs := &syncCountingFS{FS: vfs.Default}
	db, err := pebble.Open(o.dir, &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		return nil, err
	}
	s := &pebbleRaw{db: db, fs: fs, write: pebble.Sync}
	if o.sync == backend.SyncNone {
		s.write = pebble.NoSync
	}
	it, err := db.NewIter(nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	if it.Last() {
		s.next.Store(binary.BigEndian.Uint64(it.Key()))
	}
	if err := it.Close(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func indexKey(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

func (s *pebbleRaw) append(_ context.Context, recs [][]byte) error {
	last := s.next.Add(uint64(len(recs)))
	first := last - uint64(len(recs)) + 1
	if len(recs) == 1 {
		return s.db.Set(indexKey(first), recs[0], s.write)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for i, r := range recs {
		if err := b.Set(indexKey(first+uint64(i)), r, nil); err != nil {
			return err
		}
	}
	return b.Commit(s.write)
}

func (s *pebbleRaw) replay(ctx context.Context, fn func([]byte)) (int64, error) {
	it, err := s.db.NewIterWithContext(ctx, nil)
	if err != nil {
		return 0, err
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
		fn(it.Value())
	}
	if err := it.Close(); err != nil {
		return n, err
	}
	return n, nil
}

func (s *pebbleRaw) truncateFront(_ context.Context, before uint64) error {
	return s.db.DeleteRange(indexKey(0), indexKey(before), s.write)
}

func (s *pebbleRaw) syncs() int64 { return s.fs.syncs.Load() }

func (s *pebbleRaw) close() error { return s.db.Close() }

// bboltRaw is a bbolt DB with its default options, one Update per append.
// Update runs one writer at a time and its commit fdatasyncs twice (the data
// pages, then the meta page); that commit counts as one fsync here, as the
// framework counts one driver commit.
type bboltRaw struct {
	db    *bolt.DB
	mode  backend.SyncMode
	count atomic.Int64
}

var bboltBucket = []byte("wal")

func openBboltRaw(_ context.Context, o storeOptions) (store, error) {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(o.dir, "bbolt.db"), 0o600, &bolt.Options{NoSync: o.sync == backend.SyncNone})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bboltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &bboltRaw{db: db, mode: o.sync}, nil
}

func (s *bboltRaw) append(_ context.Context, recs [][]byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bboltBucket)
		for _, r := range recs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(indexKey(seq), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && s.mode == backend.SyncAlways {
		s.count.Add(1)
	}
	return err
}

func (s *bboltRaw) replay(ctx context.Context, fn func([]byte)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			fn(v)
		}
		return nil
	})
	return n, err
}

func (s *bboltRaw) truncateFront(_ context.Context, before uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < before; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return fmt.Errorf("delete %x: %w", k, err)
			}
		}
		return nil
	})
}

func (s *bboltRaw) syncs() int64 { return s.count.Load() }

func (s *bboltRaw) close() error { return s.db.Close() }
