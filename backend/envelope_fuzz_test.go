package backend_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// FuzzDecodeEnvelope (envelope_test.go) runs the seed corpus in
// testdata/fuzz/FuzzDecodeEnvelope with plain go test: valid envelopes, torn
// ones, zero-filled ones, bit flips in the length and the payload, a wrong
// index and a length past MaxRecordSize.

// TestDecodeEnvelopeRejectsDamage checks every torn prefix and every single
// bit flip of a valid envelope, and all-zero buffers: none decodes.
func TestDecodeEnvelopeRejectsDamage(t *testing.T) {
	valid := backend.AppendEnvelope(nil, 42, []byte("a record of some length"))
	for n := range len(valid) {
		if _, err := backend.DecodeEnvelope(valid[:n], 42); !errors.Is(err, backend.ErrCorrupt) {
			t.Fatalf("torn envelope of %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
	for bit := range len(valid) * 8 {
		flipped := bytes.Clone(valid)
		flipped[bit/8] ^= 1 << (bit % 8)
		if _, err := backend.DecodeEnvelope(flipped, 42); !errors.Is(err, backend.ErrCorrupt) {
			t.Fatalf("bit %d flipped: err = %v, want ErrCorrupt", bit, err)
		}
	}
	for n := range 64 {
		for _, idx := range []uint64{0, 1} {
			if _, err := backend.DecodeEnvelope(make([]byte, n), idx); !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("%d zero bytes decoded as index %d", n, idx)
			}
		}
	}
	if got, err := backend.DecodeEnvelope(valid, 42); err != nil || string(got) != "a record of some length" {
		t.Fatalf("valid envelope: %q, %v", got, err)
	}
	if _, err := backend.DecodeEnvelope(valid, 43); !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("envelope for index 42 decoded as 43: %v", err)
	}
}
