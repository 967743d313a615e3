package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/all"
	"github.com/nautilus-go/nautilus/backend/jsonl"
)

var ctx = context.Background()

func jsonlConfig(dir string) backend.Config {
	return backend.Config{Backend: "jsonl", Dir: dir}
}

func event(i int) audit.Event {
	return audit.Event{
		RequestID: fmt.Sprintf("req-%d", i), Time: "2026-01-02T03:04:05Z", AgentID: "agent-a", SessionID: "s",
		DataTypes: []string{"pii"}, Routed: []string{"hr"}, Outcome: audit.OutcomeOK, Status: 200,
		Denied: []audit.Denial{{Source: "fin", Rule: "purpose-deny", Reason: "purpose \"x\" not allowed"}},
	}
}

// writeTrail appends events 1 to n to a trail in dir, closing it after
// each third, so the chain is carried over restarts.
func writeTrail(t *testing.T, cfg backend.Config, n int) audit.Anchor {
	t.Helper()
	var tr *audit.Trail
	for i := 1; i <= n; i++ {
		if tr == nil {
			var err error
			tr, err = audit.Open(ctx, cfg)
			require.NoError(t, err)
		}
		e, err := tr.Append(ctx, event(i))
		require.NoError(t, err)
		require.Equal(t, uint64(i), e.Seq)
		if i%3 == 0 {
			require.NoError(t, tr.Close())
			tr = nil
		}
	}
	if tr == nil {
		var err error
		tr, err = audit.Open(ctx, cfg)
		require.NoError(t, err)
	}
	seq, hash := tr.Head()
	require.NoError(t, tr.Close())
	return audit.Anchor{Seq: seq, Hash: hash}
}

func verify(t *testing.T, cfg backend.Config, anchor *audit.Anchor) audit.Report {
	t.Helper()
	rep, err := audit.Verify(ctx, cfg, anchor)
	require.NoError(t, err)
	return rep
}

func TestChainSurvivesRestartsOnEveryBackend(t *testing.T) {
	for _, name := range backend.Drivers() {
		if name == "memory" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			cfg := backend.Config{Backend: name, Dir: t.TempDir()}
			head := writeTrail(t, cfg, 10)
			rep := verify(t, cfg, &head)
			require.Nil(t, rep.Break)
			require.Nil(t, rep.Torn)
			require.Equal(t, uint64(10), rep.Events)
			require.Equal(t, head, rep.Head)
		})
	}
}

func TestConcurrentAppendsFormOneChain(t *testing.T) {
	cfg := jsonlConfig(t.TempDir())
	tr, err := audit.Open(ctx, cfg)
	require.NoError(t, err)
	const writers, each = 8, 40
	seqs := make(chan uint64, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e, err := tr.Append(ctx, event(w*each+i))
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- e.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	require.NoError(t, tr.Close())
	seen := map[uint64]bool{}
	for s := range seqs {
		require.False(t, seen[s], "sequence number %d handed out twice", s)
		seen[s] = true
	}
	rep := verify(t, cfg, nil)
	require.Nil(t, rep.Break)
	require.Equal(t, uint64(writers*each), rep.Events)
}

// segment returns the trail's one jsonl segment file.
func segment(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+jsonl.SegmentExt))
	require.NoError(t, err)
	require.Len(t, files, 1)
	return files[0]
}

// payloads returns the events stored in a jsonl trail, as stored.
func payloads(t *testing.T, dir string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(segment(t, dir))
	require.NoError(t, err)
	data = bytes.TrimRight(data, "\x00") // the preallocated rest of the segment
	var out [][]byte
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var rec struct {
			D json.RawMessage `json:"d"`
		}
		require.NoError(t, json.Unmarshal(line, &rec))
		out = append(out, rec.D)
	}
	return out
}

