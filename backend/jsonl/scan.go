package jsonl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
)

// Verdict is what ScanSegment concludes about a segment's bytes.
type Verdict int

const (
	// Clean: every line is a valid record, in index order, up to the end or
	// up to zero bytes that run to the end (a preallocated remainder).
	Clean Verdict = iota
	// Torn: a bad or short record that no valid record after it claims
	// durable (backend.Damage). In the last segment this is a torn write,
	// repaired by cutting it off; in any other segment it is corruption.
	Torn
	// Corrupt: a bad record that a valid record after it claims durable or
	// that is followed by a record of the old format, which claims nothing,
	// or a valid record holding the wrong index. Never repaired.
	Corrupt
)

// String returns "clean", "torn" or "corrupt".
func (v Verdict) String() string {
	switch v {
	case Clean:
		return "clean"
	case Torn:
		return "torn"
	case Corrupt:
		return "corrupt"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// SegmentScan is what ScanSegment found in one segment.
type SegmentScan struct {
	First uint64 // the index the segment starts at
	Last  uint64 // the last valid record's index; First-1 when there is none
	// Good is the length of the valid prefix: the offset of the first bad
	// record, or the end of the last record when Verdict is Clean.
	Good    int64
	Verdict Verdict
	// Padding counts the zero bytes after Good that run to the end of a
	// Clean segment: what is left of its preallocated space.
	Padding int64
	// Damage describes the first bad record (File, Offset, Index, Reason)
	// when Verdict is Torn or Corrupt; nil when Clean. When Corrupt because
	// of a later record, its Reason names that record.
	Damage *backend.CorruptError
	// Rule is what rule 4 was given when Verdict is Torn or Corrupt: the
	// damage and the durability claims of the valid records after it, as
	// if the segment were the last.
	Rule backend.Damage
}

// ScanSegment reads a segment's bytes from r and checks every record: its
// line layout, checksum, and that indexes run densely from first. It calls fn,
// when not nil, for each valid record before the first bad one; payload is
// valid only during the call. file names the segment in Damage.
//
// The error is r's read error or fn's error; damage to the bytes is reported
// in the result, never as the error, so a verifier can decide what it means.
func ScanSegment(r io.Reader, file string, first uint64, fn func(index uint64, payload []byte) error) (SegmentScan, error) {
	scan := SegmentScan{First: first, Last: first - 1}
	if first == 0 {
		return scan, fmt.Errorf("jsonl: scan %s: first index 0 is never valid", file)
	}
	sr := newSegmentReader(r, file, first)
	defer sr.release()
	for {
		index, payload, err := sr.read()
		if err == nil {
			if fn != nil {
				if err := fn(index, payload); err != nil {
					return scan, err
				}
			}
			scan.Last, scan.Good = index, sr.off
			continue
		}
		if err == io.EOF {
			return scan, nil
		}
		var damage *backend.CorruptError
		if !errors.As(err, &damage) {
			return scan, err
		}
		if sr.wrongIndex {
			scan.Damage, scan.Verdict = damage, Corrupt
			return scan, nil
		}
		// Rule 4 weighs claims against the index the bad line should
		// hold, not one parsed from its damaged bytes.
		damage.Index = sr.next
		rule := backend.Damage{Err: damage, LastFile: true}
		zero, rest, err := observeAfter(sr.br, sr.bad, sr.off, &rule)
		if err != nil {
			return scan, fmt.Errorf("jsonl: read %s: %w", file, err)
		}
		if zero {
			scan.Padding = int64(len(sr.bad)) + rest
			return scan, nil
		}
		scan.Rule, scan.Damage, scan.Verdict = rule, damage, Torn
		if !rule.Torn() {
			scan.Damage, scan.Verdict = rule.Corruption(), Corrupt
		}
		return scan, nil
	}
}

// readerSize is the read buffer per segment reader: large, so a replay makes
// few read syscalls, and pooled, so a replay allocates little.
const readerSize = 1 << 20

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// segmentReader streams a segment's records in order, checking each one.
type segmentReader struct {
	br   *bufio.Reader
	file string
	off  int64  // offset of the next line
	next uint64 // index the next record must hold
	long []byte // a line longer than br's buffer
	dec  lineDecoder

	// After read returns damage: the bad line's bytes read so far (aliasing
	// br's buffer until the next read), and whether it was a valid record
	// holding the wrong index.
	bad        []byte
	wrongIndex bool
}

func newSegmentReader(r io.Reader, file string, first uint64) *segmentReader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &segmentReader{br: br, file: file, next: first}
}

// release returns the read buffer to the pool; sr is unusable afterwards.
func (sr *segmentReader) release() {
	sr.br.Reset(nil)
	readers.Put(sr.br)
	sr.br = nil
}

// read returns the next record. At a clean end it returns io.EOF; for a bad
// record a *backend.CorruptError naming the file and offset; otherwise the
// underlying read error.
func (sr *segmentReader) read() (uint64, []byte, error) {
	line, err := sr.line()
	if err != nil {
		return 0, nil, err
	}
	index, payload, err := sr.dec.decode(line)
	if err != nil {
		sr.bad = line
		return 0, nil, sr.locate(err.(*backend.CorruptError))
	}
	if index != sr.next {
		sr.bad, sr.wrongIndex = line, true
		return 0, nil, sr.damage("holds index %d, want %d (an index gap or repeat)", index, sr.next)
	}
	sr.off += int64(len(line))
	sr.next++
	return index, payload, nil
}

// line returns the next whole line, newline included.
func (sr *segmentReader) line() ([]byte, error) {
	frag, err := sr.br.ReadSlice('\n')
	switch err {
	case nil:
		return frag, nil
	case io.EOF:
		if len(frag) == 0 {
			return nil, io.EOF
		}
		sr.bad = frag
		return nil, sr.damage("%d bytes without a terminating newline at the end (a torn write)", len(frag))
	case bufio.ErrBufferFull:
	default:
		return nil, fmt.Errorf("jsonl: read %s at offset %d: %w", sr.file, sr.off, err)
	}
	// A line longer than the buffer: a big record, or garbage without newlines.
	sr.long = append(sr.long[:0], frag...)
	if !bytes.HasPrefix(sr.long, []byte(linePrefix)) {
		sr.bad = sr.long
		return nil, sr.damage("line does not start with %s", linePrefix)
	}
	for {
		frag, err = sr.br.ReadSlice('\n')
		sr.long = append(sr.long, frag...)
		if bytes.IndexByte(frag, 0) >= 0 {
			// No record holds a zero byte: this is a torn record followed
			// by zeros (a lost page or a preallocated remainder). What
			// follows them is read by observeAfter.
			sr.bad = sr.long
			return nil, sr.damage("zero bytes inside a line")
		}
		if len(sr.long) > maxLineLen {
			sr.bad = sr.long
			return nil, sr.damage("line longer than the longest record (%d bytes)", maxLineLen)
		}
		switch err {
		case nil:
			return sr.long, nil
		case bufio.ErrBufferFull:
		case io.EOF:
			sr.bad = sr.long
			return nil, sr.damage("%d bytes without a terminating newline at the end (a torn write)", len(sr.long))
		default:
			return nil, fmt.Errorf("jsonl: read %s at offset %d: %w", sr.file, sr.off+int64(len(sr.long)), err)
		}
	}
}

func (sr *segmentReader) damage(format string, args ...any) *backend.CorruptError {
	return sr.locate(&backend.CorruptError{Reason: fmt.Sprintf(format, args...)})
}

// locate adds the file, the offset of the current line and, when the line did
// not name one, the index the line should have held.
func (sr *segmentReader) locate(e *backend.CorruptError) *backend.CorruptError {
	e.File, e.Offset = sr.file, sr.off
	if e.Index == 0 {
		e.Index = sr.next
	}
	return e
}

// observeAfter reads the rest of a segment after the bad record at offset
// off, whose bytes read so far are pending (aliasing br's buffer), notes
// every valid record in it with d.Observe, and reports whether everything
// from off to the end is zero bytes and how many bytes it read after
// pending. A valid record ends at a newline and holds no other, so each
// newline-terminated span is searched for a line prefix from which the rest
// of the span decodes.
func observeAfter(br *bufio.Reader, pending []byte, off int64, d *backend.Damage) (zero bool, rest int64, err error) {
	zero = allZero(pending)
	span := append([]byte(nil), pending[1:]...) // the bad line itself is not a record after it
	off++
	var dec lineDecoder
	check := func() {
		for p := 0; ; p++ {
			i := bytes.Index(span[p:], []byte(linePrefix))
			if i < 0 {
				return
			}
			p += i
			if index, _, err := dec.decode(span[p:]); err == nil {
				d.Observe(index, off+int64(p), dec.durable)
				return // it runs to the span's end
			}
		}
	}
	if n := len(span); n > 0 && span[n-1] == '\n' {
		check()
		off += int64(n)
		span = span[:0]
	}
	for {
		frag, err := br.ReadSlice('\n')
		zero = zero && allZero(frag)
		rest += int64(len(frag))
		span = append(span, frag...)
		switch err {
		case nil:
			check()
			off += int64(len(span))
			span = span[:0]
		case bufio.ErrBufferFull:
			// A record starts at a line prefix and is at most maxLineLen
			// bytes, so bytes before the first prefix, or before the span's
			// last maxLineLen bytes, cannot start one.
			drop := len(span) - (len(linePrefix) - 1)
			if i := bytes.Index(span, []byte(linePrefix)); i >= 0 {
				drop = max(i, len(span)-maxLineLen)
			}
			if drop > readerSize {
				span = span[:copy(span, span[drop:])]
				off += int64(drop)
			}
		case io.EOF:
			return zero, rest, nil // an unterminated span holds no record
		default:
			return zero, rest, err
		}
	}
}

var zeroPage [4096]byte

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
