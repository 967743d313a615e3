package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleReport is a report with known figures, no measuring.
func sampleReport() *Report {
	lat := func(p50 time.Duration) Summary {
		return Summary{Count: 1000, Mean: p50 + p50/10, P50: p50, P90: 2 * p50, P99: 4 * p50, P999: 8 * p50, Max: 10 * p50}
	}
	appendRow := func(name string, baseline bool, conc int, sync string, p50 time.Duration, elapsed time.Duration) Result {
		return Result{Workload: WorkloadAppend, Backend: name, Baseline: baseline, Size: 200, Batch: 1,
			Concurrency: conc, Sync: sync, Run: 1, Ops: 1000, Records: 1000, Bytes: 200_000,
			Elapsed: elapsed, Latency: lat(p50), Syncs: 1000, Mallocs: 3000}
	}
	replayRow := func(name string, baseline bool, records int64, elapsed, open time.Duration) Result {
		return Result{Workload: WorkloadReplay, Backend: name, Baseline: baseline, Size: 200, Batch: fillBatch,
			Concurrency: 1, Sync: "always", Run: 1, Ops: records, Records: records, Bytes: 200 * records,
			Elapsed: elapsed, Open: open}
	}
	httpRow := func(name, mode string, elapsed time.Duration, syncs int64, mem *Memory) Result {
		return Result{Workload: WorkloadBrokerHTTP, Backend: name, Mode: mode, Batch: 1, Concurrency: 16,
			Sync: "always", Run: 1, Ops: 1000, Records: 1000, Syncs: syncs, Elapsed: elapsed,
			Latency: lat(time.Millisecond), Memory: mem}
	}
	brokerRow := func(name, mode string, clients int, p50, elapsed time.Duration) Result {
		return Result{Workload: WorkloadBroker, Backend: name, Mode: mode, Batch: 1, Concurrency: clients,
			Sync: "always", Run: 1, Ops: 1000, Records: 1000, Elapsed: elapsed, Latency: lat(p50)}
	}
	return &Report{
		Env:     Environment{GOOS: "linux", GOARCH: "amd64", CPUs: 2, GoVersion: "go1.26", Dir: "/tmp/x", FS: "ext4"},
		Options: Options{Count: 1},
		Results: []Result{
			appendRow(Fdatasync, true, 1, "always", 300*time.Microsecond, 350*time.Millisecond), // compared with nothing
			appendRow(FdatasyncPrealloc, true, 1, "always", 200*time.Microsecond, 250*time.Millisecond),
			appendRow("jsonl", false, 1, "always", 220*time.Microsecond, 280*time.Millisecond),   // 1.10: MISS
			appendRow("tidwall", false, 1, "always", 400*time.Microsecond, 450*time.Millisecond), // 2.00: MISS
			appendRow(TidwallRaw, true, 1, "always", 300*time.Microsecond, 350*time.Millisecond), // tidwall ÷ raw 1.33: MISS
			appendRow("pebble", false, 1, "always", 280*time.Microsecond, 300*time.Millisecond),  // 1.40: PASS
			appendRow("jsonl", false, 64, "always", 2*time.Millisecond, 20*time.Millisecond),     // 14× jsonl, 12.5× the disk
			appendRow("jsonl", false, 1, "none", 900*time.Nanosecond, 900*time.Microsecond),      // 0.9 µs/op: PASS
			brokerRow(NoWAL, BrokerSync, 1, 500*time.Microsecond, time.Second),
			brokerRow("jsonl", BrokerSyncWAL, 1, 800*time.Microsecond, 2*time.Second), // (800-500)/200 = 1.5: PASS
			brokerRow(NoWAL, BrokerSync, 16, 500*time.Microsecond, time.Second),
			brokerRow("jsonl", BrokerAsyncWAL, 16, 300*time.Microsecond, 800*time.Millisecond),
			httpRow(NoWAL, BrokerSync, time.Second, 0, nil),
			httpRow(NoWAL, BrokerAsync, 500*time.Millisecond, 0, nil),
			httpRow("jsonl", BrokerSyncWAL, 1250*time.Millisecond, 200, nil), // 0.8× sync, 0.4× async, 5 per fsync
			httpRow("jsonl", BrokerAsyncWAL, 625*time.Millisecond, 100, nil), // 0.8× async: PASS
			func() Result { // a long row of its own, with 10,000 sessions
				r := httpRow(NoWAL, BrokerAsync, time.Minute, 0, &Memory{RSSEnd: 150e6, RSSLastHalf: 8e6})
				r.Concurrency = 8
				return r
			}(),
			replayRow("jsonl", false, 100_000, 10*time.Millisecond, time.Millisecond), // too few records for the target
			replayRow("tidwall", false, 100_000, 25*time.Millisecond, 25*time.Millisecond),
			replayRow(TidwallRaw, true, 100_000, 24*time.Millisecond, time.Millisecond), // open + replay: 0.5, MISS
		},
	}
}

