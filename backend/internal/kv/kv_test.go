package kv

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

var store = Store{Name: "test", File: "/db/path"}

func record(i uint64, payload string) Edge {
	return Edge{Key: RecordKey(i), Val: backend.AppendEnvelope(nil, i, []byte(payload))}
}

func requireCorrupt(t *testing.T, err error, key []byte) *backend.CorruptError {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, store.File, ce.File)
	require.Equal(t, int64(-1), ce.Offset)
	if key != nil {
		require.Equal(t, KeyString(key), ce.Key)
	}
	return ce
}

func TestRecordKeysSortByIndex(t *testing.T) {
	indexes := []uint64{1, 2, 255, 256, 1 << 32, 1<<64 - 1}
	for n, i := range indexes {
		k := RecordKey(i)
		require.Len(t, k, RecordKeySize)
		got, ok := ParseRecordKey(k)
		require.True(t, ok)
		require.Equal(t, i, got)
		require.True(t, bytes.Compare(RecordsStart, k) <= 0 && bytes.Compare(k, RecordsEnd) < 0, "key %x outside the record range", k)
		require.True(t, bytes.Compare(FirstKey, k) < 0, "the marker must sort apart from records")
		if n > 0 {
			require.Less(t, bytes.Compare(RecordKey(indexes[n-1]), k), 0, "keys must sort by index")
		}
	}
}

func TestParseRecordKeyRejects(t *testing.T) {
	for name, key := range map[string][]byte{
		"empty":      nil,
		"short":      RecordKey(5)[:8],
		"long":       append(RecordKey(5), 0),
		"prefix":     append([]byte{'q'}, RecordKey(5)[1:]...),
		"index zero": RecordKey(0),
		"marker":     FirstKey,
	} {
		_, ok := ParseRecordKey(key)
		require.False(t, ok, name)
	}
}

func TestFirstMarkerRoundTrip(t *testing.T) {
	for _, first := range []uint64{1, 7, 1<<64 - 1} {
		got, err := store.DecodeFirst(EncodeFirst(first))
		require.NoError(t, err)
		require.Equal(t, first, got)
	}
}

func TestFirstMarkerDamageIsCorrupt(t *testing.T) {
	good := EncodeFirst(42)
	for bit := 0; bit < len(good)*8; bit++ {
		bad := bytes.Clone(good)
		bad[bit/8] ^= 1 << (bit % 8)
		_, err := store.DecodeFirst(bad)
		requireCorrupt(t, err, FirstKey)
	}
	for name, val := range map[string][]byte{
		"empty":     nil,
		"zeros":     make([]byte, backend.EnvelopeHeaderSize),
		"index 0":   backend.AppendEnvelope(nil, 0, nil),
		"payload":   backend.AppendEnvelope(nil, 42, []byte("x")),
		"truncated": good[:len(good)-1],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := store.DecodeFirst(val)
			requireCorrupt(t, err, FirstKey)
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	r := record(9, "payload")
	got, err := store.DecodeRecord(r.Key, r.Val, 9)
	require.NoError(t, err)
	require.Equal(t, "payload", string(got))

	t.Run("every bit flip of the value is caught", func(t *testing.T) {
		for bit := 0; bit < len(r.Val)*8; bit++ {
			bad := bytes.Clone(r.Val)
			bad[bit/8] ^= 1 << (bit % 8)
			_, err := store.DecodeRecord(r.Key, bad, 9)
			ce := requireCorrupt(t, err, r.Key)
			require.Equal(t, uint64(9), ce.Index)
		}
	})
	t.Run("a valid envelope under another key", func(t *testing.T) {
		_, err := store.DecodeRecord(RecordKey(10), r.Val, 10)
		requireCorrupt(t, err, RecordKey(10))
	})
	t.Run("a key out of sequence", func(t *testing.T) {
		_, err := store.DecodeRecord(r.Key, r.Val, 8)
		ce := requireCorrupt(t, err, r.Key)
		require.Equal(t, uint64(8), ce.Index)
	})
	t.Run("a malformed key", func(t *testing.T) {
		_, err := store.DecodeRecord([]byte("rubbish"), r.Val, 9)
		requireCorrupt(t, err, []byte("rubbish"))
	})
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name        string
		marker      []byte
		low, high   Edge
		first, last uint64
	}{
		{"new log", nil, Edge{}, Edge{}, 1, 0},
		{"records from 1", nil, record(1, "a"), record(5, "e"), 1, 5},
		{"truncated front", EncodeFirst(3), record(3, "c"), record(5, "e"), 3, 5},
		{"truncated to empty", EncodeFirst(6), Edge{}, Edge{}, 6, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, last, err := store.Bounds(tt.marker, tt.low, tt.high)
			require.NoError(t, err)
			require.Equal(t, tt.first, first)
			require.Equal(t, tt.last, last)
		})
	}
}

