package kv

import (
	"encoding/binary"
	"fmt"

	"github.com/nautilus-go/nautilus/backend"
)

// CloseRecordFile is the file, in the WAL directory, that a clean Close
// leaves behind: the bounds the log held when it closed. Open checks the
// store against it and removes it before the first write.
//
// It exists because neither library can always tell damage from a torn
// write: Pebble reads its last WAL file only up to the first bad chunk and
// cannot tell a flipped bit in that 32 KiB block from a crash mid-write, and
// bbolt falls back to its older meta page. Either would silently give back a
// log shorter than the one acknowledged. After a clean Close nothing was
// being written, so a store that holds less than the record is corrupt.
const CloseRecordFile = "clean-close"

// EncodeCloseRecord returns the contents of CloseRecordFile for a log
// holding [first, last]: an envelope with index first and last as payload.
func EncodeCloseRecord(first, last uint64) []byte {
	return backend.AppendEnvelope(nil, first, binary.BigEndian.AppendUint64(nil, last))
}

// CheckCloseRecord checks the store's bounds against the contents of
// CloseRecordFile, read from path.
func (s Store) CheckCloseRecord(path string, data []byte, first, last uint64) error {
	bad := func(reason string, err error) error {
		return &backend.CorruptError{File: path, Offset: -1, Reason: reason, Err: err}
	}
	if len(data) != backend.EnvelopeHeaderSize+8 {
		return bad(fmt.Sprintf("close record of %d bytes, want %d", len(data), backend.EnvelopeHeaderSize+8), nil)
	}
	wantFirst := binary.BigEndian.Uint64(data[4:])
	payload, err := backend.DecodeEnvelope(data, wantFirst)
	if err != nil {
		return bad("close record fails its checksum", err)
	}
	if wantFirst == 0 {
		return bad("close record holds first index 0", nil)
	}
	wantLast := binary.BigEndian.Uint64(payload)
	if first != wantFirst || last != wantLast {
		return s.Corrupt(nil, 0, fmt.Sprintf("the store holds [%d, %d] but was closed cleanly holding [%d, %d]",
			first, last, wantFirst, wantLast), nil)
	}
	return nil
}
