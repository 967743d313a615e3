package bbolt

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// bbolt's file starts with two meta pages, written alternately, each a
// 16-byte page header followed by the meta:
//
//	magic u32, version u32, pageSize u32, flags u32, root bucket (pgid u64,
//	sequence u64), freelist u64, pgid u64, txid u64, checksum u64
//
// in the machine's byte order, the checksum an FNV-64a of the bytes before it.
const (
	pageHeaderSize = 16
	metaSize       = 64
	metaSumOffset  = 56
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	minPageSize    = 1 << 10
	maxPageSize    = 1 << 24
)

// checkMetaPages requires both meta pages to be valid. bbolt itself opens a
// file with one bad meta page by falling back to the other, older one; when
// the bad page was the newer, that silently drops the last commit, an
// acknowledged Append. A torn meta write cannot be told from that, so both
// are reported; see the package documentation.
func checkMetaPages(fs vfs.FS, path string) error {
	f, err := vfs.Open(fs, path)
	if err != nil {
		return fmt.Errorf("bbolt: open %s: %w", path, err)
	}
	defer f.Close()
	pageSize := int64(0)
	for page := int64(0); page < 2; page++ {
		off := page * pageSize
		buf := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(buf, off); err == io.EOF || err == io.ErrUnexpectedEOF {
			return corruptMeta(path, off, page, "the file ends inside it")
		} else if err != nil {
			return fmt.Errorf("bbolt: read %s: %w", path, err)
		}
		size, reason := validMeta(buf[pageHeaderSize:])
		if reason != "" {
			return corruptMeta(path, off, page, reason)
		}
		if page == 0 {
			pageSize = size
		} else if size != pageSize {
			return corruptMeta(path, off, page, fmt.Sprintf("page size %d differs from meta page 0's %d", size, pageSize))
		}
	}
	return nil
}

// validMeta returns the page size a meta records, or why it is not valid.
func validMeta(m []byte) (pageSize int64, reason string) {
	order := binary.NativeEndian
	if magic := order.Uint32(m[0:]); magic != metaMagic {
		return 0, fmt.Sprintf("magic %08x, want %08x", magic, metaMagic)
	}
	if v := order.Uint32(m[4:]); v != metaVersion {
		return 0, fmt.Sprintf("version %d, want %d", v, metaVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	if sum, want := order.Uint64(m[metaSumOffset:]), h.Sum64(); sum != want {
		return 0, fmt.Sprintf("checksum mismatch (stored %016x, computed %016x)", sum, want)
	}
	size := int64(order.Uint32(m[8:]))
	if size < minPageSize || size > maxPageSize || size&(size-1) != 0 {
		return 0, fmt.Sprintf("page size %d is not a power of two from %d to %d", size, minPageSize, maxPageSize)
	}
	return size, ""
}

func corruptMeta(path string, off, page int64, reason string) error {
	return &backend.CorruptError{File: path, Offset: off, Reason: fmt.Sprintf("bbolt meta page %d: %s", page, reason)}
}
