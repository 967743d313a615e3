package waltool_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/waltool"
)

// The tools see a preallocated jsonl log as Open does: the zeros after the
// last record of a segment are its end, not damage; a torn write in them,
// before a record that claims only what was durable, is a torn tail that
// Repair cuts off.
func TestPreallocatedJSONL(t *testing.T) {
	dir := t.TempDir()
	cfg := backend.Config{Backend: "jsonl", Dir: dir, Params: map[string]string{jsonl.ParamSegmentBytes: "4KiB"}}
	w, err := backend.Open(ctx, cfg)
	require.NoError(t, err)
	for i := uint64(1); i <= n; i++ {
		_, err := w.Append(ctx, fmt.Appendf(nil, `{"seq":%d,"pad":"%0100d"}`, i, i))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "*"+jsonl.SegmentExt))
	require.NoError(t, err)
	require.Greater(t, len(segs), 1)
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	require.NoError(t, err)
	require.Len(t, data, 4096, "the last segment is preallocated")
	end := bytes.IndexByte(data, 0)
	require.Positive(t, end)

	rep, err := waltool.Verify(ctx, cfg)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.EqualValues(t, n, rep.Records())
	var out bytes.Buffer
	dumped, err := waltool.Dump(ctx, cfg, 0, 0, &out)
	require.NoError(t, err)
	require.Nil(t, dumped.Torn)
	require.EqualValues(t, n, dumped.Records)
	require.Equal(t, n, bytes.Count(out.Bytes(), []byte("\n")))

	// A batch of records n+1 and n+2 whose first page never reached the
	// disk: zeros, then n+2, which claims the log durable through n only.
	torn := append(make([]byte, 200), jsonl.AppendLine(nil, n+2, n, []byte(`{"seq":42}`))...)
	copy(data[end:], torn)
	require.NoError(t, os.WriteFile(last, data, 0o644))
	rep, err = waltool.Verify(ctx, cfg)
	require.NoError(t, err)
	require.NotNil(t, rep.Problem)
	require.True(t, rep.Problem.Torn, "%v", rep.Problem.Err)
	require.EqualValues(t, end, rep.Problem.Err.Offset)
	require.EqualValues(t, len(data)-end, rep.Problem.Bytes)

	repaired, err := waltool.Repair(ctx, cfg, false)
	require.NoError(t, err)
	require.Len(t, repaired.Torn, 1)
	require.EqualValues(t, n, repaired.Last)
	rep, err = waltool.Verify(ctx, cfg)
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.EqualValues(t, n, rep.Records())

	// The same record claiming n+1 durable makes the hole corruption.
	data, err = os.ReadFile(last)
	require.NoError(t, err)
	require.Len(t, data, end, "the repair cut the segment where the torn write began")
	data = append(data, make([]byte, 200)...)
	data = append(data, jsonl.AppendLine(nil, n+2, n+1, []byte(`{"seq":42}`))...)
	require.NoError(t, os.WriteFile(last, data, 0o644))
	rep, err = waltool.Verify(ctx, cfg)
	require.NoError(t, err)
	require.NotNil(t, rep.Problem)
	require.False(t, rep.Problem.Torn)
	require.Contains(t, rep.Problem.Err.Reason, "claims the log durable through index 41")
}
