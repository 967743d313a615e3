package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

func TestRegistered(t *testing.T) {
	require.Contains(t, backend.Drivers(), "jsonl")
}

func TestParams(t *testing.T) {
	ctx := context.Background()
	_, err := backend.Open(ctx, config(t.TempDir(), "segment_size", "1MiB"))
	require.Error(t, err)
	require.NotErrorIs(t, err, backend.ErrCorrupt)

	for _, bad := range []string{"0", "-1", "big", "1TB"} {
		_, err = backend.Open(ctx, config(t.TempDir(), ParamSegmentBytes, bad))
		require.Error(t, err, "segment_bytes=%s", bad)
	}
	w, err := backend.Open(ctx, config(t.TempDir(), ParamSegmentBytes, "1KiB"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

func TestAppendReplayReopen(t *testing.T) {
	dir := t.TempDir()
	w := open(t, config(dir))
	requireLog(t, w, 1, 0)
	require.Empty(t, segmentPaths(t, dir), "an empty log has no files")
	appendRange(t, w, 1, 10)
	last, err := w.Append(context.Background(), payload(11), payload(12), payload(13))
	require.NoError(t, err)
	require.Equal(t, uint64(13), last)
	requireLog(t, w, 1, 13)

	got := replayAll(t, w, 7)
	require.Len(t, got, 7)
	require.Equal(t, uint64(7), got[0].index)
	require.Empty(t, replayAll(t, w, 14))
	require.ErrorIs(t, w.Replay(context.Background(), 15, nil), backend.ErrOutOfRange)
	require.NoError(t, w.Close())

	w = open(t, config(dir))
	requireLog(t, w, 1, 13)
	appendRange(t, w, 14, 20)
	require.NoError(t, w.Close())
	w = open(t, config(dir))
	requireLog(t, w, 1, 20)
	require.NoError(t, w.Close())
	require.Len(t, segmentPaths(t, dir), 1)
}

func TestRecordsAcrossManySegments(t *testing.T) {
	dir := t.TempDir()
	const n = 500
	w := open(t, config(dir, ParamSegmentBytes, "1KiB"))
	for i := uint64(1); i <= n; i += 5 { // batches of 5 go whole into one segment
		last, err := w.Append(context.Background(), payload(i), payload(i+1), payload(i+2), payload(i+3), payload(i+4))
		require.NoError(t, err)
		require.Equal(t, i+4, last)
	}
	requireLog(t, w, 1, n)
	require.NoError(t, w.Close())

	paths := segmentPaths(t, dir)
	require.Greater(t, len(paths), 20)
	next := uint64(1)
	for _, p := range paths {
		first, err := ParseSegmentName(filepath.Base(p))
		require.NoError(t, err)
		require.Equal(t, next, first, "segments are named by their first index")
		f, err := os.Open(p)
		require.NoError(t, err)
		info, err := f.Stat()
		require.NoError(t, err)
		s, err := ScanSegment(f, p, first, nil)
		require.NoError(t, f.Close())
		require.NoError(t, err)
		require.Equal(t, Clean, s.Verdict)
		require.Equal(t, uint64(0), (s.Last-s.First+1)%5, "a batch never spans segments")
		if p != paths[len(paths)-1] {
			require.LessOrEqual(t, info.Size(), int64(1024))
		}
		next = s.Last + 1
	}
	require.Equal(t, uint64(n+1), next)

	w = open(t, config(dir, ParamSegmentBytes, "1KiB"))
	requireLog(t, w, 1, n)
	for _, from := range []uint64{1, 2, 5, 6, 250, 499, 500, 501} {
		got := replayAll(t, w, from)
		require.Len(t, got, int(n+1-from), "replay from %d", from)
		if len(got) > 0 {
			require.Equal(t, from, got[0].index)
		}
	}
	require.NoError(t, w.Close())
}

func TestSegmentBytesSmallerThanARecord(t *testing.T) {
	dir := t.TempDir()
	w := open(t, config(dir, ParamSegmentBytes, "1"))
	appendRange(t, w, 1, 5)
	requireLog(t, w, 1, 5)
	require.NoError(t, w.Close())
	require.Len(t, segmentPaths(t, dir), 5, "one record per segment")
}

func TestTenMiBRecords(t *testing.T) {
	dir := t.TempDir()
	binary := bytes.Repeat([]byte{0, 1, 2, 0xfe, '\n'}, 2<<20) // 10 MiB, base64 in the file
	var sb bytes.Buffer
	sb.WriteString(`{"blob":"`)
	for sb.Len() < 10<<20 {
		sb.WriteString("abcdefghijklmnopqrstuvwxyz")
	}
	sb.WriteString(`"}`)
	jsonRec := sb.Bytes() // over 10 MiB, embedded as JSON

	w := open(t, config(dir, ParamSegmentBytes, "1MiB"))
	_, err := w.Append(context.Background(), []byte("small"))
	require.NoError(t, err)
	_, err = w.Append(context.Background(), binary)
	require.NoError(t, err)
	_, err = w.Append(context.Background(), jsonRec, []byte(`{"after":1}`))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	w = open(t, config(dir, ParamSegmentBytes, "1MiB"))
	got := replayAll(t, w, 1)
	require.Len(t, got, 4)
	require.Equal(t, []byte("small"), got[0].data)
	require.True(t, bytes.Equal(binary, got[1].data), "the binary record reads back exactly")
	require.True(t, bytes.Equal(jsonRec, got[2].data), "the JSON record reads back exactly")
	require.Equal(t, []byte(`{"after":1}`), got[3].data)
	require.NoError(t, w.Close())
}

func TestSegmentFileIsReadableJSON(t *testing.T) {
	dir := t.TempDir()
	w := open(t, config(dir))
	payloads := [][]byte{
		[]byte(`{"op":"assert","session":"s1","facts":[1,2]}`),
		[]byte("not json"),
		{0xff, 0x00, '\n'},
		[]byte(`"a string"`),
		[]byte("{\"multi\":\n\"line\"}"),
	}
	_, err := w.Append(context.Background(), payloads...)
	require.NoError(t, err)
	require.NoError(t, w.Close())

	f, err := os.Open(segmentPaths(t, dir)[0])
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 0
	for sc.Scan() {
		var line struct {
			I uint64          `json:"i"`
			C string          `json:"c"`
			D json.RawMessage `json:"d"`
			B *string         `json:"b"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "line %d is JSON: %s", i+1, sc.Bytes())
		require.Equal(t, uint64(i+1), line.I)
		require.Len(t, line.C, 8)
		if json.Valid(payloads[i]) && !bytes.Contains(payloads[i], []byte("\n")) {
			require.Nil(t, line.B)
			require.JSONEq(t, string(payloads[i]), string(line.D), "JSON payloads are embedded as JSON")
		} else {
			require.Nil(t, line.D)
			require.NotNil(t, line.B)
			dec, err := base64.StdEncoding.DecodeString(*line.B)
			require.NoError(t, err)
			require.Equal(t, payloads[i], dec, "other payloads are base64")
		}
		i++
	}
	require.NoError(t, sc.Err())
	require.Equal(t, len(payloads), i)
}

func TestReplayDetectsDamageAfterOpen(t *testing.T) {
	dir := t.TempDir()
	w := open(t, config(dir, ParamSegmentBytes, "170"))
	appendRange(t, w, 1, 9)
	defer w.Close()
	paths := segmentPaths(t, dir)
	data, err := os.ReadFile(paths[1])
	require.NoError(t, err)
	offsets := recordOffsets(data)
	data[offsets[1]+20] ^= 0x01
	require.NoError(t, os.WriteFile(paths[1], data, 0o644))

	var delivered []uint64
	err = w.Replay(context.Background(), 1, func(index uint64, _ []byte) error {
		delivered = append(delivered, index)
		return nil
	})
	ce := requireCorrupt(t, err, paths[1], offsets[1])
	require.Equal(t, uint64(5), ce.Index)
	require.Equal(t, []uint64{1, 2, 3, 4}, delivered, "nothing from the damaged record on")

	require.NoError(t, os.Truncate(paths[2], 10))
	err = w.Replay(context.Background(), 7, func(uint64, []byte) error { return nil })
	requireCorrupt(t, err, paths[2], 0)
}

func TestReplayStopsOnCallbackErrorAndContext(t *testing.T) {
	dir := t.TempDir()
	w := open(t, config(dir))
	defer w.Close()
	for i := uint64(1); i <= 3000; i += 100 {
		batch := make([][]byte, 100)
		for k := range batch {
			batch[k] = payload(i + uint64(k))
		}
		_, err := w.Append(context.Background(), batch...)
		require.NoError(t, err)
	}
	stop := errors.New("stop")
	n := 0
	err := w.Replay(context.Background(), 1, func(uint64, []byte) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 10, n)

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = w.Replay(ctx, 1, func(uint64, []byte) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, n, 3000, "replay stops soon after ctx is done")
}

func TestReplayConcurrentWithAppend(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir, ParamSegmentBytes, "4KiB")
	cfg.Sync = backend.SyncNone
	w := open(t, cfg)
	defer w.Close()
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(1); i <= n; i++ {
			if _, err := w.Append(context.Background(), payload(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	replays := 0
	for {
		_, last, err := w.Bounds(context.Background())
		require.NoError(t, err)
		next := uint64(1)
		err = w.Replay(context.Background(), 1, func(index uint64, data []byte) error {
			if index != next || !bytes.Equal(data, payload(index)) {
				return errors.New("replay delivered a wrong record")
			}
			next++
			return nil
		})
		require.NoError(t, err)
		require.GreaterOrEqual(t, next, last+1, "replay delivers at least what was appended when it started")
		replays++
		if last == n {
			break
		}
	}
	wg.Wait()
	t.Logf("%d replays ran alongside %d appends", replays, n)
}
