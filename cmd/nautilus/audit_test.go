package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jsonl"
)

// writeAudit appends n events to a trail in dir and returns its head.
func writeAudit(t *testing.T, dir string, n int) audit.Anchor {
	t.Helper()
	tr, err := audit.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: dir})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		_, err := tr.Append(context.Background(), audit.Event{RequestID: fmt.Sprintf("req-%d", i), Outcome: audit.OutcomeOK, Status: 200})
		require.NoError(t, err)
	}
	seq, hash := tr.Head()
	require.NoError(t, tr.Close())
	return audit.Anchor{Seq: seq, Hash: hash}
}

func TestAuditVerifyAndTail(t *testing.T) {
	dir := t.TempDir()
	head := writeAudit(t, dir, 5)

	code, out, errOut := runCLI("audit", "verify", "--path", dir)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "ok: events 1 to 5, chain unbroken\nhead: "+head.String()+
		" (keep it; a later verify --anchor "+head.String()+" proves nothing up to it was changed or cut off)\n", out)

	code, out, errOut = runCLI("audit", "tail", "--path", dir, "-n", "2")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2)
	for i, line := range lines {
		e, err := audit.Decode([]byte(line))
		require.NoError(t, err, "tail prints each event as stored")
		require.Equal(t, uint64(4+i), e.Seq)
	}

	// A reordered pair: exit 1, naming the first event out of place.
	file := filepath.Join(dir, jsonl.SegmentName(1))
	events := storedEvents(t, file)
	rewriteEvents(t, file, events[0], events[2], events[1], events[3], events[4])
	code, out, _ = runCLI("audit", "verify", "--path", dir)
	require.Equal(t, exitFailure, code)
	require.Equal(t, "broken: event 2 (request req-3): sequence number 3 in position 2: an event was removed, inserted or moved here\n"+
		"events 1 to 1 check out; from event 2 on the trail cannot be trusted\n", out)

	// Cut back to four events: the chain alone cannot show it, the anchor does.
	rewriteEvents(t, file, events[:4]...)
	code, out, _ = runCLI("audit", "verify", "--path", dir)
	require.Equal(t, exitOK, code, out)
	code, out, _ = runCLI("audit", "verify", "--path", dir, "--anchor", head.String())
	require.Equal(t, exitFailure, code)
	require.Equal(t, "broken: event 5: missing: the anchor names it, but the trail ends at event 4: events were cut off its end\n"+
		"events 1 to 4 check out; from event 5 on the trail cannot be trusted\n", out)
}

// A torn tail is reported as what it is, beside a sound chain: exit 0.
func TestAuditVerifyTornTail(t *testing.T) {
	dir := t.TempDir()
	writeAudit(t, dir, 3)
	file := filepath.Join(dir, jsonl.SegmentName(1))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	end := int64(len(bytes.TrimRight(data, "\x00"))) // the records, without the preallocated rest
	require.NoError(t, os.Truncate(file, end-10))
	code, out, errOut := runCLI("audit", "verify", "--path", dir)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "torn tail: "+file+" at offset ")
	require.Contains(t, out, "not tampering: the broker's next start cuts it off\nok: events 1 to 2, chain unbroken\n")
	require.Equal(t, end-10, fileSize(t, file), "verify changed nothing")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}

// storedEvents returns the events of a jsonl segment, as stored.
func storedEvents(t *testing.T, file string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	records := strings.TrimRight(string(data), "\x00") // the preallocated rest of the segment
	var out [][]byte
	for _, line := range strings.Split(strings.TrimSuffix(records, "\n"), "\n") {
		var rec struct {
			D json.RawMessage `json:"d"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		out = append(out, rec.D)
	}
	return out
}

// rewriteEvents writes events into a jsonl segment, numbered from 1, with
// valid checksums, as someone with write access to the files could.
func rewriteEvents(t *testing.T, file string, events ...[]byte) {
	t.Helper()
	var out []byte
	for i, e := range events {
		out = jsonl.AppendLine(out, uint64(i+1), 0, e) // claims nothing durable
	}
	require.NoError(t, os.WriteFile(file, out, 0o600))
}
