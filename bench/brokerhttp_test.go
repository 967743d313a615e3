package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/nautilus-go/nautilus/backend/jsonl"
	_ "github.com/nautilus-go/nautilus/backend/memory"
)

func TestMainBrokerHTTPRowsBesideTheInProcessRows(t *testing.T) {
	code, out, errOut := runMain(t, "-workload", "broker,broker-http", "-backends", "memory,jsonl,fdatasync",
		"-ops", "24", "-clients", "3", "-sessions", "7", "-rounds", "2", "-format", "json", "-dir", t.TempDir())
	require.Equal(t, ExitOK, code, "stderr: %s", errOut)

	type jsonResult struct {
		Result
		Memory          *Memory `json:"memory"`
		P50Ns           int64   `json:"p50_ns"`
		P99Ns           int64   `json:"p99_ns"`
		OpsPerSec       float64 `json:"ops_per_sec"`
		RecordsPerFsync float64 `json:"records_per_fsync"`
	}
	var rows []jsonResult
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r jsonResult
		require.NoError(t, dec.Decode(&r))
		if r.Workload == WorkloadBrokerHTTP {
			rows = append(rows, r)
		}
	}
	// no-wal sync and async, then sync+wal and async+wal per backend; a
	// baseline is no WAL a broker can use.
	modes := map[string][]string{}
	for _, r := range rows {
		modes[r.Backend] = append(modes[r.Backend], r.Mode)
	}
	assert.Equal(t, map[string][]string{
		NoWAL:    {BrokerSync, BrokerAsync},
		"memory": {BrokerSyncWAL, BrokerAsyncWAL},
		"jsonl":  {BrokerSyncWAL, BrokerAsyncWAL},
	}, modes)

	ops := int64(rowOps(24, 3, 2))
	for _, r := range rows {
		l := label(r.Result)
		assert.Equal(t, 3, r.Concurrency, l)
		assert.Equal(t, 7, r.Sessions, l)
		assert.Equal(t, ops, r.Ops, "%s: -ops raised to 16 per client per round", l)
		assert.Positive(t, r.OpsPerSec, l)
		assert.Positive(t, r.P50Ns, l)
		assert.GreaterOrEqual(t, r.P99Ns, r.P50Ns, l)
		// A client without keep-alive would dial once per request; with it,
		// hardly ever (Go's transport drops a connection whose request
		// write is reported over 50ms late, as on a loaded machine).
		assert.Less(t, r.Connections, r.Ops/2, "%s: keep-alive clients reuse their connections", l)
		switch {
		case r.Backend == NoWAL:
			assert.Zero(t, r.Records, "%s: no WAL, no WAL records", l)
			assert.Zero(t, r.Syncs, l)
		case r.Backend == "memory":
			assert.Equal(t, ops, r.Records, "%s: one WAL record per request", l)
			assert.Zero(t, r.Syncs, "%s: the memory backend does no I/O", l)
		default:
			assert.Equal(t, ops, r.Records, "%s: one WAL record per request", l)
			assert.Positive(t, r.Syncs, l)
			assert.LessOrEqual(t, r.Syncs, r.Records, "%s: group commit shares fsyncs", l)
			assert.InDelta(t, float64(r.Records)/float64(r.Syncs), r.RecordsPerFsync, 1e-9, l)
		}
		if r.Mode == BrokerAsync || r.Mode == BrokerAsyncWAL {
			assert.Positive(t, r.Drain, "%s: the backlog's store write is timed", l)
		}
		m := r.Memory
		require.NotNil(t, m, l)
		assert.GreaterOrEqual(t, m.Samples, 2, "%s: a sample at the window's start and end", l)
		assert.Positive(t, m.HeapBefore, l)
		assert.Positive(t, m.HeapEnd, l)
		assert.Positive(t, m.HeapAfter, l)
		if runtime.GOOS == "linux" {
			assert.Positive(t, m.RSSBefore, l)
			assert.GreaterOrEqual(t, m.RSSPeak, m.RSSEnd, l)
			assert.Positive(t, m.RSSEnd, l)
			assert.Positive(t, m.RSSAfter, l)
		}
	}
}

func TestBrokerHTTPTextTableComparesWithTheInProcessRow(t *testing.T) {
	code, out, errOut := runMain(t, "-workload", "broker,broker-http", "-backends", "jsonl",
		"-ops", "16", "-clients", "2", "-sessions", "2", "-rounds", "1", "-dir", t.TempDir())
	require.Equal(t, ExitOK, code, "stderr: %s", errOut)
	assert.Equal(t, 4+4, strings.Count(errOut, "walbench: ["), "progress:\n%s", errOut)
	assert.Contains(t, errOut, "broker-http jsonl async+wal clients=2 sync=always")
	i := strings.Index(out, "broker-http, WAL sync=always, SQLite store, 2 sessions")
	require.GreaterOrEqual(t, i, 0, out)
	lines := strings.Split(out[i:], "\n")
	assert.Contains(t, lines[1], "records/fsync")
	assert.Contains(t, lines[1], "RSS Δlast half")
	for _, l := range lines[2:6] {
		f := strings.Fields(l)
		require.GreaterOrEqual(t, len(f), 6, l)
		if f[1] == BrokerAsync {
			continue // no in-process row to compare with
		}
		assert.Regexp(t, `^[+-]|^0$`, f[6], "Δp50 against the in-process row: %q", l)
	}
}