// rewrite replaces a jsonl trail's records with events, numbered from 1,
// with valid checksums: what someone with write access to the files can
// do, which the backend's own checks cannot tell from the real thing.
func rewrite(t *testing.T, dir string, events [][]byte) {
	t.Helper()
	var out []byte
	for i, e := range events {
		out = jsonl.AppendLine(out, uint64(i+1), 0, e) // claims nothing durable
	}
	require.NoError(t, os.WriteFile(segment(t, dir), out, 0o600))
}

func TestVerifyNamesTheFirstBrokenEvent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tamper func(events [][]byte) [][]byte
		index  uint64
		reqID  string
		reason string
	}{
		{"modified event", func(ev [][]byte) [][]byte {
			e, err := audit.Decode(ev[3])
			require.NoError(t, err)
			e.Outcome, e.Routed = audit.OutcomeDenied, nil // same seq and prev: only the next link shows it
			ev[3], err = audit.Encode(e)
			require.NoError(t, err)
			return ev
		}, 5, "req-5", "its prev is not the hash of event 4 (request req-4)"},
		{"deleted event", func(ev [][]byte) [][]byte {
			return append(ev[:4:4], ev[5:]...)
		}, 5, "req-6", "sequence number 6 in position 5"},
		{"reordered pair", func(ev [][]byte) [][]byte {
			ev[4], ev[5] = ev[5], ev[4]
			return ev
		}, 5, "req-6", "sequence number 6 in position 5"},
		{"deleted first event", func(ev [][]byte) [][]byte {
			return ev[1:]
		}, 1, "req-2", "sequence number 2 in position 1"},
		{"inserted event", func(ev [][]byte) [][]byte {
			return append(ev[:3:3], append([][]byte{ev[2]}, ev[3:]...)...)
		}, 4, "req-3", "sequence number 3 in position 4"},
		{"edited bytes", func(ev [][]byte) [][]byte {
			ev[6] = bytes.Replace(ev[6], []byte(`"outcome":"ok"`), []byte(`"outcome": "ok"`), 1)
			return ev
		}, 7, "req-7", "not in canonical form"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTrail(t, jsonlConfig(dir), 10)
			rewrite(t, dir, tt.tamper(payloads(t, dir)))
			rep := verify(t, jsonlConfig(dir), nil)
			require.NotNil(t, rep.Break)
			require.Equal(t, tt.index, rep.Break.Index, rep.Break.Error())
			require.Equal(t, tt.reqID, rep.Break.RequestID)
			require.Contains(t, rep.Break.Reason, tt.reason)
			require.Equal(t, tt.index-1, rep.Events, "the events before the break check out")
		})
	}
}

// The chain alone cannot show that events were cut off its end; an anchor
// taken earlier can.
func TestVerifyWithAnAnchorFindsATruncatedTail(t *testing.T) {
	dir := t.TempDir()
	cfg := jsonlConfig(dir)
	head := writeTrail(t, cfg, 10)
	rewrite(t, dir, payloads(t, dir)[:8])
	require.Nil(t, verify(t, cfg, nil).Break, "without an anchor the shorter chain is sound")
	rep := verify(t, cfg, &head)
	require.NotNil(t, rep.Break)
	require.Equal(t, uint64(10), rep.Break.Index)
	require.Contains(t, rep.Break.Reason, "the trail ends at event 8: events were cut off its end")

	// The anchored event itself changed: its hash gives it away.
	dir = t.TempDir()
	cfg = jsonlConfig(dir)
	head = writeTrail(t, cfg, 4)
	ev := payloads(t, dir)
	ev[3] = bytes.Replace(ev[3], []byte(`"status":200`), []byte(`"status":403`), 1)
	rewrite(t, dir, ev)
	rep = verify(t, cfg, &head)
	require.NotNil(t, rep.Break)
	require.Equal(t, uint64(4), rep.Break.Index)
	require.Contains(t, rep.Break.Reason, "changed since the anchor was taken")
}

