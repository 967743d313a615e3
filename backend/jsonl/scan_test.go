package jsonl

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

// buildSegment returns the bytes of a segment holding payload(i) for i in
// [first, first+n) and the offset of each record.
func buildSegment(first uint64, n int) ([]byte, []int64) {
	var data []byte
	var offsets []int64
	for i := first; i < first+uint64(n); i++ {
		offsets = append(offsets, int64(len(data)))
		data = AppendLine(data, i, i-1, payload(i))
	}
	return data, offsets
}

func scan(t *testing.T, data []byte, first uint64) SegmentScan {
	t.Helper()
	s, err := ScanSegment(bytes.NewReader(data), "seg", first, nil)
	require.NoError(t, err)
	if s.Verdict == Clean {
		require.Nil(t, s.Damage)
	} else {
		require.NotNil(t, s.Damage)
		require.Equal(t, "seg", s.Damage.File)
		require.Equal(t, s.Good, s.Damage.Offset, "damage is named at the first bad record")
	}
	return s
}

func TestScanSegmentClean(t *testing.T) {
	data, _ := buildSegment(5, 10)
	var got []uint64
	s, err := ScanSegment(bytes.NewReader(data), "seg", 5, func(index uint64, p []byte) error {
		require.Equal(t, payload(index), p)
		got = append(got, index)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, SegmentScan{First: 5, Last: 14, Good: int64(len(data)), Verdict: Clean}, s)
	require.Equal(t, []uint64{5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, got)

	empty := scan(t, nil, 5)
	require.Equal(t, SegmentScan{First: 5, Last: 4, Verdict: Clean}, empty)
}

func TestScanSegmentTornAtEveryOffsetOfTheLastRecord(t *testing.T) {
	data, offsets := buildSegment(1, 4) // records 3 (binary) and 4 (JSON) take turns last
	for _, n := range []int{3, 4} {
		full := data
		if n == 3 {
			full = data[:offsets[3]]
		}
		start := offsets[n-1]
		for cut := start + 1; cut < int64(len(full)); cut++ {
			s := scan(t, full[:cut], 1)
			require.Equal(t, Torn, s.Verdict, "cut at %d", cut)
			require.Equal(t, start, s.Good)
			require.Equal(t, uint64(n-1), s.Last)
		}
		require.Equal(t, Clean, scan(t, full[:start], 1).Verdict)
	}
}

func TestScanSegmentTails(t *testing.T) {
	data, offsets := buildSegment(1, 5)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	cases := []struct {
		name string
		tail []byte
		good int64
		last uint64
	}{
		{"zeros after a partial record", append(bytes.Clone(data[offsets[4]:offsets[4]+9]), make([]byte, 512)...), int64(len(data)), 5},
		{"garbage", garbage, int64(len(data)), 5},
		{"garbage lines", []byte("not a record\n{\"i\":6}\n{\"i\":6,\"c\":\"00000000\",\"d\":1}\n"), int64(len(data)), 5},
		{"a newline alone", []byte("\n"), int64(len(data)), 5},
		{"a record without its newline", bytes.TrimSuffix(AppendLine(nil, 6, 5, payload(6)), []byte("\n")), int64(len(data)), 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := scan(t, append(bytes.Clone(data), tc.tail...), 1)
			require.Equal(t, Torn, s.Verdict, s.Damage)
			require.Equal(t, tc.good, s.Good)
			require.Equal(t, tc.last, s.Last)
		})
	}
}

// Zeros that run to the end after the last record are the end of the log
// (a preallocated remainder), not damage.
func TestScanSegmentZeroRemainder(t *testing.T) {
	data, _ := buildSegment(1, 5)
	for _, n := range []int{1, 4096, 3 * readerSize} {
		s := scan(t, append(bytes.Clone(data), make([]byte, n)...), 1)
		require.Equal(t, Clean, s.Verdict, s.Damage)
		require.Equal(t, int64(len(data)), s.Good)
		require.EqualValues(t, n, s.Padding)
		require.EqualValues(t, 5, s.Last)
	}
}

// Damage followed by valid records is a torn write when none of them claims
// the damaged record durable, and corruption when one does or when one
// carries no claim (the old format).
func TestScanSegmentClaims(t *testing.T) {
	line := func(index, durable uint64) []byte { return AppendLine(nil, index, durable, payload(index)) }
	var head []byte
	for i := uint64(1); i <= 2; i++ {
		head = append(head, line(i, i-1)...)
	}
	hole := make([]byte, 300) // a lost page where records 3 and 4 were
	cases := []struct {
		name    string
		after   [][]byte
		verdict Verdict
		reason  string
	}{
		{"later records claim only what was durable", [][]byte{line(5, 2), line(6, 2)}, Torn, ""},
		{"a later record claims the hole durable", [][]byte{line(5, 2), line(6, 3)}, Corrupt, "record 6 at offset"},
		{"a later record of the old format", [][]byte{line(5, 2), line(6, backend.NoClaim)}, Corrupt, "carries no durability claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := append(bytes.Clone(head), hole...)
			for _, l := range tc.after {
				data = append(data, l...)
			}
			data = append(data, make([]byte, 1000)...) // a preallocated remainder
			s := scan(t, data, 1)
			require.Equal(t, tc.verdict, s.Verdict, s.Damage)
			require.Equal(t, int64(len(head)), s.Good)
			require.EqualValues(t, 3, s.Damage.Index)
			require.Contains(t, s.Damage.Reason, tc.reason)
		})
	}
}