func TestBrokerHTTPRowRunsForTheDuration(t *testing.T) {
	o := DefaultOptions()
	o.Backends, o.Workloads, o.HTTPClients, o.Sessions = []string{"memory"}, []string{WorkloadBrokerHTTP}, []int{2}, 4
	o.Duration, o.Dir = 300*time.Millisecond, t.TempDir()
	rep, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.Len(t, rep.Results, 4)
	for _, r := range rep.Results {
		assert.GreaterOrEqual(t, r.Elapsed, o.Duration, label(r))
		assert.Positive(t, r.Ops, label(r))
		assert.EqualValues(t, r.Ops, r.Latency.Count, label(r))
	}
}

func TestMemoryFiguresFromSamples(t *testing.T) {
	const mib = 1 << 20
	var m Memory
	m.fromSamples([]memSample{
		{at: 0, rss: 50 * mib, heap: 1},
		{at: 1 * time.Second, rss: 90 * mib, heap: 2},
		{at: 2 * time.Second, rss: 80 * mib, heap: 3}, // the midpoint of 4s
		{at: 3 * time.Second, rss: 85 * mib, heap: 4},
		{at: 4 * time.Second, rss: 83 * mib, heap: 5},
	})
	assert.Equal(t, Memory{RSSEnd: 83 * mib, RSSPeak: 90 * mib, HeapEnd: 5, RSSLastHalf: 3 * mib, Samples: 5}, m)

	m = Memory{}
	m.fromSamples([]memSample{{at: 10 * time.Millisecond, rss: 7, heap: 9}})
	assert.Equal(t, Memory{RSSEnd: 7, RSSPeak: 7, HeapEnd: 9, Samples: 1}, m, "one sample: no change")
}

func TestRSSSeesTouchedMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RSS is read from /proc, which only Linux has")
	}
	debug.FreeOSMemory() // so the buffer cannot reuse pages still resident
	before := rss()
	require.Positive(t, before)
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after := rss()
	runtime.KeepAlive(buf)
	assert.GreaterOrEqual(t, after-before, int64(48<<20), "64 MiB touched: before %d, after %d", before, after)
}

func TestParseFlagsBrokerHTTP(t *testing.T) {
	cmd, err := ParseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{DefaultHTTPClients}, cmd.HTTPClients)
	assert.Equal(t, DefaultHTTPSessions, cmd.Sessions)
	assert.Zero(t, cmd.Duration)
	assert.NotContains(t, cmd.Workloads, WorkloadBrokerHTTP, "not in the default run")

	cmd, err = ParseFlags([]string{"-workload", "broker-http", "-clients", "4,8", "-sessions", "10000", "-duration", "60s"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{4, 8}, cmd.HTTPClients, "-clients sets broker-http's clients too")
	assert.Equal(t, []int{4, 8}, cmd.Clients)
	assert.Equal(t, 10000, cmd.Sessions)
	assert.Equal(t, time.Minute, cmd.Duration)

	cases := []struct {
		name string
		args []string
		flag string // the flag the message must name
		says string
	}{
		{"sessions without broker-http", []string{"-workload", "broker", "-sessions", "10"}, "-sessions", "broker-http"},
		{"duration without broker-http", []string{"-duration", "1s"}, "-duration", "broker-http"},
		{"negative duration", []string{"-workload", "broker-http", "-duration", "-1s"}, "-duration", "negative"},
		{"not a duration", []string{"-workload", "broker-http", "-duration", "60"}, "-duration", ""},
		{"zero sessions", []string{"-workload", "broker-http", "-sessions", "0"}, "-sessions", "positive"},
		{"fewer sessions than clients", []string{"-workload", "broker-http", "-sessions", "3", "-clients", "1,4"}, "-sessions", "3 sessions for 4 clients"},
		{"fewer sessions than the default clients", []string{"-workload", "broker-http", "-sessions", "8"}, "-sessions", "8 sessions for 16 clients"},
		{"more clients than connections", []string{"-workload", "broker-http", "-sessions", "5000", "-clients", "2000"}, "-clients", "at most 1024 connections"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFlags(c.args, io.Discard)
			var usage *UsageError
			require.ErrorAs(t, err, &usage)
			assert.Contains(t, err.Error(), c.flag)
			assert.Contains(t, err.Error(), c.says)
		})
	}
	// The in-process broker has no such limit on its clients.
	_, err = ParseFlags([]string{"-workload", "broker", "-clients", "2000"}, io.Discard)
	assert.NoError(t, err)
}

func TestHelpNamesBrokerHTTPFlags(t *testing.T) {
	var usage bytes.Buffer
	_, err := ParseFlags([]string{"-h"}, &usage)
	require.Error(t, err)
	for _, f := range []string{"-sessions", "-duration", "broker-http"} {
		assert.Contains(t, usage.String(), f)
	}
}
