package kv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// records returns an each function over the given edges, in order.
func records(edges ...Edge) func(fn func(key, val []byte)) error {
	return func(fn func(key, val []byte)) error {
		for _, e := range edges {
			fn(e.Key, e.Val)
		}
		return nil
	}
}

func TestScanRecordsReadsPastTheDamage(t *testing.T) {
	bad := record(3, "three")
	bad.Val[len(bad.Val)-1] ^= 1
	malformed := Edge{Key: []byte("r\x00"), Val: []byte("x")}
	sc, err := store.ScanRecords(EncodeFirst(2), records(record(2, "two"), bad, record(4, "four"), malformed, record(9, "nine")))
	require.NoError(t, err)
	require.Equal(t, uint64(2), sc.First)
	require.Equal(t, uint64(2), sc.Last)
	requireCorrupt(t, sc.Damage, RecordKey(3))
	require.Equal(t, uint64(3), sc.Damage.Index)
	require.Equal(t, RecordKey(3), sc.CutKey)
	require.Equal(t, uint64(9), sc.Highest, "the malformed key is skipped")
	var cut int64
	for _, e := range []Edge{bad, record(4, "four"), malformed, record(9, "nine")} {
		cut += int64(len(e.Key) + len(e.Val))
	}
	require.Equal(t, cut, sc.CutBytes)

	// A gap is cut at the key found where the missing one belongs.
	sc, err = store.ScanRecords(nil, records(record(1, "one"), record(3, "three")))
	require.NoError(t, err)
	require.Equal(t, RecordKey(3), sc.CutKey)
	require.Equal(t, uint64(2), sc.Damage.Index)

	_, err = store.ScanRecords([]byte("junk"), records())
	requireCorrupt(t, err, FirstKey)
	failing := errors.New("iterator failed")
	_, err = store.ScanRecords(nil, func(func(key, val []byte)) error { return failing })
	require.ErrorIs(t, err, failing)
}

func TestSalvageOfTheCloseRecordAlone(t *testing.T) {
	files := VFSFiles(vfs.Default)
	sound := Scan{First: 1, Last: 5, Highest: 5}
	noCut := func([]byte) ([]backend.SalvagedFile, error) {
		t.Fatal("records cut though none was damaged")
		return nil, nil
	}
	for _, tt := range []struct {
		name        string
		record      []byte
		from, to    uint64
		reasonMatch string
	}{
		{"a close record claiming more records", EncodeCloseRecord(1, 8), 6, 8, "closed cleanly holding [1, 8]"},
		{"a close record failing its checksum", append(EncodeCloseRecord(1, 5)[:23], 0), 0, 0, "checksum"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, CloseRecordFile)
			require.NoError(t, os.WriteFile(path, tt.record, 0o644))
			rep, err := store.Salvage(sound, files, dir, noCut)
			require.NoError(t, err)
			require.Contains(t, rep.Damage.Reason, tt.reasonMatch)
			require.Equal(t, []uint64{1, 5, tt.from, tt.to}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo})
			require.Equal(t, []backend.SalvagedFile{{Path: path, Copy: path + backend.BrokenSuffix, Size: int64(len(tt.record)), Kept: -1}}, rep.Files)
			require.NoFileExists(t, path, "the next Open finds no close record to contradict")
			kept, err := os.ReadFile(rep.Files[0].Copy)
			require.NoError(t, err)
			require.Equal(t, tt.record, kept)
		})
	}

	// A close record that agrees is left alone, and so is its absence.
	dir := t.TempDir()
	rep, err := store.Salvage(sound, files, dir, noCut)
	require.NoError(t, err)
	require.Equal(t, backend.SalvageReport{}, rep)
	require.NoError(t, os.WriteFile(filepath.Join(dir, CloseRecordFile), EncodeCloseRecord(1, 5), 0o644))
	rep, err = store.Salvage(sound, files, dir, noCut)
	require.NoError(t, err)
	require.Equal(t, backend.SalvageReport{}, rep)
	require.FileExists(t, filepath.Join(dir, CloseRecordFile))
}

func TestSalvageCutsThenRewritesTheCloseRecord(t *testing.T) {
	dir := t.TempDir()
	files := VFSFiles(vfs.Default)
	path := filepath.Join(dir, CloseRecordFile)
	require.NoError(t, os.WriteFile(path, EncodeCloseRecord(1, 9), 0o644))
	require.NoError(t, os.WriteFile(path+backend.BrokenSuffix, []byte("an earlier one"), 0o644))
	sc := Scan{First: 1, Last: 3, Damage: &backend.CorruptError{Index: 4, Reason: "checksum mismatch"},
		CutKey: RecordKey(4), Highest: 7, CutBytes: 100}
	var from []byte
	store := Store{Name: "test", File: filepath.Join(dir, "db")}
	rep, err := store.Salvage(sc, files, dir, func(key []byte) ([]backend.SalvagedFile, error) {
		from = key
		return []backend.SalvagedFile{{Path: store.File, Copy: store.File + ".broken", Size: 10, Kept: 10}}, nil
	})
	require.NoError(t, err)
	require.Equal(t, RecordKey(4), from)
	require.Equal(t, []uint64{1, 3, 4, 9}, []uint64{rep.First, rep.Last, rep.RemovedFrom, rep.RemovedTo},
		"the close record knew of more records than the store holds")
	require.Equal(t, int64(100), rep.RemovedBytes)
	require.Len(t, rep.Files, 2)
	require.Equal(t, path+backend.BrokenSuffix+".2", rep.Files[1].Copy, "an earlier copy is kept")
	require.NoError(t, store.CheckCloseRecord(files, dir, 1, 3), "the new close record holds the bounds left")

	failing := errors.New("cut failed")
	require.NoError(t, os.WriteFile(path, EncodeCloseRecord(1, 9), 0o644))
	_, err = store.Salvage(sc, files, dir, func([]byte) ([]backend.SalvagedFile, error) { return nil, failing })
	require.ErrorIs(t, err, failing)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, EncodeCloseRecord(1, 9), data, "a failed cut leaves the close record")
}
