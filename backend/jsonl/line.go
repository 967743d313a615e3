package jsonl

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/nautilus-go/nautilus/backend"
)

// A record is one line in a fixed layout, so it can be decoded without
// reflection:
//
//	{"i":<index>,"s":<durable>,"c":"<crc, 8 lower-case hex digits>","d":<payload as JSON>}\n
//	{"i":<index>,"s":<durable>,"c":"<crc, 8 lower-case hex digits>","b":"<payload as base64>"}\n
//
// "s" is the record's durability claim (backend.Damage). Lines written before
// it existed lack it; they still decode, claiming backend.NoClaim.
const (
	linePrefix = `{"i":`
	claimKey   = `,"s":`
	crcKey     = `,"c":"`
	jsonKey    = `","d":`
	base64Key  = `","b":"`
)

// maxLineLen is the longest line a record of MaxRecordSize bytes encodes to;
// a longer line is damage, never an allocation.
var maxLineLen = len(linePrefix) + 20 + len(claimKey) + 20 + len(crcKey) + 8 + len(base64Key) +
	base64.StdEncoding.EncodedLen(backend.MaxRecordSize) + len("\"}\n")

// castagnoli is the CRC32C table; hash/crc32 returns the one table
// backend.Checksum uses, so the sums agree (TestRecordChecksumIsCRC32C).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordChecksum is the CRC32C of the index (8 bytes, big-endian), then the
// durability claim (8 bytes, big-endian; absent when it is backend.NoClaim,
// as in lines of the old format), then the exact payload bytes, computed
// without copying the payload. The header bytes are put in hdr's spare
// capacity, so a caller with a reused buffer does not allocate.
func recordChecksum(hdr []byte, index, durable uint64, payload []byte) uint32 {
	hdr = binary.BigEndian.AppendUint64(hdr[:0], index)
	if durable != backend.NoClaim {
		hdr = binary.BigEndian.AppendUint64(hdr, durable)
	}
	return crc32.Update(backend.Checksum(hdr), castagnoli, payload)
}

// AppendLine appends the line, newline included, that records payload under
// index to dst and returns the extended slice. durable is the index through
// which the log was durable when the line is written, below index; a
// durable of backend.NoClaim writes the old format, without "s". A payload
// that is valid JSON is embedded verbatim under "d"; any other payload is
// base64 under "b".
func AppendLine(dst []byte, index, durable uint64, payload []byte) []byte {
	dst = append(dst, linePrefix...)
	dst = strconv.AppendUint(dst, index, 10)
	if durable != backend.NoClaim {
		dst = append(dst, claimKey...)
		dst = strconv.AppendUint(dst, durable, 10)
	}
	dst = append(dst, crcKey...)
	dst = appendHex32(dst, recordChecksum(dst[len(dst):], index, durable, payload))
	if embeddable(payload) {
		dst = append(dst, jsonKey...)
		dst = append(dst, payload...)
		return append(dst, '}', '\n')
	}
	dst = append(dst, base64Key...)
	dst = base64.StdEncoding.AppendEncode(dst, payload)
	return append(dst, '"', '}', '\n')
}

// DecodeLine decodes one line, its terminating newline included, as written
// by AppendLine, and verifies its checksum. The payload aliases line when it
// was embedded as JSON. A failure is a *backend.CorruptError whose Reason says
// what is wrong and whose Offset is -1 (the caller knows where the line was).
// Zero bytes, a line without its newline and index 0 never decode.
func DecodeLine(line []byte) (index uint64, payload []byte, err error) {
	index, payload, _, err = DecodeLineClaim(line)
	return index, payload, err
}

// DecodeLineClaim is DecodeLine that also returns the line's durability
// claim: backend.NoClaim for a line of the old format.
func DecodeLineClaim(line []byte) (index uint64, payload []byte, durable uint64, err error) {
	if i := bytes.IndexByte(line, '\n'); i >= 0 && i != len(line)-1 {
		return 0, nil, 0, lineError(0, "newline at byte %d inside the line", i)
	}
	var d lineDecoder
	index, payload, err = d.decode(line)
	return index, payload, d.durable, err
}

// lineDecoder holds the buffers decoding reuses from line to line.
type lineDecoder struct {
	scratch []byte   // base64 payloads are decoded here
	hdr     [16]byte // the index and claim bytes under the checksum
	durable uint64   // the claim of the line decode last accepted
}