func TestBoundsCorrupt(t *testing.T) {
	damaged := record(5, "e")
	damaged.Val[len(damaged.Val)-1] ^= 1
	tests := []struct {
		name      string
		marker    []byte
		low, high Edge
		key       []byte
	}{
		{"records start after 1 without a marker", nil, record(2, "b"), record(5, "e"), RecordKey(2)},
		{"records start after the marker", EncodeFirst(3), record(4, "d"), record(5, "e"), RecordKey(4)},
		{"records start before the marker", EncodeFirst(3), record(2, "b"), record(5, "e"), RecordKey(2)},
		{"damaged marker", EncodeFirst(3)[:5], record(3, "c"), record(5, "e"), FirstKey},
		{"damaged last record", nil, record(1, "a"), damaged, damaged.Key},
		{"malformed key", nil, Edge{Key: []byte("rx"), Val: nil}, record(5, "e"), []byte("rx")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := store.Bounds(tt.marker, tt.low, tt.high)
			requireCorrupt(t, err, tt.key)
		})
	}
}

func TestSequence(t *testing.T) {
	q := store.Sequence(3)
	for i := uint64(3); i <= 4; i++ {
		r := record(i, "x")
		got, payload, err := q.Next(r.Key, r.Val)
		require.NoError(t, err)
		require.Equal(t, i, got)
		require.Equal(t, "x", string(payload))
	}
	require.Equal(t, uint64(5), q.Want())
	require.NoError(t, q.End(4))

	t.Run("a gap", func(t *testing.T) {
		r := record(6, "x")
		_, _, err := q.Next(r.Key, r.Val)
		ce := requireCorrupt(t, err, r.Key)
		require.Equal(t, uint64(5), ce.Index)
	})
	t.Run("a vanished tail", func(t *testing.T) {
		ce := requireCorrupt(t, q.End(7), RecordKey(5))
		require.Equal(t, uint64(5), ce.Index)
	})
}

func TestRunTurnsLibraryPanicsIntoErrors(t *testing.T) {
	t.Run("reading", func(t *testing.T) {
		err := store.Run("replay", true, func(*Guard) error { panic(io.ErrUnexpectedEOF) })
		requireCorrupt(t, err, nil)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		require.True(t, Panicked(err))
	})
	t.Run("writing", func(t *testing.T) {
		err := store.Run("append", false, func(*Guard) error { panic("boom") })
		require.Error(t, err)
		require.NotErrorIs(t, err, backend.ErrCorrupt)
		require.True(t, Panicked(err))
		var pe *PanicError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "boom", pe.Value)
		require.Equal(t, "append", pe.Op)
	})
	t.Run("a nil dereference", func(t *testing.T) {
		err := store.Run("replay", true, func(*Guard) error {
			var p *[4]byte
			return errors.New(string(p[1:]))
		})
		requireCorrupt(t, err, nil)
	})
	t.Run("no panic", func(t *testing.T) {
		want := errors.New("plain")
		err := store.Run("replay", true, func(*Guard) error { return want })
		require.Equal(t, want, err)
		require.False(t, Panicked(err))
	})
}

func TestRunLetsCallbackPanicsThrough(t *testing.T) {
	defer func() { require.Equal(t, "caller's own", recover()) }()
	_ = store.Run("replay", true, func(g *Guard) error {
		return g.User(func() error { panic("caller's own") })
	})
	t.Fatal("the callback's panic was swallowed")
}

func TestCloseRecord(t *testing.T) {
	rec := EncodeCloseRecord(3, 9)
	require.NoError(t, store.checkCloseRecord("/dir/clean-close", rec, 3, 9))
	require.NoError(t, store.checkCloseRecord("/dir/clean-close", EncodeCloseRecord(10, 9), 10, 9), "an emptied log")

	t.Run("the store lost records", func(t *testing.T) {
		for _, b := range [][2]uint64{{3, 8}, {4, 9}, {1, 0}, {3, 10}} {
			requireCorrupt(t, store.checkCloseRecord("/dir/clean-close", rec, b[0], b[1]), nil)
		}
	})
	t.Run("every bit flip of the record is caught", func(t *testing.T) {
		for bit := 0; bit < len(rec)*8; bit++ {
			bad := bytes.Clone(rec)
			bad[bit/8] ^= 1 << (bit % 8)
			err := store.checkCloseRecord("/dir/clean-close", bad, 3, 9)
			require.ErrorIs(t, err, backend.ErrCorrupt, "bit %d", bit)
			var ce *backend.CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, "/dir/clean-close", ce.File)
		}
	})
	t.Run("short and zero records", func(t *testing.T) {
		for _, bad := range [][]byte{nil, rec[:10], make([]byte, len(rec)), EncodeCloseRecord(0, 9)} {
			require.ErrorIs(t, store.checkCloseRecord("/dir/clean-close", bad, 0, 9), backend.ErrCorrupt)
		}
	})
}

func TestCloseRecordFile(t *testing.T) {
	dir := t.TempDir()
	files := VFSFiles(vfs.Default)
	path := filepath.Join(dir, CloseRecordFile)
	require.NoError(t, store.CheckCloseRecord(files, dir, 1, 0), "no record: nothing to check")

	require.NoError(t, store.WriteCloseRecord(files, dir, 2, 5))
	require.FileExists(t, path)
	requireCorrupt(t, store.CheckCloseRecord(files, dir, 2, 4), nil)
	require.FileExists(t, path, "a refused open changes nothing")

	require.NoError(t, store.CheckCloseRecord(files, dir, 2, 5))
	require.NoFileExists(t, path, "a checked record is removed")
}
