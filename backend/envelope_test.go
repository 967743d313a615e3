package backend_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 100, 64 << 10} {
		for _, index := range []uint64{1, 2, 1 << 40, math.MaxUint64} {
			payload := bytes.Repeat([]byte{byte(size), byte(index)}, size)[:size]
			prefix := []byte("earlier bytes")
			buf := backend.AppendEnvelope(bytes.Clone(prefix), index, payload)
			require.Equal(t, prefix, buf[:len(prefix)], "AppendEnvelope keeps dst")
			env := buf[len(prefix):]
			require.Len(t, env, backend.EnvelopeHeaderSize+size)
			got, err := backend.DecodeEnvelope(env, index)
			require.NoError(t, err)
			require.Equal(t, payload, got)
		}
	}
}

// Torn prefixes, bit flips, zero-filled buffers and a wrong index are checked
// by TestDecodeEnvelopeRejectsDamage; here the error says where it failed.
func TestEnvelopeErrorNamesIndex(t *testing.T) {
	env := backend.AppendEnvelope(nil, 7, []byte("x"))
	env[len(env)-1] ^= 1
	_, err := backend.DecodeEnvelope(env, 7)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.EqualValues(t, 7, ce.Index)
	require.EqualValues(t, -1, ce.Offset, "the caller adds the offset")
	require.Contains(t, ce.Reason, "checksum mismatch")
}

func TestEnvelopeLengthBound(t *testing.T) {
	env := backend.AppendEnvelope(nil, 3, []byte("abcdef"))
	_, err := backend.DecodeEnvelope(append(bytes.Clone(env), 0), 3)
	require.ErrorIs(t, err, backend.ErrCorrupt, "a trailing byte is not part of the envelope")

	// A length field over MaxRecordSize is refused even with a valid checksum,
	// and without reading that many bytes.
	huge := make([]byte, backend.EnvelopeHeaderSize)
	binary.BigEndian.PutUint64(huge[4:], 3)
	binary.BigEndian.PutUint32(huge[12:], backend.MaxRecordSize+1)
	binary.BigEndian.PutUint32(huge, backend.Checksum(huge[4:]))
	_, err = backend.DecodeEnvelope(huge, 3)
	require.ErrorIs(t, err, backend.ErrCorrupt)
}

func TestChecksumIsCastagnoli(t *testing.T) {
	// The CRC32C check value of "123456789" (RFC 3720, appendix B.4).
	require.Equal(t, uint32(0xe3069283), backend.Checksum([]byte("123456789")))
}

func TestCorruptError(t *testing.T) {
	cause := errors.New("upstream")
	err := error(&backend.CorruptError{File: "seg-1", Offset: 42, Index: 9, Key: "k", Reason: "checksum mismatch", Err: cause})
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorIs(t, err, cause)
	require.Equal(t, "wal: corrupt record in seg-1 at offset 42 key k (index 9): checksum mismatch: upstream", err.Error())
	noOffset := &backend.CorruptError{Offset: -1, Reason: "index gap"}
	require.Equal(t, "wal: corrupt record: index gap", noOffset.Error())
	require.NotErrorIs(t, backend.ErrClosed, backend.ErrCorrupt)
}

func TestOutOfRange(t *testing.T) {
	err := backend.OutOfRange("replay from", 12, 4, 10)
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	require.ErrorContains(t, err, "replay from 12 not in [4, 11]")
}

// FuzzDecodeEnvelope checks that whatever DecodeEnvelopeClaim accepts is
// exactly the envelope AppendEnvelope (no claim) or AppendEnvelopeClaim
// writes for that index, claim and payload, and that DecodeEnvelope agrees.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(backend.AppendEnvelope(nil, 1, nil), uint64(1))
	f.Add(backend.AppendEnvelopeClaim(nil, 9, 3, []byte("payload")), uint64(9))
	f.Add(backend.AppendEnvelope(nil, 9, []byte("payload")), uint64(9))
	f.Add(backend.AppendEnvelope(nil, 9, []byte("payload")), uint64(8))
	f.Add(make([]byte, backend.EnvelopeHeaderSize), uint64(0))
	f.Add([]byte{1, 2, 3}, uint64(1))
	f.Fuzz(func(t *testing.T, buf []byte, want uint64) {
		payload, durable, err := backend.DecodeEnvelopeClaim(buf, want)
		plain, perr := backend.DecodeEnvelope(buf, want)
		if (err == nil) != (perr == nil) || !bytes.Equal(plain, payload) {
			t.Fatalf("DecodeEnvelope = (%x, %v) but DecodeEnvelopeClaim = (%x, %v)", plain, perr, payload, err)
		}
		if err != nil {
			if !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("DecodeEnvelope error %v is not ErrCorrupt", err)
			}
			return
		}
		again := backend.AppendEnvelope(nil, want, payload)
		if durable != backend.NoClaim {
			again = backend.AppendEnvelopeClaim(nil, want, durable, payload)
		}
		if !bytes.Equal(again, buf) {
			t.Fatalf("DecodeEnvelope accepted %x, which is written as %x", buf, again)
		}
	})
}

// The claiming form round-trips its claim; the plain form, which logs written
// before claims existed hold, still decodes and claims nothing.
func TestEnvelopeClaim(t *testing.T) {
	for _, size := range []int{0, 1, 100} {
		payload := bytes.Repeat([]byte{'p'}, size)
		env := backend.AppendEnvelopeClaim([]byte("x"), 9, 8, payload)[1:]
		require.Len(t, env, backend.EnvelopeClaimHeaderSize+size)
		got, durable, err := backend.DecodeEnvelopeClaim(env, 9)
		require.NoError(t, err)
		require.Equal(t, payload, got)
		require.EqualValues(t, 8, durable)
		got, err = backend.DecodeEnvelope(env, 9)
		require.NoError(t, err)
		require.Equal(t, payload, got)

		plain := backend.AppendEnvelope(nil, 9, payload)
		_, durable, err = backend.DecodeEnvelopeClaim(plain, 9)
		require.NoError(t, err)
		require.Equal(t, backend.NoClaim, durable)
	}
	// Today's plain form, byte for byte: a CRC32C, index 1, length 2, "hi".
	old := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 'h', 'i'}
	binary.BigEndian.PutUint32(old, backend.Checksum(old[4:]))
	require.Equal(t, old, backend.AppendEnvelope(nil, 1, []byte("hi")))

	env := backend.AppendEnvelopeClaim(nil, 5, 4, []byte("abc"))
	for i := range env {
		for bit := range 8 {
			bad := bytes.Clone(env)
			bad[i] ^= 1 << bit
			_, _, err := backend.DecodeEnvelopeClaim(bad, 5)
			require.ErrorIs(t, err, backend.ErrCorrupt, "flip of bit %d in byte %d", bit, i)
		}
	}
	for n := range env {
		_, _, err := backend.DecodeEnvelopeClaim(env[:n], 5)
		require.ErrorIs(t, err, backend.ErrCorrupt, "torn to %d bytes", n)
	}
	self := backend.AppendEnvelopeClaim(nil, 5, 5, nil)
	_, _, err := backend.DecodeEnvelopeClaim(self, 5)
	require.ErrorContains(t, err, "not below its own")
}
