package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Target statuses.
const (
	Pass    = "PASS"
	Miss    = "MISS"
	Missing = "n/a" // the run has no rows to compute it from
)

// Target is one performance goal checked against a run's rows.
type Target struct {
	Name   string  // what is compared
	Op     string  // "<=" or ">="
	Want   float64 // the bound
	Unit   string  // of Got and Want; "" for a ratio
	Got    float64
	Status string // Pass, Miss or Missing
	Note   string // Miss: by how much; Missing: which rows are needed
}

// targetSize is the record size the targets are stated for.
const targetSize = 200

// rowFinder finds a row's median result among a run's summary rows.
type rowFinder []Result

// find returns the row with these settings; sync "" and conc 0 match any.
// Broker rows carry no record size; their targets are stated for the
// SQLite store.
func (rows rowFinder) find(workload, backend, mode, sync string, conc int) (Result, bool) {
	for _, r := range rows {
		if r.Workload == workload && r.Backend == backend && r.Mode == mode && (sync == "" || r.Sync == sync) &&
			(conc == 0 || r.Concurrency == conc) && (workload == WorkloadBroker || workload == WorkloadBrokerHTTP || r.Size == targetSize) &&
			(workload != WorkloadAppend || r.Batch == 1) && r.Store != StorePostgres {
			return r, true
		}
	}
	return Result{}, false
}

// replayTargetRecords is the log size the replay target is stated for: a
// smaller log's fixed costs would flatter or penalise the rate.
const replayTargetRecords = 1_000_000

// EvaluateTargets checks the project's performance targets against rows
// (one result per row, as Report.Summary returns). A target whose rows are
// not in the run is Missing, with a note saying what to run. The disk's
// limit is the fdatasync-prealloc row: the plain fdatasync row also pays
// for recording the file's growth, which a WAL with preallocated segments
// does not.
func EvaluateTargets(rows []Result) []Target {
	f := rowFinder(rows)
	var out []Target
	p50 := func(r Result) float64 { return float64(r.Latency.P50) }
	ops := func(r Result) float64 { return r.OpsPerSec() }

	// ratio builds a target comparing metric(a) to metric(b).
	type side struct {
		workload, backend, mode, sync string
		conc                          int
	}
	ratio := func(name, op string, want float64, a, b side, metric func(Result) float64, need string) Target {
		t := Target{Name: name, Op: op, Want: want}
		ra, okA := f.find(a.workload, a.backend, a.mode, a.sync, a.conc)
		rb, okB := f.find(b.workload, b.backend, b.mode, b.sync, b.conc)
		if !okA || !okB || metric(rb) == 0 {
			t.Status, t.Note = Missing, need
			return t
		}
		t.Got = metric(ra) / metric(rb)
		return t.judge()
	}
	appendAt := func(backend string, conc int) side {
		return side{WorkloadAppend, backend, "", "always", conc}
	}
	disk := appendAt(FdatasyncPrealloc, 1)
	needAppend := "needs append rows at -size 200 -batch 1 -sync always"

	for _, c := range []struct {
		backend string
		want    float64
	}{{"jsonl", 1.05}, {"tidwall", 1.5}, {"pebble", 1.5}} {
		out = append(out, ratio(c.backend+" ÷ "+FdatasyncPrealloc+", p50 per Append, sync=always, 1 writer", "<=", c.want,
			appendAt(c.backend, 1), disk, p50, needAppend+" and the "+c.backend+" and "+FdatasyncPrealloc+" rows"))
	}
	for _, b := range []string{"tidwall", "pebble", "bbolt"} {
		raw := b + "-raw"
		out = append(out, ratio(b+" ÷ "+raw+", p50 per Append, sync=always, 1 writer", "<=", 1.15,
			appendAt(b, 1), appendAt(raw, 1), p50, needAppend+" and the "+b+" and "+raw+" rows"))
	}
	out = append(out, ratio("jsonl, 64 writers ÷ "+FdatasyncPrealloc+", 1 writer, Appends/s, sync=always", ">=", 20,
		appendAt("jsonl", 64), disk, ops, needAppend+" -concurrency 1,64 and the jsonl and "+FdatasyncPrealloc+" rows"))
	for _, b := range []string{"jsonl", "tidwall", "pebble"} {
		out = append(out, ratio(b+", 64 writers ÷ 1 writer, Appends/s, sync=always", ">=", 10,
			appendAt(b, 64), appendAt(b, 1), ops, needAppend+" -concurrency 1,64"))
	}

	// The broker's p50 with the WAL minus its p50 without, over the disk's.
	added := Target{Name: "broker, synchronous, 1 client: p50 added by the jsonl WAL ÷ " + FdatasyncPrealloc + " p50",
		Op: "<=", Want: 2}
	withWAL, ok1 := f.find(WorkloadBroker, "jsonl", BrokerSyncWAL, "always", 1)
	noWAL, ok2 := f.find(WorkloadBroker, NoWAL, BrokerSync, "", 1)
	limit, ok3 := f.find(WorkloadAppend, FdatasyncPrealloc, "", "always", 1)
	if ok1 && ok2 && ok3 && limit.Latency.P50 > 0 {
		added.Got = float64(withWAL.Latency.P50-noWAL.Latency.P50) / float64(limit.Latency.P50)
		added = added.judge()
	} else {
		added.Status, added.Note = Missing, "needs -workload append,broker -sync always with the jsonl and "+FdatasyncPrealloc+" rows"
	}
	out = append(out, added)
	out = append(out, brokerHTTPTargets(f)...)

	out = append(out, replayTarget(f))
	// Open and replay are timed apart, the same way for both rows; their
	// sum is what a restart costs.
	openReplay := func(r Result) float64 { return perSec(float64(r.Records), r.Open+r.Elapsed) }
	out = append(out, ratio("tidwall ÷ tidwall-raw, open + replay, records/s", ">=", 0.8,
		side{WorkloadReplay, "tidwall", "", "", 0}, side{WorkloadReplay, TidwallRaw, "", "", 0},
		openReplay, "needs -workload replay -size 200 with the tidwall and tidwall-raw rows"))

	none := Target{Name: "jsonl append, sync=none, 1 writer, 200-byte records", Op: "<=", Want: 1, Unit: "µs/op"}
	if r, ok := f.find(WorkloadAppend, "jsonl", "", "none", 1); ok {
		none.Got = r.NsPerOp() / 1e3
		none = none.judge()
	} else {
		none.Status, none.Note = Missing, "needs -sync none -size 200 -batch 1 with the jsonl row"
	}
	out = append(out, none)
	return append(out, encryptionTargets(f)...)
}