// A torn line longer than the read buffer that runs into zeros ends there,
// and a record after the zeros, in the same span, still counts.
func TestScanSegmentLongTornLineThenClaim(t *testing.T) {
	head, _ := buildSegment(1, 2)
	torn := append([]byte(`{"i":3,"s":2,"c":"00000000","b":"`), bytes.Repeat([]byte{'A'}, readerSize+100)...)
	for _, tc := range []struct {
		durable uint64
		verdict Verdict
	}{{2, Torn}, {3, Corrupt}} {
		data := append(append(bytes.Clone(head), torn...), make([]byte, 300)...)
		data = append(data, AppendLine(nil, 5, tc.durable, payload(5))...)
		data = append(data, make([]byte, 300)...)
		s := scan(t, data, 1)
		require.Equal(t, tc.verdict, s.Verdict, s.Damage)
		require.Equal(t, int64(len(head)), s.Good)
		require.Contains(t, s.Damage.Reason, "zero bytes inside a line")
	}
}

func TestScanSegmentCorrupt(t *testing.T) {
	data, offsets := buildSegment(1, 6)
	flip := func(at int64) []byte {
		d := bytes.Clone(data)
		d[at] ^= 0x04
		return d
	}
	dup := append(bytes.Clone(data[:offsets[3]]), data[offsets[2]:]...)
	cases := []struct {
		name  string
		data  []byte
		good  int64
		index uint64
	}{
		{"bit flip in an older record", flip(offsets[2] + 15), offsets[2], 3},
		{"bit flip in the first byte", flip(0), 0, 1},
		// A lost newline merges records 5 and 6: the merged line is bad, and
		// record 6 inside it is valid, so this is not a torn tail.
		{"newline lost before the last record", flip(offsets[5] - 1), offsets[4], 5},
		{"repeated record", dup, offsets[3], 4},
		{"missing record", append(bytes.Clone(data[:offsets[2]]), data[offsets[3]:]...), offsets[2], 3},
		{"zeros before valid records", append(append(bytes.Clone(data[:offsets[2]]), make([]byte, 100)...), data[offsets[2]:]...), offsets[2], 3},
		{"valid last record at the wrong index", append(bytes.Clone(data), AppendLine(nil, 9, 8, payload(9))...), int64(len(data)), 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := scan(t, tc.data, 1)
			require.Equal(t, Corrupt, s.Verdict, s.Damage)
			require.Equal(t, tc.good, s.Good)
			require.Equal(t, tc.index, s.Damage.Index)
			require.ErrorIs(t, s.Damage, backend.ErrCorrupt)
		})
	}
}

func TestScanSegmentLongLines(t *testing.T) {
	big := bytes.Repeat([]byte("\xfe\x00"), readerSize) // 2 MiB binary, 2.7 MiB as base64
	var data []byte
	data = AppendLine(data, 1, 0, []byte(`{"a":1}`))
	second := len(data)
	data = AppendLine(data, 2, 1, big)
	data = AppendLine(data, 3, 2, []byte(`{"a":3}`))

	var got [][]byte
	s, err := ScanSegment(bytes.NewReader(data), "seg", 1, func(_ uint64, p []byte) error {
		got = append(got, bytes.Clone(p))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, Clean, s.Verdict)
	require.Equal(t, big, got[1])

	torn := scan(t, data[:second+readerSize+100], 1)
	require.Equal(t, Torn, torn.Verdict)
	require.Equal(t, int64(second), torn.Good)

	// Record 2 damaged mid-line: record 3 after it makes it corruption.
	flipped := bytes.Clone(data)
	flipped[second+readerSize+7] ^= 1
	require.Equal(t, Corrupt, scan(t, flipped, 1).Verdict)
}

func TestScanSegmentErrors(t *testing.T) {
	data, _ := buildSegment(1, 3)
	_, err := ScanSegment(bytes.NewReader(data), "seg", 0, nil)
	require.Error(t, err)

	stop := errors.New("stop")
	_, err = ScanSegment(bytes.NewReader(data), "seg", 1, func(uint64, []byte) error { return stop })
	require.ErrorIs(t, err, stop)

	failing := io.MultiReader(bytes.NewReader(data[:10]), iotest.ErrReader(io.ErrUnexpectedEOF))
	_, err = ScanSegment(failing, "seg", 1, nil)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.NotErrorIs(t, err, backend.ErrCorrupt, "a read error is not damage")
}
