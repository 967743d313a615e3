package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/backend/memory"
)

// failingAppend is a backend whose every Append fails, as a full disk would.
type failingAppend struct{ backend.WAL }

var errDiskFull = errors.New("no space left on device")

func (failingAppend) Append(context.Context, ...[]byte) (uint64, error) { return 0, errDiskFull }

func init() {
	backend.Register("walbench-failing", backend.DriverFunc(func(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
		w, err := memory.Open(ctx, cfg)
		return failingAppend{w}, err
	}))
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMainTinyRunOverMemoryAndFdatasync(t *testing.T) {
	dir := t.TempDir()
	chart := filepath.Join(dir, "chart.svg")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "wal"), 0o700))
	code, out, errOut := runMain(t, "-backends", "memory,fdatasync", "-workload", "append,replay,truncate",
		"-ops", "40", "-records", "500", "-concurrency", "1,4", "-dir", filepath.Join(dir, "wal"), "-chart", chart)
	require.Equal(t, ExitOK, code, "stderr: %s", errOut)

	// fdatasync has no truncate row: 4 append, 2 replay, 1 truncate.
	assert.Equal(t, 7, strings.Count(errOut, "walbench: ["), "one progress line per row:\n%s", errOut)
	for _, want := range []string{
		"append, sync=always, 200-byte records, batch 1: latency per Append",
		"replay, 500 records of 200 bytes",
		"truncate, sync=always, 200-byte records",
		"targets (computed from the rows above)",
	} {
		assert.Contains(t, out, want)
	}
	lines := strings.Split(out, "\n")
	var fdatasyncRows int
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 12 && f[0] == Fdatasync {
			fdatasyncRows++
			assert.Equal(t, "1.000", f[10], "fdatasync syncs once per Append: %q", l)
		}
		if len(f) == 12 && f[0] == "memory" {
			assert.Equal(t, "0.000", f[10], "memory does no I/O: %q", l)
		}
	}
	assert.Equal(t, 2, fdatasyncRows, "an fdatasync append row per concurrency")

	svg, err := os.ReadFile(chart)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	entries, err := os.ReadDir(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	assert.Empty(t, entries, "every row's directory is removed")
}

func TestMainFormatsBenchAndJSON(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{FormatBench, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			file := filepath.Join(dir, "out."+format)
			code, out, errOut := runMain(t, "-backends", "memory,fdatasync", "-ops", "20", "-records", "100",
				"-concurrency", "2", "-format", format, "-o", file, "-count", "2")
			require.Equal(t, ExitOK, code, "stderr: %s", errOut)
			assert.Empty(t, out, "the report goes to -o")
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			want := `"workload":"append","backend":"fdatasync"`
			if format == FormatBench {
				want = "BenchmarkWAL/backend=fdatasync/workload=append/batch=1/size=200/conc=2/sync=always-"
			}
			assert.Equal(t, 2, strings.Count(string(data), want), "two repetitions of the append row:\n%s", data)
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	t.Run("a usage error exits 2 naming the flag", func(t *testing.T) {
		code, _, errOut := runMain(t, "-concurrency", "0")
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "-concurrency")
	})
	t.Run("an output that cannot be created exits 2 naming the flag", func(t *testing.T) {
		code, _, errOut := runMain(t, "-backends", "memory", "-chart", filepath.Join(t.TempDir(), "no", "such", "c.svg"))
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "-chart")
	})
	t.Run("a WAL error exits 1 naming the row", func(t *testing.T) {
		code, out, errOut := runMain(t, "-backends", "walbench-failing", "-ops", "5", "-concurrency", "1")
		assert.Equal(t, ExitError, code)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "append walbench-failing writers=1 sync=always")
		assert.Contains(t, errOut, errDiskFull.Error())
	})
	t.Run("a missing -dir exits 2 naming it, creating nothing", func(t *testing.T) {
		parent := t.TempDir()
		missing := filepath.Join(parent, "no", "such")
		report := filepath.Join(parent, "report.txt")
		code, _, errOut := runMain(t, "-backends", "memory", "-dir", missing, "-o", report)
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "-dir")
		assert.Contains(t, errOut, missing)
		assert.NoDirExists(t, filepath.Join(parent, "no"), "the missing tree is not created")
		assert.NoFileExists(t, report, "the run stops before creating its outputs")
	})
	t.Run("a -dir that is a file exits 2", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		code, _, errOut := runMain(t, "-backends", "memory", "-dir", file)
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "not a directory")
	})
	t.Run("a report that cannot be written exits 1", func(t *testing.T) {
		var errOut bytes.Buffer
		code := Main(context.Background(), []string{"-backends", "memory", "-workload", "append", "-ops", "20",
			"-concurrency", "1", "-rounds", "1"}, failingWriter{}, &errOut)
		assert.Equal(t, ExitError, code)
		assert.Contains(t, errOut.String(), "write report")
		assert.Contains(t, errOut.String(), errDiskFull.Error())
	})
	for _, h := range []string{"-h", "-help", "--help"} {
		t.Run(h+" exits 0", func(t *testing.T) {
			code, out, errOut := runMain(t, h)
			assert.Equal(t, ExitOK, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, "Usage: walbench")
		})
	}
}