var (
	benchName  = regexp.MustCompile(`^Benchmark[^a-z\s]\S*$`)
	configLine = regexp.MustCompile(`^[a-z][^\sA-Z:]*: `)
	unitToken  = regexp.MustCompile(`^\S+$`)
)

// TestBenchLinesParse checks every line against the Go benchmark format
// that benchstat reads: config lines "key: value", and result lines of a
// name, an iteration count, then value-unit pairs.
func TestBenchLinesParse(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, sampleReport().WriteBench(&out))
	results := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if configLine.MatchString(line) {
			continue
		}
		fields := strings.Fields(line)
		require.GreaterOrEqual(t, len(fields), 4, "line %q", line)
		assert.Regexp(t, benchName, fields[0])
		assert.Contains(t, fields[0], "/backend=")
		_, err := strconv.ParseInt(fields[1], 10, 64)
		assert.NoError(t, err, "iterations in %q", line)
		pairs := fields[2:]
		require.Zero(t, len(pairs)%2, "value-unit pairs in %q", line)
		units := map[string]bool{}
		for i := 0; i < len(pairs); i += 2 {
			_, err := strconv.ParseFloat(pairs[i], 64)
			assert.NoError(t, err, "value %q in %q", pairs[i], line)
			assert.Regexp(t, unitToken, pairs[i+1])
			units[pairs[i+1]] = true
		}
		assert.True(t, units["ns/op"] && units["MB/s"] && units["fsyncs/op"] && units["allocs/op"], "line %q", line)
		results++
	}
	assert.Equal(t, len(sampleReport().Results), results)
}

func TestBenchNameCarriesTheSettings(t *testing.T) {
	r := sampleReport().Results[0]
	assert.Equal(t, "BenchmarkWAL/backend=fdatasync/workload=append/batch=1/size=200/conc=1/sync=always", BenchName(r))
	r.Workload, r.Mode = "broker", "async+wal"
	assert.Contains(t, BenchName(r), "/workload=broker/mode=async+wal/")
}

func TestJSONIsOneObjectPerRow(t *testing.T) {
	var out bytes.Buffer
	rep := sampleReport()
	require.NoError(t, rep.WriteJSON(&out))
	dec := json.NewDecoder(&out)
	var rows []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		rows = append(rows, m)
	}
	require.Len(t, rows, len(rep.Results))
	assert.Equal(t, "jsonl", rows[2]["backend"])
	assert.EqualValues(t, 220_000, rows[2]["p50_ns"])
	assert.EqualValues(t, 1, rows[2]["fsyncs_per_op"])
	assert.EqualValues(t, 3, rows[2]["allocs_per_op"])
}

func targetsByName(rows []Result) map[string]Target {
	got := map[string]Target{}
	for _, tg := range EvaluateTargets(rows) {
		got[tg.Name] = tg
	}
	return got
}

func TestTargetsAreComputedFromTheRows(t *testing.T) {
	got := targetsByName(sampleReport().Summary())
	check := func(name, status string, value float64) {
		t.Helper()
		tg, ok := got[name]
		require.True(t, ok, "target %q", name)
		assert.Equal(t, status, tg.Status, name)
		if status != Missing {
			assert.InDelta(t, value, tg.Got, 0.001, name)
		}
	}
	// Every "÷ the disk" figure divides by fdatasync-prealloc (200 µs, 4,000
	// Appends/s), not by the plain fdatasync row (300 µs).
	check("jsonl ÷ fdatasync-prealloc, p50 per Append, sync=always, 1 writer", Miss, 1.1)
	check("tidwall ÷ fdatasync-prealloc, p50 per Append, sync=always, 1 writer", Miss, 2)
	check("pebble ÷ fdatasync-prealloc, p50 per Append, sync=always, 1 writer", Pass, 1.4)
	check("tidwall ÷ tidwall-raw, p50 per Append, sync=always, 1 writer", Miss, 4.0/3)
	check("pebble ÷ pebble-raw, p50 per Append, sync=always, 1 writer", Missing, 0)
	check("jsonl, 64 writers ÷ fdatasync-prealloc, 1 writer, Appends/s, sync=always", Miss, 12.5)
	check("jsonl, 64 writers ÷ 1 writer, Appends/s, sync=always", Pass, 14)
	check("broker, synchronous, 1 client: p50 added by the jsonl WAL ÷ fdatasync-prealloc p50", Pass, 1.5)
	check("broker-http, 16 clients, jsonl: synchronous+WAL p99 ÷ its p50", Pass, 4)
	check("broker-http, 16 clients, jsonl: synchronous+WAL ÷ synchronous without WAL, requests/s", Miss, 0.8)
	check("broker-http, 16 clients, jsonl: synchronous+WAL ÷ async without WAL, requests/s", Miss, 0.4)
	check("broker-http, 16 clients, jsonl: records per WAL fsync, synchronous", Pass, 5)
	check("broker-http, 16 clients, jsonl: async+WAL ÷ async without WAL, requests/s", Pass, 0.8)
	check("broker-http, row of 60 s or more: RSS at its end", Pass, 150)
	check("broker-http, row of 60 s or more: RSS change over its second half", Miss, 8)
	check("jsonl replay of 1M records in the page cache", Missing, 0)
	// Open counts: replay alone would be 24/25 = 0.96.
	check("tidwall ÷ tidwall-raw, open + replay, records/s", Miss, 0.5)
	check("jsonl append, sync=none, 1 writer, 200-byte records", Pass, 0.9)
	assert.Equal(t, "5% over", got["jsonl ÷ fdatasync-prealloc, p50 per Append, sync=always, 1 writer"].Note)
	assert.Equal(t, "16% over", got["tidwall ÷ tidwall-raw, p50 per Append, sync=always, 1 writer"].Note)
	assert.Equal(t, "38% short", got["tidwall ÷ tidwall-raw, open + replay, records/s"].Note)
	assert.Equal(t, "not computed: needs -records 1000000 (the row has 100000)",
		got["jsonl replay of 1M records in the page cache"].Note)
	for name, tg := range got {
		assert.NotContains(t, tg.Note, "fdatasync rows", "%s: the plain fdatasync row is no target's limit", name)
	}
}

