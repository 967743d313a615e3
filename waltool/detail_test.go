package waltool_test

import (
	"bytes"
	"encoding/json"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/internal/damage"
	"github.com/nautilus-go/nautilus/waltool"
)

func TestAppendRecordEmbedsOnlyJSONThatFitsOnALine(t *testing.T) {
	for _, tt := range []struct {
		data []byte
		want string
	}{
		{[]byte(`{"op":"assert"}`), `{"index":7,"data":{"op":"assert"}}`},
		{[]byte(` [1, 2] `), `{"index":7,"data": [1, 2] }`},
		{[]byte(`"text"`), `{"index":7,"data":"text"}`},
		{[]byte("{\n}"), `{"index":7,"base64":"ewp9"}`},
		{[]byte("{\r}"), `{"index":7,"base64":"ew19"}`},
		{[]byte("\"\xff\""), `{"index":7,"base64":"Iv8i"}`},
		{[]byte("not json"), `{"index":7,"base64":"bm90IGpzb24="}`},
		{nil, `{"index":7,"base64":""}`},
	} {
		line := waltool.AppendRecord(nil, 7, tt.data)
		require.Equal(t, tt.want+"\n", string(line), "%q", tt.data)
		require.True(t, json.Valid(line), "every line is JSON")
	}
}

func TestDumpRange(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, n)
	cfg := damage.Config("jsonl", dir)
	indexes := func(dump []byte) []uint64 {
		var got []uint64
		for _, line := range strings.Split(strings.TrimSpace(string(dump)), "\n") {
			if line == "" {
				continue
			}
			var rec struct{ Index uint64 }
			require.NoError(t, json.Unmarshal([]byte(line), &rec))
			got = append(got, rec.Index)
		}
		return got
	}
	for _, tt := range []struct {
		from, to uint64
		want     []uint64
	}{
		{5, 7, []uint64{5, 6, 7}},
		{39, 0, []uint64{39, 40}},
		{0, 2, []uint64{1, 2}},
		{40, 100, []uint64{40}},
		{41, 0, nil},
	} {
		var out bytes.Buffer
		rep, err := waltool.Dump(ctx, cfg, tt.from, tt.to, &out)
		require.NoError(t, err)
		require.Equal(t, tt.want, indexes(out.Bytes()), "from %d to %d", tt.from, tt.to)
		require.Equal(t, uint64(len(tt.want)), rep.Records)
	}
	_, err := waltool.Dump(ctx, cfg, 42, 0, &bytes.Buffer{})
	require.ErrorIs(t, err, backend.ErrOutOfRange)
	_, err = waltool.Dump(ctx, cfg, 7, 5, &bytes.Buffer{})
	require.ErrorContains(t, err, "from is after to")
}

// The jsonl Inspector and the copy that serves every other backend agree on
// every kind of log.
func TestInspectorAndCopyAgree(t *testing.T) {
	for name, build := range map[string]func(t *testing.T, dir string){
		"healthy": func(t *testing.T, dir string) { damage.Healthy(t, "jsonl", dir, n) },
		"torn":    func(t *testing.T, dir string) { damage.Torn(t, "jsonl", dir, n) },
		"corrupt": func(t *testing.T, dir string) { damage.Corrupt(t, "jsonl", dir, n) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			build(t, dir)
			cfg := damage.Config("jsonl", dir)
			inspected, err := waltool.Verify(ctx, cfg)
			require.NoError(t, err)
			copied, err := waltool.VerifyCopy(ctx, cfg)
			require.NoError(t, err)
			require.Equal(t, []uint64{inspected.First, inspected.Last}, []uint64{copied.First, copied.Last})
			require.Equal(t, inspected.Bytes, copied.Bytes)
			require.Len(t, copied.Files, len(inspected.Files))
			for i, f := range inspected.Files {
				require.Equal(t, f.Path, copied.Files[i].Path)
				require.Equal(t, f.Bytes, copied.Files[i].Bytes)
			}
			if inspected.Problem == nil {
				require.Nil(t, copied.Problem)
				return
			}
			require.Equal(t, inspected.Problem.Torn, copied.Problem.Torn)
			require.Equal(t, inspected.Problem.Bytes, copied.Problem.Bytes)
			a, b := inspected.Problem.Err, copied.Problem.Err
			require.Equal(t, []any{a.File, a.Offset, a.Index}, []any{b.File, b.Offset, b.Index})
		})
	}
}

func TestInspectorGivesEachSegmentsRecords(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, n)
	rep, err := waltool.Stats(ctx, damage.Config("jsonl", dir))
	require.NoError(t, err)
	next := uint64(1)
	for _, f := range rep.Files {
		if !strings.HasSuffix(f.Path, ".jsonl") {
			require.Zero(t, f.First, f.Path)
			continue
		}
		require.Equal(t, next, f.First, f.Path)
		next = f.Last + 1
	}
	require.Equal(t, uint64(n+1), next)
}

// Errors from the copy name the original directory, and a *fs.PathError in
// them holds the original path.
func TestErrorsNameTheOriginalDirectory(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "tidwall", dir, n)
	stray := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(stray, nil, 0o644))
	_, err := waltool.Verify(ctx, damage.Config("tidwall", dir))
	require.ErrorIs(t, err, backend.ErrForeignFile)
	var pe *iofs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, stray, pe.Path)
	require.Contains(t, err.Error(), stray)
	require.NotContains(t, err.Error(), "nautilus-wal-")
}

func TestMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	for _, name := range []string{"jsonl", "pebble"} { // with and without an Inspector
		_, err := waltool.Verify(ctx, damage.Config(name, dir))
		require.ErrorIs(t, err, os.ErrNotExist, name)
		_, err = waltool.Dump(ctx, damage.Config(name, dir), 0, 0, &bytes.Buffer{})
		require.ErrorIs(t, err, os.ErrNotExist, name)
	}
	require.NoDirExists(t, dir, "nothing was created")
}

func TestRepairCutNeedsASalvager(t *testing.T) {
	dir := t.TempDir()
	_, err := waltool.Repair(ctx, backend.Config{Backend: "memory", Dir: dir}, true)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, "backend memory cannot cut a log at corruption")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "refused before anything was done")
}

func TestUnknownBackend(t *testing.T) {
	_, err := waltool.Verify(ctx, backend.Config{Backend: "no-such", Dir: t.TempDir()})
	require.ErrorContains(t, err, "forgotten import?")
}

// Damage a Salvager cannot cut around fails the repair with nothing changed.
func TestRepairCutRefusedChangesNothing(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, n)
	cfg := damage.Config("jsonl", dir)
	w, err := backend.Open(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 5))
	require.NoError(t, w.Close())
	marker := filepath.Join(dir, "first-index.json")
	require.NoError(t, os.WriteFile(marker, []byte(`{"first_index":6,"crc":"00000000"}`+"\n"), 0o644))
	before := damage.Files(t, dir)

	rep, err := waltool.Repair(ctx, cfg, true)
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorContains(t, err, marker)
	require.Nil(t, rep.Salvage)
	require.Equal(t, before, damage.Files(t, dir))
}