// failingWriter is a report destination on a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestReportsAreWrittenPrivate(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.txt")
	code, _, errOut := runMain(t, "-backends", "memory", "-workload", "append", "-ops", "20", "-concurrency", "1",
		"-rounds", "1", "-o", report, "-dir", dir)
	require.Equal(t, ExitOK, code, "stderr: %s", errOut)
	fi, err := os.Stat(report)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestMainBrokerRowsCompareWithTheDefault(t *testing.T) {
	code, out, errOut := runMain(t, "-workload", "broker", "-backends", "memory,jsonl,fdatasync", "-ops", "24",
		"-clients", "1,3", "-dir", t.TempDir())
	require.Equal(t, ExitOK, code, "stderr: %s", errOut)
	// Per client count: the no-WAL default, then sync+wal and async+wal for
	// each backend; a baseline is no WAL a broker can use.
	assert.Equal(t, 10, strings.Count(errOut, "walbench: ["), "progress:\n%s", errOut)
	assert.Contains(t, out, "broker, WAL sync=always, SQLite store")
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || (f[0] != NoWAL && f[0] != "jsonl" && f[0] != "memory") {
			continue
		}
		rows++
		switch f[1] {
		case BrokerSync:
			assert.Equal(t, NoWAL, f[0], l)
		case BrokerSyncWAL, BrokerAsyncWAL:
			assert.Contains(t, []string{"jsonl", "memory"}, f[0], l)
			assert.Regexp(t, `^[+-]|^0$`, f[9], "Δp50 against the default: %q", l)
		default:
			t.Errorf("unexpected mode in %q", l)
		}
	}
	assert.Equal(t, 10, rows, out)
}

func TestBaselinesAppendReplayAndTruncate(t *testing.T) {
	for _, name := range []string{Fdatasync, FdatasyncPrealloc, TidwallRaw, PebbleRaw, BboltRaw} {
		t.Run(name, func(t *testing.T) {
			o := Options{Backends: []string{name}, Workloads: []string{WorkloadAppend, WorkloadReplay, WorkloadTruncate},
				Ops: 96, Records: 300, Size: 64, Batch: 3, Concurrency: []int{1, 3}, Clients: []int{1},
				Sync: []backend.SyncMode{backend.SyncAlways}, Count: 1, Rounds: 2, Dir: t.TempDir()}
			rep, err := Run(context.Background(), o)
			require.NoError(t, err)
			for _, r := range rep.Results {
				switch r.Workload {
				case WorkloadAppend:
					// 96: 16 per writer in each of 2 rounds with 3 writers.
					assert.EqualValues(t, 288, r.Records, "%s: 96 Appends of 3", label(r))
					assert.EqualValues(t, 96, r.Latency.Count)
					if r.Concurrency == 1 || name != PebbleRaw {
						assert.EqualValues(t, 96, r.Syncs, "%s: one durable commit per Append", label(r))
					} else {
						assert.Positive(t, r.Syncs, "%s: pebble's pipeline may merge syncs", label(r))
						assert.LessOrEqual(t, r.Syncs, int64(96+5), label(r))
					}
				case WorkloadReplay:
					assert.EqualValues(t, 300, r.Records, label(r))
				case WorkloadTruncate:
					assert.EqualValues(t, 100, r.Ops, "%s: TruncateFront calls", label(r))
				}
			}
		})
	}
}

func TestBrokerAsyncRowsTimeTheirBacklogOutsideTheWindow(t *testing.T) {
	o := DefaultOptions()
	o.Backends, o.Workloads, o.Ops, o.Clients, o.Rounds = []string{"jsonl"}, []string{WorkloadBroker}, 128, []int{4}, 2
	o.Dir = t.TempDir()
	rep, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.Len(t, rep.Results, 3)
	for _, r := range rep.Results {
		assert.EqualValues(t, 128, r.Latency.Count, "%s: 16 requests per client in each round", label(r))
		if r.Mode == BrokerAsyncWAL {
			assert.Positive(t, r.Drain, "%s: Flush after each round is timed", label(r))
		} else {
			assert.Zero(t, r.Drain, "%s: the store is written before the answer", label(r))
		}
	}
}
