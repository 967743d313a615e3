package tidwall

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	tw "github.com/tidwall/wal"

	"github.com/nautilus-go/nautilus/backend"
)

// FuzzCheckSegment builds a segment from records, damages it (a cut and a
// flipped byte), and checks the scan never accepts a record whose bytes
// differ from what was written, never panics, and accounts for every byte.
func FuzzCheckSegment(f *testing.F) {
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), uint8(4), uint16(0), uint16(0), byte(0))
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), uint8(4), uint16(9), uint16(0), byte(0))
	f.Add(bytes.Repeat([]byte{0xab}, 400), uint8(2), uint16(0), uint16(3), byte(0x80))
	f.Add([]byte{}, uint8(3), uint16(0), uint16(1), byte(1))
	f.Fuzz(func(t *testing.T, seed []byte, n uint8, cut uint16, flip uint16, mask byte) {
		const first = 7
		k := int(n % 16)
		var data []byte
		var payloads [][]byte
		for i := range k {
			p := seed[i*len(seed)/max(k, 1) : (i+1)*len(seed)/max(k, 1)]
			env := backend.AppendEnvelope(nil, first+uint64(i), p)
			data = binary.AppendUvarint(data, uint64(len(env)))
			data = append(data, env...)
			payloads = append(payloads, p)
		}
		if len(data) > 0 {
			data = data[:len(data)-int(cut)%(len(data)+1)]
		}
		if len(data) > 0 {
			data[int(flip)%len(data)] ^= mask
		}

		s := checkSegment("seg", data, first)
		if s.good < 0 || s.good > int64(len(data)) {
			t.Fatalf("good bytes %d outside the file's %d", s.good, len(data))
		}
		if (s.bad == nil) != (s.good == int64(len(data))) {
			t.Fatalf("scan stopped at %d of %d bytes with damage %v", s.good, len(data), s.bad)
		}
		if s.bad != nil && (s.bad.Offset != s.good || s.bad.Index != first+s.records) {
			t.Fatalf("damage at offset %d index %d, want %d and %d", s.bad.Offset, s.bad.Index, s.good, first+s.records)
		}
		var off int
		for i := range s.records {
			env, size, reason := frame(data[off:])
			if reason != "" {
				t.Fatalf("accepted record %d does not frame: %s", i, reason)
			}
			got, err := backend.DecodeEnvelope(env, first+i)
			if err != nil {
				t.Fatalf("accepted record %d does not decode: %v", i, err)
			}
			if i >= uint64(len(payloads)) || !bytes.Equal(got, payloads[i]) {
				t.Fatalf("accepted record %d holds %q, written %q", i, got, payloads[min(int(i), len(payloads)-1)])
			}
			off += size
		}
		if s.bad != nil {
			observeAfter(data, s.bad.Offset, first, &backend.Damage{Err: s.bad})
		}
	})
}

// observeAfter finds the valid records after damage, with their claims,
// and only those.
func TestObserveAfter(t *testing.T) {
	after := func(data []byte, bad int64) backend.Damage {
		d := backend.Damage{Err: &backend.CorruptError{Index: 12}, LastFile: true}
		observeAfter(data, bad, 10, &d)
		return d
	}
	for _, claiming := range []bool{false, true} {
		var data []byte
		var offs []int
		for i := range uint64(5) {
			offs = append(offs, len(data))
			env := backend.AppendEnvelope(nil, 10+i, bytes.Repeat([]byte{byte(i)}, 30))
			if claiming {
				env = backend.AppendEnvelopeClaim(nil, 10+i, 9+i, bytes.Repeat([]byte{byte(i)}, 30))
			}
			data = binary.AppendUvarint(data, uint64(len(env)))
			data = append(data, env...)
		}
		for i, off := range offs {
			damaged := append([]byte(nil), data...)
			damaged[off+5] ^= 0x04
			d := after(damaged, int64(off))
			found := d.ValidAfter || d.Claim != nil
			if want := i < len(offs)-1; found != want {
				t.Errorf("claiming %v, damage in record %d of %d: found a valid record after it = %v, want %v", claiming, i, len(offs), found, want)
			}
			if claiming && found && (d.ValidAfter || d.Claim.Index != 14 || d.Claim.Durable != 13 || d.Claim.Offset != int64(offs[4])) {
				t.Errorf("damage in record %d: the highest claim is %+v, want record 14's", i, d.Claim)
			}
		}
		zeros := append(append([]byte(nil), data...), make([]byte, 4096)...)
		if d := after(zeros, int64(len(data))); d.ValidAfter || d.Claim != nil {
			t.Error("a zero tail holds no valid record")
		}
		torn := data[:len(data)-3]
		if d := after(torn, int64(offs[len(offs)-1])); d.ValidAfter || d.Claim != nil {
			t.Error("a torn last record is not valid")
		}
	}
}

// closeSegmentFile reaches the file the library appends to: once it is
// closed, the library's own fsync of it fails.
func TestCloseSegmentFile(t *testing.T) {
	lib, err := tw.Open(t.TempDir(), &tw.Options{AllowEmpty: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Write(1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := closeSegmentFile(lib); err != nil {
		t.Fatalf("closeSegmentFile: %v", err)
	}
	if err := lib.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("library Sync after closeSegmentFile = %v, want os.ErrClosed", err)
	}
	if err := closeLibrary(lib); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("closeLibrary = %v, want the library's error", err)
	}
}
