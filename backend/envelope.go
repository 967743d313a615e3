package backend

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The envelope wraps a record for stores that have no checksum of their own
// (tidwall, bbolt) or whose checksum does not cover the index (pebble). It has
// two forms, told apart by the top bit of the length field:
//
//	[0:4)   CRC32C (Castagnoli) of bytes [4:end)
//	[4:12)  index, big-endian
//	[12:16) payload length n, big-endian; top bit set in the claiming form
//	[16:24) claiming form only: the durability claim, big-endian
//	[..:)   payload
//
// The claiming form (AppendEnvelopeClaim) also carries the index through
// which the log was durable when the record was written, which lets Open
// tell a torn write from damage to durable records (Damage, rule 4 of
// docs/design.md). The plain form is what logs written before it hold; it
// still decodes, and claims nothing. Index 0 is never valid, so an all-zero
// buffer never decodes as a record.
const (
	EnvelopeHeaderSize = 16
	// EnvelopeClaimHeaderSize is the header of the claiming form.
	EnvelopeClaimHeaderSize = 24
	// MaxRecordSize bounds one record; a longer length field is corruption,
	// never an allocation.
	MaxRecordSize = 256 << 20
)

// claimFlag marks the claiming form in the length field; MaxRecordSize
// leaves the top bits of a length free.
const claimFlag = 1 << 31

// NoClaim is the durability claim of a record that carries none (the plain
// envelope, a jsonl line of the old format): it is taken to claim that
// everything before it was durable, which is what rule 4 assumed before
// records carried claims.
const NoClaim = ^uint64(0)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC32C of b, the checksum every backend uses.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// AppendEnvelope appends the plain envelope of (index, payload) to dst.
func AppendEnvelope(dst []byte, index uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, EnvelopeHeaderSize)...)
	binary.BigEndian.PutUint64(dst[start+4:], index)
	binary.BigEndian.PutUint32(dst[start+12:], uint32(len(payload)))
	dst = append(dst, payload...)
	binary.BigEndian.PutUint32(dst[start:], Checksum(dst[start+4:]))
	return dst
}

// AppendEnvelopeClaim appends the claiming envelope of (index, payload) to
// dst: durable is the index through which the log was durable (fsync'd) when
// this record was written, below index.
func AppendEnvelopeClaim(dst []byte, index, durable uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, EnvelopeClaimHeaderSize)...)
	binary.BigEndian.PutUint64(dst[start+4:], index)
	binary.BigEndian.PutUint32(dst[start+12:], uint32(len(payload))|claimFlag)
	binary.BigEndian.PutUint64(dst[start+16:], durable)
	dst = append(dst, payload...)
	binary.BigEndian.PutUint32(dst[start:], Checksum(dst[start+4:]))
	return dst
}

// DecodeEnvelope checks that buf is exactly one envelope, of either form,
// holding index want and returns its payload, which aliases buf. A failure
// is a *CorruptError with Index and Reason set; the caller adds File, Offset
// or Key.
func DecodeEnvelope(buf []byte, want uint64) ([]byte, error) {
	payload, _, err := DecodeEnvelopeClaim(buf, want)
	return payload, err
}

// DecodeEnvelopeClaim is DecodeEnvelope that also returns the record's
// durability claim: NoClaim for the plain form.
func DecodeEnvelopeClaim(buf []byte, want uint64) (payload []byte, durable uint64, err error) {
	fail := func(format string, args ...any) error {
		return &CorruptError{Index: want, Offset: -1, Reason: fmt.Sprintf(format, args...)}
	}
	if len(buf) < EnvelopeHeaderSize {
		return nil, 0, fail("envelope of %d bytes is shorter than its %d-byte header", len(buf), EnvelopeHeaderSize)
	}
	header, durable := EnvelopeHeaderSize, NoClaim
	n := binary.BigEndian.Uint32(buf[12:])
	if n&claimFlag != 0 {
		header, n = EnvelopeClaimHeaderSize, n&^claimFlag
		if len(buf) < header {
			return nil, 0, fail("envelope of %d bytes is shorter than its %d-byte header", len(buf), header)
		}
	}
	if n > MaxRecordSize || int(n) != len(buf)-header {
		return nil, 0, fail("envelope length %d does not match its %d payload bytes", n, len(buf)-header)
	}
	if sum, got := binary.BigEndian.Uint32(buf), Checksum(buf[4:]); sum != got {
		return nil, 0, fail("checksum mismatch (stored %08x, computed %08x)", sum, got)
	}
	idx := binary.BigEndian.Uint64(buf[4:])
	if idx != want {
		return nil, 0, fail("envelope holds index %d", idx)
	}
	if header == EnvelopeClaimHeaderSize {
		if durable = binary.BigEndian.Uint64(buf[16:]); durable >= idx {
			return nil, 0, fail("envelope claims the log durable through index %d, not below its own", durable)
		}
	}
	return buf[header:], durable, nil
}
