package tidwall

import (
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// A segment file holds frames, each tidwall's binary entry (a uvarint length
// followed by that many bytes) wrapping one record in the shared envelope. The
// file is named after the index of its first record, 20 decimal digits.
const segmentNameLen = 20

func segmentName(index uint64) string { return fmt.Sprintf("%020d", index) }

// segment is one file the library will load, in the library's order.
type segment struct {
	path  string // as found: a ".START" file is renamed by the library at Open
	index uint64 // the index of its first record, from its name
}

// ownsSegmentName reports whether name, in the segments directory, is one
// the library or this adapter writes: a segment (20 digits naming an index
// from 1), the library's .START and .END files and the .TEMP files it writes
// them through, and the copies backend.RepairTail keeps (.broken, .broken.N,
// and their .tmp while being written).
func ownsSegmentName(name string) bool {
	if len(name) < segmentNameLen {
		return false
	}
	index, err := strconv.ParseUint(name[:segmentNameLen], 10, 64)
	if err != nil || index == 0 {
		return false
	}
	switch rest := name[segmentNameLen:]; rest {
	case "", ".START", ".END", ".START.TEMP", ".END.TEMP":
		return true
	default:
		return brokenCopySuffix.MatchString(rest)
	}
}

var brokenCopySuffix = regexp.MustCompile(`^` + regexp.QuoteMeta(backend.BrokenSuffix) + `(\.[0-9]+)?(\.tmp)?$`)

// listSegments returns the segments the library's Open will keep, applying
// its rules for names exactly: a 20-digit name is a segment, a ".START" one is
// an interrupted TruncateFront that replaces every segment before it. Other
// names (lock, .broken copies, temporary files) are not segments, and a name
// neither the library nor this adapter writes is refused, naming it.
func listSegments(fs vfs.FS, dir string) ([]segment, error) {
	if err := backend.CheckDir(fs, dir, ownsSegmentName); err != nil {
		return nil, err
	}
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tidwall: list segments in %s: %w", dir, err)
	}
	var segs []segment
	start := -1
	for _, name := range names {
		if len(name) < segmentNameLen {
			continue
		}
		index, err := strconv.ParseUint(name[:segmentNameLen], 10, 64)
		if err != nil || index == 0 {
			continue
		}
		isStart := len(name) == segmentNameLen+len(".START") && strings.HasSuffix(name, ".START")
		isEnd := len(name) == segmentNameLen+len(".END") && strings.HasSuffix(name, ".END")
		if len(name) != segmentNameLen && !isStart && !isEnd {
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := fs.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("tidwall: stat segment %s: %w", path, err)
		}
		if fi.IsDir() {
			return nil, &iofs.PathError{Op: "tidwall: unexpected directory", Path: path, Err: backend.ErrForeignFile}
		}
		if isEnd {
			// The library would delete every segment after it; this adapter
			// never truncates the back, so the file is not ours to obey.
			return nil, &backend.CorruptError{File: path, Offset: -1, Index: index,
				Reason: "unexpected truncate-back segment (this backend never truncates the back)"}
		}
		if isStart {
			start = len(segs)
		}
		segs = append(segs, segment{path: path, index: index})
	}
	if start >= 0 {
		segs = segs[start:]
	}
	return segs, nil
}

// frame returns the envelope of the frame at the start of data and the
// frame's whole length, or a reason it is not a whole frame.
func frame(data []byte) (env []byte, n int, reason string) {
	size, k := binary.Uvarint(data)
	if k <= 0 {
		return nil, 0, "unreadable length prefix"
	}
	if size > uint64(len(data)-k) {
		return nil, 0, fmt.Sprintf("record of %d bytes runs past the end of the file (%d bytes left)", size, len(data)-k)
	}
	return data[k : k+int(size)], k + int(size), ""
}

// frameSize returns the bytes the library writes for an envelope of n bytes.
func frameSize(n int) int64 {
	var buf [binary.MaxVarintLen64]byte
	return int64(binary.PutUvarint(buf[:], uint64(n)) + n)
}

// scan is what checkSegment found in one segment file.
type scan struct {
	records uint64                // whole, valid records from the start
	good    int64                 // bytes they take
	bad     *backend.CorruptError // the first bad record, or nil
}

// checkSegment verifies every frame of a segment whose first record has
// index first: framing, checksum, length and index.
func checkSegment(path string, data []byte, first uint64) scan {
	var s scan
	for s.good < int64(len(data)) {
		index := first + s.records
		env, n, reason := frame(data[s.good:])
		if reason == "" {
			if _, err := backend.DecodeEnvelope(env, index); err != nil {
				reason = err.Error()
				var ce *backend.CorruptError
				if errors.As(err, &ce) {
					reason = ce.Reason
				}
			}
		}
		if reason != "" {
			s.bad = &backend.CorruptError{File: path, Offset: s.good, Index: index, Reason: reason}
			return s
		}
		s.records++
		s.good += int64(n)
	}
	return s
}

// observeAfter notes with d.Observe every valid envelope in a frame starting
// at any offset after the bad record at offset bad: a torn write leaves no
// record after it that claims it durable, so such a record means corruption.
// Indexes at or beyond first plus the file's length cannot be in the file,
// which rejects almost every offset of a garbage tail before its checksum is
// computed.
func observeAfter(data []byte, bad int64, first uint64, d *backend.Damage) {
	limit := first + uint64(len(data))
	for p := int(bad) + 1; p < len(data); p++ {
		size, k := binary.Uvarint(data[p:])
		if k <= 0 || size < backend.EnvelopeHeaderSize || size > uint64(len(data)-p-k) {
			continue
		}
		env := data[p+k : p+k+int(size)]
		index := binary.BigEndian.Uint64(env[4:12])
		if index == 0 || index >= limit {
			continue
		}
		if _, durable, err := backend.DecodeEnvelopeClaim(env, index); err == nil {
			d.Observe(index, int64(p), durable)
		}
	}
}