// replayTarget is jsonl's replay rate, computed from a row of at least
// replayTargetRecords records. The default run replays fewer, to stay
// short, and leaves it uncomputed.
func replayTarget(f rowFinder) Target {
	t := Target{Name: "jsonl replay of 1M records in the page cache", Op: ">=", Want: 10e6, Unit: "records/s"}
	r, ok := f.find(WorkloadReplay, "jsonl", "", "", 0)
	switch {
	case !ok:
		t.Status, t.Note = Missing, "needs -workload replay -size 200 with the jsonl row"
	case r.Records < replayTargetRecords:
		t.Status = Missing
		t.Note = fmt.Sprintf("not computed: needs -records %d (the row has %d)", replayTargetRecords, r.Records)
	default:
		t.Got = r.RecordsPerSec()
		t = t.judge()
	}
	return t
}

func (t Target) judge() Target {
	ok := t.Got <= t.Want
	if t.Op == ">=" {
		ok = t.Got >= t.Want
	}
	if ok {
		t.Status = Pass
		return t
	}
	t.Status = Miss
	if t.Op == ">=" {
		t.Note = fmt.Sprintf("%.0f%% short", (1-t.Got/t.Want)*100)
	} else {
		t.Note = fmt.Sprintf("%.0f%% over", (t.Got/t.Want-1)*100)
	}
	return t
}

func (t Target) value(v float64) string {
	switch {
	case t.Unit == "":
		return fmt.Sprintf("%.2f", v)
	case v >= 1e4:
		return fmt.Sprintf("%.0f %s", v, t.Unit)
	}
	return fmt.Sprintf("%.2f %s", v, t.Unit)
}