func TestReplayTargetNeedsAMillionRecords(t *testing.T) {
	row := Result{Workload: WorkloadReplay, Backend: "jsonl", Size: 200, Batch: fillBatch, Concurrency: 1,
		Sync: "always", Run: 1, Ops: 1_000_000, Records: 1_000_000, Bytes: 200_000_000,
		Elapsed: 80 * time.Millisecond, Open: 50 * time.Millisecond}
	const name = "jsonl replay of 1M records in the page cache"
	tg := targetsByName([]Result{row})[name]
	assert.Equal(t, Pass, tg.Status)
	assert.InDelta(t, 12.5e6, tg.Got, 1, "records over replay time; open is its own figure")

	row.Elapsed = 125 * time.Millisecond
	tg = targetsByName([]Result{row})[name]
	assert.Equal(t, Miss, tg.Status)
	assert.Equal(t, "20% short", tg.Note)

	row.Records, row.Ops, row.Elapsed = 999_999, 999_999, time.Millisecond
	tg = targetsByName([]Result{row})[name]
	assert.Equal(t, Missing, tg.Status, "999,999 records are not enough, however fast")

	tg = targetsByName(nil)[name]
	assert.Equal(t, Missing, tg.Status)
	assert.Contains(t, tg.Note, "-workload replay")
}

func TestTextEndsWithTheTargets(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, sampleReport().WriteText(&out))
	text := out.String()
	assert.Contains(t, text, "append, sync=always, 200-byte records, batch 1")
	assert.Contains(t, text, "replay, 100000 records of 200 bytes")
	i := strings.Index(text, "targets")
	require.Positive(t, i)
	assert.Contains(t, text[i:], "MISS  jsonl ÷ fdatasync-prealloc")
	assert.Contains(t, text[i:], "PASS  pebble ÷ fdatasync-prealloc")
	assert.Contains(t, text[i:], "n/a   jsonl replay of 1M records in the page cache")
}

func TestSummaryTakesTheMedianOfRepetitions(t *testing.T) {
	rep := sampleReport()
	base := rep.Results[0]
	rep.Results = nil
	for i, p50 := range []time.Duration{300, 100, 200} {
		r := base
		r.Run = i + 1
		r.Latency.P50 = p50 * time.Microsecond
		r.Elapsed = time.Duration(i+1) * time.Second
		rep.Results = append(rep.Results, r)
	}
	s := rep.Summary()
	require.Len(t, s, 1)
	assert.Equal(t, 200*time.Microsecond, s[0].Latency.P50)
	assert.Equal(t, 2*time.Second, s[0].Elapsed)
}

func TestChartIsWellFormedSVG(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, sampleReport().WriteChart(&out))
	dec := xml.NewDecoder(&out)
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	assert.Equal(t, 17, polylines, "one line per append, broker and broker-http row")
}

func TestBrokerRowsOfEverySyncModeCompareWithTheDefault(t *testing.T) {
	row := func(name, mode, sync string, p50 time.Duration) Result {
		return Result{Workload: WorkloadBroker, Backend: name, Mode: mode, Batch: 1, Concurrency: 16, Sync: sync,
			Run: 1, Ops: 100, Records: 100, Elapsed: time.Second, Latency: Summary{Count: 100, P50: p50, P99: 2 * p50}}
	}
	rep := &Report{Options: Options{Count: 1}, Results: []Result{
		row(NoWAL, BrokerSync, "always", 500*time.Microsecond),
		row("jsonl", BrokerAsyncWAL, "none", 100*time.Microsecond),
	}}
	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	text := out.String()
	i := strings.Index(text, "broker, WAL sync=none")
	require.Positive(t, i, text)
	assert.Contains(t, text[i:], "-400µs", "the sync=none row against the one no-WAL row")
}