// loaded is the log as checkSegments left it, ready for the library.
type loaded struct {
	starts    []uint64 // first index of each segment
	first     uint64   // first index of the log
	last      uint64   // last index of the log (first-1 when empty)
	tailBytes int64    // size of the last segment
}

// checkSegments checks the log before the library opens it: the library has
// no checksum and panics on an index gap. Only the last segment can hold a
// torn write (the library fsyncs a segment before it starts the next), so
// only it is read whole; a sealed segment is checked at its ends (see
// sealedEnds). A torn tail of the last segment is repaired; any other damage
// found is returned as a *backend.CorruptError with nothing modified.
func checkSegments(fs vfs.FS, segs []segment, cfg backend.Config) (loaded, error) {
	return walkSegments(fs, segs, false, func(d backend.Damage) error {
		return backend.ResolveDamage(fs, d, cfg.Log(), cfg.Observe())
	})
}

// walkSegments verifies the segments and that each starts where the one
// before it ends: every record of every segment when full is set, else every
// record of the last and the ends of the others, reading a sealed segment
// whole only when its ends are wrong, to name the damage. resolve decides
// what a bad record means: nil goes on as if the segment ended before it (a
// torn tail).
func walkSegments(fs vfs.FS, segs []segment, full bool, resolve func(backend.Damage) error) (loaded, error) {
	l := loaded{first: 1}
	if len(segs) == 0 {
		return l, nil
	}
	l.first = segs[0].index
	for i, seg := range segs {
		last := i == len(segs)-1
		l.starts = append(l.starts, seg.index)
		if !last && !full {
			ok, err := sealedEnds(fs, seg, segs[i+1].index)
			if err != nil {
				return loaded{}, err
			}
			if ok {
				continue
			}
		}
		data, err := vfs.ReadFile(fs, seg.path)
		if err != nil {
			return loaded{}, fmt.Errorf("tidwall: read segment %s: %w", seg.path, err)
		}
		s := checkSegment(seg.path, data, seg.index)
		if s.bad != nil {
			// The library fsyncs a segment before it starts the next, so
			// only the last can hold a torn write.
			d := backend.Damage{Err: s.bad, LastFile: last}
			observeAfter(data, s.bad.Offset, seg.index, &d)
			if err := resolve(d); err != nil {
				return loaded{}, err
			}
		}
		end := seg.index + s.records
		if !last && end != segs[i+1].index {
			next := segs[i+1]
			return loaded{}, &backend.CorruptError{File: next.path, Offset: 0, Index: end,
				Reason: fmt.Sprintf("index gap: segment starts at index %d but %s ends at index %d",
					next.index, filepath.Base(seg.path), end-1)}
		}
		l.last = end - 1
		l.tailBytes = s.good
	}
	return l, nil
}

// endsChunk is the bytes sealedEnds reads at each end of a segment first;
// it reads more only for a record that does not fit.
const endsChunk = 64 << 10

// sealedEnds reports whether the sealed segment seg, followed by a segment
// starting at next, begins with a valid record of its own index and ends,
// at the end of the file, with a valid record of index next-1. That finds a
// deleted, shortened, overlong or misnamed segment and appended bytes
// without reading the records between; damage between the ends is found by
// Replay, which checks every record, and by the operator tools.
func sealedEnds(fs vfs.FS, seg segment, next uint64) (bool, error) {
	f, err := vfs.Open(fs, seg.path)
	if err != nil {
		return false, fmt.Errorf("tidwall: open segment %s: %w", seg.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("tidwall: stat segment %s: %w", seg.path, err)
	}
	size := fi.Size()
	read := func(off, n int64) ([]byte, error) {
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("tidwall: read segment %s at %d: %w", seg.path, off, err)
		}
		return buf, nil
	}
	if size == 0 || next <= seg.index {
		return false, nil
	}
	head, err := read(0, min(size, endsChunk))
	if err != nil {
		return false, err
	}
	if n, k := binary.Uvarint(head); k > 0 && n <= uint64(size) && uint64(k)+n > uint64(len(head)) {
		if head, err = read(0, int64(k)+int64(n)); err != nil {
			return false, err
		}
	}
	env, _, reason := frame(head)
	if reason != "" {
		return false, nil
	}
	if _, err := backend.DecodeEnvelope(env, seg.index); err != nil {
		return false, nil
	}
	for n := min(size, endsChunk); ; n = min(size, 2*n) {
		buf, err := read(size-n, n)
		if err != nil {
			return false, err
		}
		if lastFrameIs(buf, next-1) {
			return true, nil
		}
		if n == size || n >= backend.MaxRecordSize+2*binary.MaxVarintLen64 {
			return false, nil
		}
	}
}

// lastFrameIs reports whether data ends with a frame holding a valid
// envelope of index want. It tries every start from the end backwards; an
// envelope's checksum is computed only when its frame reaches the end of
// data exactly and its header names want, so other starts cost little.
func lastFrameIs(data []byte, want uint64) bool {
	for p := len(data) - 1 - backend.EnvelopeHeaderSize; p >= 0; p-- {
		size, k := binary.Uvarint(data[p:])
		if k <= 0 || size != uint64(len(data)-p-k) {
			continue
		}
		env := data[p+k:]
		if binary.BigEndian.Uint64(env[4:12]) != want {
			continue
		}
		if _, err := backend.DecodeEnvelope(env, want); err == nil {
			return true
		}
	}
	return false
}
