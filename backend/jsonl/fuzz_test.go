package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// The seed corpora under testdata/fuzz hold valid, torn, zero-tailed and
// bit-flipped lines and segments; plain go test runs them, and
// go test -fuzz FuzzDecodeLine (or FuzzScanSegment) explores from them.

// FuzzDecodeLine checks that DecodeLine never panics, fails only with
// *backend.CorruptError, and that decoding what AppendLine encodes gives back
// the index and payload, in a line that is one line of JSON.
func FuzzDecodeLine(f *testing.F) {
	f.Add(AppendLine(nil, 1, 0, []byte(`{"op":"assert"}`)), uint64(1), []byte(`{"op":"assert"}`))
	f.Fuzz(func(t *testing.T, line []byte, index uint64, payload []byte) {
		if i, p, err := DecodeLine(line); err != nil {
			requireCorruptError(t, err)
		} else {
			again := AppendLine(nil, i, i-1, p)
			i2, p2, err := DecodeLine(again)
			if err != nil || i2 != i || !bytes.Equal(p2, p) {
				t.Fatalf("re-encoding decoded line %q gave %q, which decodes to (%d, %q, %v)", line, again, i2, p2, err)
			}
		}

		line = AppendLine(nil, index, index-1, payload)
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("AppendLine(%d, %q) = %q: not exactly one line", index, payload, line)
		}
		if !json.Valid(line) {
			t.Fatalf("AppendLine(%d, %q) = %q: not JSON", index, payload, line)
		}
		i, p, err := DecodeLine(line)
		if index == 0 {
			if err == nil {
				t.Fatalf("index 0 decoded from %q", line)
			}
			requireCorruptError(t, err)
			return
		}
		if err != nil || i != index || !bytes.Equal(p, payload) {
			t.Fatalf("DecodeLine(AppendLine(%d, %q)) = (%d, %q, %v)", index, payload, i, p, err)
		}
	})
}

// FuzzScanSegment checks ScanSegment against a brute-force reading of rule 4
// of the design: records are delivered densely from the first index, the
// valid prefix rescans clean, zeros that run to the end are the end of the
// log, and a bad record is torn exactly when no valid line after it claims
// it durable or carries no claim (and it is not itself a valid record
// holding the wrong index).
func FuzzScanSegment(f *testing.F) {
	valid, _ := buildSegment(1, 3)
	f.Add(valid)
	f.Fuzz(func(t *testing.T, data []byte) {
		next := uint64(1)
		var lineStart int64
		s, err := ScanSegment(bytes.NewReader(data), "fuzz", 1, func(index uint64, payload []byte) error {
			end := lineStart + int64(bytes.IndexByte(data[lineStart:], '\n')) + 1
			i, p, derr := DecodeLine(data[lineStart:end])
			if index != next || derr != nil || i != index || !bytes.Equal(p, payload) {
				t.Fatalf("record %d at offset %d delivered as (%d, %q); the line decodes to (%d, %q, %v)",
					next, lineStart, index, payload, i, p, derr)
			}
			next++
			lineStart = end
			return nil
		})
		if err != nil {
			t.Fatalf("ScanSegment over bytes: %v", err)
		}
		if s.Last != next-1 || s.Good != lineStart || s.First != 1 {
			t.Fatalf("scan %+v after delivering up to %d ending at %d", s, next-1, lineStart)
		}
		if s.Verdict == Clean {
			if s.Good+s.Padding != int64(len(data)) || !allZero(data[s.Good:]) || s.Damage != nil {
				t.Fatalf("clean scan %+v of %d bytes", s, len(data))
			}
			return
		}
		if allZero(data[s.Good:]) {
			t.Fatalf("scan %+v: zeros to the end are not damage", s)
		}
		if s.Damage == nil || s.Damage.File != "fuzz" || s.Damage.Offset != s.Good || !errors.Is(s.Damage, backend.ErrCorrupt) {
			t.Fatalf("scan %+v: damage does not name the file and the first bad record", s)
		}
		prefix, err := ScanSegment(bytes.NewReader(data[:s.Good]), "fuzz", 1, nil)
		if err != nil || prefix.Verdict != Clean || prefix.Last != s.Last {
			t.Fatalf("the valid prefix rescans as %+v, %v", prefix, err)
		}

		// A later line proves the bad one durable when it claims its index
		// or carries no claim.
		badIsValidRecord := validLineAt(data, int(s.Good))
		provenDurable := false
		for p := int(s.Good) + 1; p < len(data) && !provenDurable; p++ {
			if validLineAt(data, p) {
				q := bytes.IndexByte(data[p:], '\n')
				_, _, durable, _ := DecodeLineClaim(data[p : p+q+1])
				provenDurable = durable == backend.NoClaim || durable >= s.Last+1
			}
		}
		wantTorn := !badIsValidRecord && !provenDurable
		if (s.Verdict == Torn) != wantTorn {
			t.Fatalf("verdict %v, want torn=%v (bad line is a record: %v, a line after it claims it durable: %v) in %q",
				s.Verdict, wantTorn, badIsValidRecord, provenDurable, data)
		}
	})
}

// validLineAt reports whether a line starting at data[p] and ending at the
// next newline decodes as a record.
func validLineAt(data []byte, p int) bool {
	q := bytes.IndexByte(data[p:], '\n')
	if q < 0 {
		return false
	}
	_, _, err := DecodeLine(data[p : p+q+1])
	return err == nil
}

func requireCorruptError(t *testing.T, err error) {
	t.Helper()
	var ce *backend.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, backend.ErrCorrupt) || ce.Reason == "" {
		t.Fatalf("error %v (%T) is not a *backend.CorruptError with a reason", err, err)
	}
}
