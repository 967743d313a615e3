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
	// Clean: every line is a valid record, in index order, up to the end.
	Clean Verdict = iota
	// Torn: a bad or short record with nothing valid after it. In the last
	// segment this is a torn write, repaired by cutting it off; in any other
	// segment it is corruption.
	Torn
	// Corrupt: a bad record followed by a valid one, or a valid record holding
	// the wrong index. Never repaired.
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
	// record, or the whole length when Verdict is Clean.
	Good    int64
	Verdict Verdict
	// Damage describes the first bad record (File, Offset, Index, Reason)
	// when Verdict is Torn or Corrupt; nil when Clean.
	Damage *backend.CorruptError
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
		scan.Damage = damage
		if sr.wrongIndex {
			scan.Verdict = Corrupt
			return scan, nil
		}
		at, found, err := findValidLine(sr.br, sr.bad[1:], sr.off+1)
		if err != nil {
			return scan, fmt.Errorf("jsonl: read %s: %w", file, err)
		}
		scan.Verdict = Torn
		if found {
			scan.Verdict = Corrupt
			damage.Reason += fmt.Sprintf("; a valid record follows at offset %d", at)
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

// findValidLine reports whether any valid record starts at or after offset
// off, and where. pending holds the bytes from off already taken from br (no
// newline but possibly the last byte); the rest is read from br. A valid
// record ends at a newline and holds no other, so each newline-terminated span
// is searched for a line prefix from which the rest of the span decodes.
func findValidLine(br *bufio.Reader, pending []byte, off int64) (int64, bool, error) {
	span := append([]byte(nil), pending...) // pending may alias br's buffer
	var dec lineDecoder
	check := func() (int64, bool) {
		for p := 0; ; p++ {
			i := bytes.Index(span[p:], []byte(linePrefix))
			if i < 0 {
				return 0, false
			}
			p += i
			if _, _, err := dec.decode(span[p:]); err == nil {
				return off + int64(p), true
			}
		}
	}
	if n := len(span); n > 0 && span[n-1] == '\n' {
		if at, ok := check(); ok {
			return at, true, nil
		}
		off += int64(n)
		span = span[:0]
	}
	for {
		frag, err := br.ReadSlice('\n')
		span = append(span, frag...)
		switch err {
		case nil:
			if at, ok := check(); ok {
				return at, true, nil
			}
			off += int64(len(span))
			span = span[:0]
		case bufio.ErrBufferFull:
			// A record is at most maxLineLen bytes, so it cannot start before
			// the span's last maxLineLen bytes; drop the rest now and then.
			if drop := len(span) - maxLineLen; drop > maxLineLen {
				span = span[:copy(span, span[drop:])]
				off += int64(drop)
			}
		case io.EOF:
			return 0, false, nil // an unterminated span holds no record
		default:
			return 0, false, err
		}
	}
}