// decode is DecodeLine for a line known to hold no newline but its last
// byte. A base64 payload is decoded into d.scratch, valid until the next call.
func (d *lineDecoder) decode(line []byte) (index uint64, payload []byte, err error) {
	n := len(line)
	if n == 0 || line[n-1] != '\n' {
		return 0, nil, lineError(0, "line has no terminating newline (a torn write)")
	}
	if !bytes.HasPrefix(line, []byte(linePrefix)) {
		return 0, nil, lineError(0, "line does not start with %s", linePrefix)
	}
	pos := len(linePrefix)
	index, pos, ok := parseUint(line, pos)
	if !ok {
		return 0, nil, lineError(0, "bad index at byte %d", len(linePrefix))
	}
	if index == 0 {
		return 0, nil, lineError(0, "index 0 is never valid")
	}
	durable := backend.NoClaim
	if bytes.HasPrefix(line[pos:], []byte(claimKey)) {
		var ok bool
		if durable, pos, ok = parseUint(line, pos+len(claimKey)); !ok || durable >= index {
			return 0, nil, lineError(index, "bad durability claim at byte %d", pos)
		}
	}
	if !bytes.HasPrefix(line[pos:], []byte(crcKey)) {
		return 0, nil, lineError(index, "missing checksum at byte %d", pos)
	}
	pos += len(crcKey)
	sum, ok := parseHex32(line, pos)
	if !ok {
		return 0, nil, lineError(index, "bad checksum digits at byte %d", pos)
	}
	pos += 8
	switch {
	case bytes.HasPrefix(line[pos:], []byte(jsonKey)):
		pos += len(jsonKey)
		end := n - 2 // the payload is followed by "}\n"
		if end <= pos || line[end] != '}' {
			return 0, nil, lineError(index, "bad JSON payload framing")
		}
		payload = line[pos:end]
	case bytes.HasPrefix(line[pos:], []byte(base64Key)):
		pos += len(base64Key)
		end := n - 3 // the payload is followed by "\"}\n"
		if end < pos || line[end] != '"' || line[end+1] != '}' {
			return 0, nil, lineError(index, "bad base64 payload framing")
		}
		enc := line[pos:end]
		if bytes.IndexByte(enc, '\r') >= 0 { // the decoder would skip it
			return 0, nil, lineError(index, "carriage return in base64 payload")
		}
		size := base64.StdEncoding.DecodedLen(len(enc))
		if size > backend.MaxRecordSize+2 {
			return 0, nil, lineError(index, "payload longer than MaxRecordSize")
		}
		if cap(d.scratch) < size {
			d.scratch = make([]byte, size)
		}
		got, err := base64.StdEncoding.Strict().Decode(d.scratch[:size], enc)
		if err != nil {
			return 0, nil, &backend.CorruptError{Offset: -1, Index: index, Reason: "bad base64 payload", Err: err}
		}
		payload = d.scratch[:got]
	default:
		return 0, nil, lineError(index, `missing "d" or "b" payload at byte %d`, pos)
	}
	if len(payload) > backend.MaxRecordSize {
		return 0, nil, lineError(index, "payload of %d bytes exceeds MaxRecordSize", len(payload))
	}
	if got := recordChecksum(d.hdr[:], index, durable, payload); got != sum {
		return 0, nil, lineError(index, "checksum mismatch (stored %08x, computed %08x)", sum, got)
	}
	d.durable = durable
	return index, payload, nil
}

func lineError(index uint64, format string, args ...any) *backend.CorruptError {
	return &backend.CorruptError{Offset: -1, Index: index, Reason: fmt.Sprintf(format, args...)}
}

// parseUint reads a canonical decimal (no sign, no leading zero) at b[pos:]
// and returns it with the position after it.
func parseUint(b []byte, pos int) (uint64, int, bool) {
	start := pos
	var v uint64
	for pos < len(b) && b[pos] >= '0' && b[pos] <= '9' {
		d := uint64(b[pos] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, pos, false
		}
		v = v*10 + d
		pos++
	}
	if pos == start || (b[start] == '0' && pos-start > 1) {
		return 0, pos, false
	}
	return v, pos, true
}

const hexDigits = "0123456789abcdef"

func appendHex32(dst []byte, v uint32) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[v>>uint(shift)&0xf])
	}
	return dst
}

// hexValue maps a lower-case hex digit to its value and any other byte to
// 0xff, so parseHex32 decodes without a branch per digit (a switch per digit
// was a sixth of Replay's time).
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range hexDigits {
		t[c] = byte(i)
	}
	return t
}()

// parseHex32 reads exactly 8 lower-case hex digits at b[pos:].
func parseHex32(b []byte, pos int) (uint32, bool) {
	if len(b)-pos < 8 {
		return 0, false
	}
	d := b[pos : pos+8]
	var v uint32
	var bad byte
	for _, c := range d {
		x := hexValue[c]
		bad |= x
		v = v<<4 | uint32(x&0xf)
	}
	return v, bad&0xf0 == 0
}
