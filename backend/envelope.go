package backend

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The envelope wraps a record for stores that have no checksum of their own
// (tidwall, bbolt) or whose checksum does not cover the index (pebble):
//
//	[0:4)   CRC32C (Castagnoli) of bytes [4:16+n)
//	[4:12)  index, big-endian
//	[12:16) payload length n, big-endian
//	[16:)   payload
//
// Index 0 is never valid, so an all-zero buffer never decodes as a record.
const (
	EnvelopeHeaderSize = 16
	// MaxRecordSize bounds one record; a longer length field is corruption,
	// never an allocation.
	MaxRecordSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC32C of b, the checksum every backend uses.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// AppendEnvelope appends the envelope of (index, payload) to dst.
func AppendEnvelope(dst []byte, index uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, EnvelopeHeaderSize)...)
	binary.BigEndian.PutUint64(dst[start+4:], index)
	binary.BigEndian.PutUint32(dst[start+12:], uint32(len(payload)))
	dst = append(dst, payload...)
	binary.BigEndian.PutUint32(dst[start:], Checksum(dst[start+4:]))
	return dst
}

// DecodeEnvelope checks that buf is exactly one envelope holding index want and
// returns its payload, which aliases buf. A failure is a *CorruptError with
// Index and Reason set; the caller adds File, Offset or Key.
func DecodeEnvelope(buf []byte, want uint64) ([]byte, error) {
	fail := func(format string, args ...any) error {
		return &CorruptError{Index: want, Offset: -1, Reason: fmt.Sprintf(format, args...)}
	}
	if len(buf) < EnvelopeHeaderSize {
		return nil, fail("envelope of %d bytes is shorter than its %d-byte header", len(buf), EnvelopeHeaderSize)
	}
	n := binary.BigEndian.Uint32(buf[12:])
	if n > MaxRecordSize || int(n) != len(buf)-EnvelopeHeaderSize {
		return nil, fail("envelope length %d does not match its %d payload bytes", n, len(buf)-EnvelopeHeaderSize)
	}
	if sum, got := binary.BigEndian.Uint32(buf), Checksum(buf[4:]); sum != got {
		return nil, fail("checksum mismatch (stored %08x, computed %08x)", sum, got)
	}
	if idx := binary.BigEndian.Uint64(buf[4:]); idx != want {
		return nil, fail("envelope holds index %d", idx)
	}
	return buf[EnvelopeHeaderSize:], nil
}
