package kv

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/nautilus-go/nautilus/backend"
)

// RecordPrefix starts every record key; the big-endian index follows.
const RecordPrefix = 'r'

// RecordKeySize is the length of a record key.
const RecordKeySize = 1 + 8

var (
	// FirstKey holds the first index once the front has been truncated.
	FirstKey = []byte("m/first")
	// RecordsStart and RecordsEnd bound every record key: [RecordsStart, RecordsEnd).
	RecordsStart = []byte{RecordPrefix}
	RecordsEnd   = []byte{RecordPrefix + 1}
)

// RecordKey returns the key of the record with index i.
func RecordKey(i uint64) []byte { return AppendRecordKey(make([]byte, 0, RecordKeySize), i) }

// AppendRecordKey appends the key of the record with index i to dst.
func AppendRecordKey(dst []byte, i uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, RecordPrefix), i)
}

// ParseRecordKey returns the index in a record key, or false when key is not one.
func ParseRecordKey(key []byte) (uint64, bool) {
	if len(key) != RecordKeySize || key[0] != RecordPrefix {
		return 0, false
	}
	i := binary.BigEndian.Uint64(key[1:])
	return i, i != 0
}

// KeyString renders a key for an error message.
func KeyString(key []byte) string { return hex.EncodeToString(key) }

// EncodeFirst returns the value stored under FirstKey: an envelope holding
// index first and no payload, so the marker is checksummed like a record.
func EncodeFirst(first uint64) []byte { return backend.AppendEnvelope(nil, first, nil) }

// Store names a database in errors: Name is the backend ("pebble"), File
// the database path.
type Store struct {
	Name string
	File string
}

// Corrupt returns a *backend.CorruptError naming the store, key and index.
func (s Store) Corrupt(key []byte, index uint64, reason string, err error) *backend.CorruptError {
	e := &backend.CorruptError{File: s.File, Offset: -1, Index: index, Reason: reason, Err: err}
	if key != nil {
		e.Key = KeyString(key)
	}
	return e
}

// withContext adds the store and key to an envelope error.
func (s Store) withContext(err error, key []byte) error {
	var ce *backend.CorruptError
	if errors.As(err, &ce) {
		ce.File, ce.Key = s.File, KeyString(key)
	}
	return err
}

// DecodeFirst decodes the value stored under FirstKey.
func (s Store) DecodeFirst(val []byte) (uint64, error) {
	if len(val) < backend.EnvelopeHeaderSize {
		return 0, s.Corrupt(FirstKey, 0, fmt.Sprintf("first-index marker of %d bytes is too short", len(val)), nil)
	}
	first := binary.BigEndian.Uint64(val[4:])
	payload, err := backend.DecodeEnvelope(val, first)
	if err != nil {
		return 0, s.withContext(err, FirstKey)
	}
	if first == 0 {
		return 0, s.Corrupt(FirstKey, 0, "first-index marker holds index 0", nil)
	}
	if len(payload) != 0 {
		return 0, s.Corrupt(FirstKey, first, fmt.Sprintf("first-index marker holds a %d-byte payload", len(payload)), nil)
	}
	return first, nil
}

// DecodeRecord checks that val, stored under key, is the envelope of record
// want, and returns its payload, which aliases val.
func (s Store) DecodeRecord(key, val []byte, want uint64) ([]byte, error) {
	i, ok := ParseRecordKey(key)
	if !ok {
		return nil, s.Corrupt(key, want, "malformed record key", nil)
	}
	if i != want {
		return nil, s.Corrupt(key, want, fmt.Sprintf("index gap: found record %d where %d belongs", i, want), nil)
	}
	payload, err := backend.DecodeEnvelope(val, want)
	if err != nil {
		return nil, s.withContext(err, key)
	}
	return payload, nil
}

// Edge is a stored key and value at one end of the records, or nil keys
// when there are none.
type Edge struct{ Key, Val []byte }

// Bounds works out first and last from the marker (nil when absent) and the
// lowest and highest records, checking that they agree: the lowest record is
// the marker's index (1 without a marker) and both ends decode.
func (s Store) Bounds(marker []byte, low, high Edge) (first, last uint64, err error) {
	first = 1
	if marker != nil {
		if first, err = s.DecodeFirst(marker); err != nil {
			return 0, 0, err
		}
	}
	if low.Key == nil {
		return first, first - 1, nil
	}
	lo, ok := ParseRecordKey(low.Key)
	if !ok {
		return 0, 0, s.Corrupt(low.Key, 0, "malformed record key", nil)
	}
	hi, ok := ParseRecordKey(high.Key)
	if !ok {
		return 0, 0, s.Corrupt(high.Key, 0, "malformed record key", nil)
	}
	if lo != first {
		return 0, 0, s.Corrupt(low.Key, lo, fmt.Sprintf("index gap: lowest record is %d but the first index is %d", lo, first), nil)
	}
	if _, err := s.DecodeRecord(low.Key, low.Val, lo); err != nil {
		return 0, 0, err
	}
	if _, err := s.DecodeRecord(high.Key, high.Val, hi); err != nil {
		return 0, 0, err
	}
	return first, hi, nil
}

// Sequence checks records read in key order during a replay.
type Sequence struct {
	store Store
	next  uint64
}

// Sequence returns a checker expecting the records from index from on.
func (s Store) Sequence(from uint64) *Sequence { return &Sequence{store: s, next: from} }

// Next checks the next record read and returns its index and payload.
func (q *Sequence) Next(key, val []byte) (uint64, []byte, error) {
	payload, err := q.store.DecodeRecord(key, val, q.next)
	if err != nil {
		return 0, nil, err
	}
	q.next++
	return q.next - 1, payload, nil
}

// Want returns the index the next record must have.
func (q *Sequence) Want() uint64 { return q.next }

// End checks that the records read reach last, so a log whose tail has
// vanished is reported rather than replayed short.
func (q *Sequence) End(last uint64) error {
	if q.next <= last {
		return q.store.Corrupt(RecordKey(q.next), q.next,
			fmt.Sprintf("records end at %d but the log's last index is %d", q.next-1, last), nil)
	}
	return nil
}

// Guard is passed to the function Run protects.
type Guard struct{ user bool }

// User runs a caller's callback inside a protected function. A panic in the
// callback is the caller's own, so Run lets it through unchanged.
func (g *Guard) User(fn func() error) error {
	g.user = true
	err := fn()
	g.user = false
	return err
}

// PanicError is a panic raised inside a library call, recovered by Run. A
// library that panicked may have left its locks held: the caller should
// stop using it.
type PanicError struct {
	Op    string // the operation: "append", "replay", ...
	Value any    // what was passed to panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic during %s: %v", e.Op, e.Value) }

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Run calls fn and turns a panic raised inside it, by the library, into an
// error holding a *PanicError: a *backend.CorruptError when reading (a
// damaged file is the likely cause), a plain error when writing, which the
// caller puts in context. Faults on memory-mapped files panic too instead of
// killing the process. op names the operation in the error.
func (s Store) Run(op string, reading bool, fn func(g *Guard) error) (err error) {
	g := &Guard{}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r := recover()
		if r == nil {
			return
		}
		if g.user {
			panic(r)
		}
		pe := &PanicError{Op: op, Value: r}
		if reading {
			err = s.Corrupt(nil, 0, s.Name+" panicked", pe)
			return
		}
		err = fmt.Errorf("%s: %w", s.Name, pe)
	}()
	return fn(g)
}

// Panicked reports whether err holds a *PanicError.
func Panicked(err error) bool {
	var pe *PanicError
	return errors.As(err, &pe)
}
