package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEncryptedRowsRunBesideThePlainOnes runs jsonl and jsonl+enc through
// append and replay, and finds the encryption targets computed from them.
func TestEncryptedRowsRunBesideThePlainOnes(t *testing.T) {
	code, out, errOut := runMain(t, "-backends", "jsonl,jsonl+enc", "-workload", "append,replay",
		"-ops", "40", "-records", "200", "-sync", "always,none", "-dir", t.TempDir())
	require.Equal(t, ExitOK, code, "stderr: %s", errOut)
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "jsonl+enc" {
			rows++
		}
	}
	assert.GreaterOrEqual(t, rows, 3, "an append row per sync mode and a replay row:\n%s", out)
	for _, want := range []string{"jsonl+enc ÷ jsonl, p50 per Append, sync=always", "jsonl+enc − jsonl, time per 200-byte record, sync=none"} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, want) {
				line = l
			}
		}
		require.NotEmpty(t, line, "target %q missing:\n%s", want, out)
		assert.NotContains(t, line, Missing, "target computed: %s", line)
	}
}

// TestEncryptionTargets checks the arithmetic of the encryption targets.
func TestEncryptionTargets(t *testing.T) {
	row := func(backend, sync string, p50 time.Duration, elapsed time.Duration) Result {
		return Result{Workload: WorkloadAppend, Backend: backend, Size: 200, Batch: 1, Concurrency: 1, Sync: sync,
			Ops: 1000, Elapsed: elapsed, Latency: Summary{P50: p50}}
	}
	got := encryptionTargets(rowFinder{
		row("jsonl", "always", 100*time.Microsecond, 0), row("jsonl+enc", "always", 105*time.Microsecond, 0),
		row("jsonl", "none", 0, 1000*time.Microsecond), row("jsonl+enc", "none", 0, 3000*time.Microsecond),
	})
	require.Len(t, got, 4)
	assert.InDelta(t, 1.05, got[0].Got, 1e-9)
	assert.Equal(t, Pass, got[0].Status)
	assert.InDelta(t, 2.0, got[1].Got, 1e-9, "2 µs more per record")
	assert.Equal(t, Miss, got[1].Status)
	assert.Equal(t, Missing, got[2].Status, "no pebble rows")
	assert.Equal(t, Missing, got[3].Status)
}