func TestVerifyReportsTheBackendsTruncatedFront(t *testing.T) {
	dir := t.TempDir()
	cfg := jsonlConfig(dir)
	writeTrail(t, cfg, 6)
	w, err := backend.Open(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, w.TruncateFront(ctx, 3))
	require.NoError(t, w.Close())
	rep := verify(t, cfg, nil)
	require.NotNil(t, rep.Break)
	require.Equal(t, uint64(3), rep.Break.Index)
	require.Contains(t, rep.Break.Reason, "events 1 to 2 were removed from its front")
}

// A torn tail is a crash's unacknowledged append, not tampering: verify
// reports it beside a sound chain, and the trail opens and goes on.
func TestTornTailIsNotTampering(t *testing.T) {
	dir := t.TempDir()
	cfg := jsonlConfig(dir)
	writeTrail(t, cfg, 5)
	file := segment(t, dir)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	end := int64(len(bytes.TrimRight(data, "\x00"))) // the records, without the preallocated rest
	require.NoError(t, os.Truncate(file, end-20))
	rep := verify(t, cfg, nil)
	require.Nil(t, rep.Break)
	require.NotNil(t, rep.Torn)
	require.Equal(t, uint64(4), rep.Events)

	tr, err := audit.Open(ctx, cfg)
	require.NoError(t, err)
	e, err := tr.Append(ctx, event(6))
	require.NoError(t, err)
	require.Equal(t, uint64(5), e.Seq, "the torn event was never written")
	require.NoError(t, tr.Close())
	rep = verify(t, cfg, nil)
	require.Nil(t, rep.Break)
	require.Nil(t, rep.Torn)
	require.Equal(t, uint64(5), rep.Events)
}

// Damage the backend's own checks catch is reported at its index too.
func TestVerifyReportsBackendDamage(t *testing.T) {
	dir := t.TempDir()
	cfg := jsonlConfig(dir)
	writeTrail(t, cfg, 6)
	data, err := os.ReadFile(segment(t, dir))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(segment(t, dir), bytes.Replace(data, []byte(`req-3`), []byte(`req-X`), 1), 0o600))
	rep := verify(t, cfg, nil)
	require.NotNil(t, rep.Break)
	require.Equal(t, uint64(3), rep.Break.Index)
	require.Contains(t, rep.Break.Reason, "the backend finds it damaged")
}

func TestOpenRefusesADamagedLastEvent(t *testing.T) {
	dir := t.TempDir()
	cfg := jsonlConfig(dir)
	writeTrail(t, cfg, 3)
	ev := payloads(t, dir)
	ev[2] = []byte(`{"v":1}`)
	rewrite(t, dir, ev)
	_, err := audit.Open(ctx, cfg)
	require.ErrorContains(t, err, "last event (index 3)")
}

func TestTailPrintsTheLastEvents(t *testing.T) {
	dir := t.TempDir()
	cfg := jsonlConfig(dir)
	writeTrail(t, cfg, 7)
	var out bytes.Buffer
	require.NoError(t, audit.Tail(ctx, cfg, 3, &out))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	for i, line := range lines {
		e, err := audit.Decode([]byte(line))
		require.NoError(t, err)
		require.Equal(t, uint64(5+i), e.Seq)
	}
	out.Reset()
	require.NoError(t, audit.Tail(ctx, cfg, 0, &out))
	require.Equal(t, 7, strings.Count(out.String(), "\n"))
}

func TestAppendAfterCloseFailsAndStaysFailed(t *testing.T) {
	tr, err := audit.Open(ctx, jsonlConfig(t.TempDir()))
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	_, err = tr.Append(ctx, event(1))
	require.ErrorIs(t, err, backend.ErrClosed)
	_, err = tr.Append(ctx, event(2))
	require.ErrorIs(t, err, backend.ErrClosed)
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	a, err := audit.ParseAnchor("12:" + h)
	require.NoError(t, err)
	require.Equal(t, audit.Anchor{Seq: 12, Hash: h}, a)
	require.Equal(t, "12:"+h, a.String())
	for _, bad := range []string{"", "12", "0:" + h, "x:" + h, "12:abc", "12:" + strings.ToUpper(h)} {
		_, err := audit.ParseAnchor(bad)
		require.Error(t, err, bad)
	}
}