func writeTargets(w io.Writer, targets []Target) error {
	fmt.Fprintln(w, "targets (computed from the rows above)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sym := map[string]string{"<=": "≤", ">=": "≥"}
	for _, t := range targets {
		got := "-"
		if t.Status != Missing {
			got = t.value(t.Got)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\n", t.Status, t.Name, got, sym[t.Op], t.value(t.Want), t.Note)
	}
	return tw.Flush()
}

// brokerHTTPTargets are the broker's targets under load: 16 clients over
// HTTP, the jsonl WAL fsync'd (sync=always), each WAL mode against the
// modes without a WAL, and the process's memory over a long row.
func brokerHTTPTargets(f rowFinder) []Target {
	const clients = 16
	need := "needs -workload broker-http -backends jsonl -sync always -clients 16"
	row := func(backend, mode string) (Result, bool) {
		sync := "always"
		if backend == NoWAL {
			sync = ""
		}
		return f.find(WorkloadBrokerHTTP, backend, mode, sync, clients)
	}
	ops := func(r Result) float64 { return r.OpsPerSec() }
	check := func(t Target, got func() (float64, bool)) Target {
		v, ok := got()
		if !ok {
			t.Status, t.Note = Missing, need
			return t
		}
		t.Got = v
		return t.judge()
	}
	per := func(aBackend, aMode, bBackend, bMode string, metric func(Result) float64) func() (float64, bool) {
		return func() (float64, bool) {
			a, okA := row(aBackend, aMode)
			b, okB := row(bBackend, bMode)
			if !okA || !okB || metric(b) == 0 {
				return 0, false
			}
			return metric(a) / metric(b), true
		}
	}
	syncWAL := func(metric func(Result) float64) func() (float64, bool) {
		return func() (float64, bool) {
			r, ok := row("jsonl", BrokerSyncWAL)
			if !ok {
				return 0, false
			}
			return metric(r), true
		}
	}
	memory := func(metric func(*Memory) float64) func() (float64, bool) {
		return func() (float64, bool) {
			// The memory target is stated for a long row: the first
			// broker-http row with -duration 60s or more.
			for _, r := range f {
				if r.Workload == WorkloadBrokerHTTP && r.Memory != nil && r.Elapsed >= 59*time.Second {
					return metric(r.Memory), true
				}
			}
			return 0, false
		}
	}
	const mb = 1e6
	name := "broker-http, 16 clients, jsonl: "
	return []Target{
		check(Target{Name: name + "synchronous+WAL p99 ÷ its p50", Op: "<=", Want: 8},
			syncWAL(func(r Result) float64 { return float64(r.Latency.P99) / float64(max(r.Latency.P50, 1)) })),
		check(Target{Name: name + "synchronous+WAL ÷ synchronous without WAL, requests/s", Op: ">=", Want: 0.9},
			per("jsonl", BrokerSyncWAL, NoWAL, BrokerSync, ops)),
		check(Target{Name: name + "synchronous+WAL ÷ async without WAL, requests/s", Op: ">=", Want: 0.5},
			per("jsonl", BrokerSyncWAL, NoWAL, BrokerAsync, ops)),
		check(Target{Name: name + "records per WAL fsync, synchronous", Op: ">=", Want: 4},
			syncWAL(func(r Result) float64 { return r.RecordsPerSync() })),
		check(Target{Name: name + "async+WAL ÷ async without WAL, requests/s", Op: ">=", Want: 0.8},
			per("jsonl", BrokerAsyncWAL, NoWAL, BrokerAsync, ops)),
		check(Target{Name: "broker-http, row of 60 s or more: RSS at its end", Op: "<=", Want: 200, Unit: "MB"},
			memory(func(m *Memory) float64 { return float64(m.RSSEnd) / mb })),
		check(Target{Name: "broker-http, row of 60 s or more: RSS change over its second half", Op: "<=", Want: 5, Unit: "MB"},
			memory(func(m *Memory) float64 { return float64(m.RSSLastHalf) / mb })),
	}
}
