package bench

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a run's results and where they were taken.
type Report struct {
	Env     Environment
	Options Options
	Results []Result // in the order taken; every repetition
}

// Environment describes the machine and the directory a run measured.
type Environment struct {
	GOOS, GOARCH string
	CPUs         int    // GOMAXPROCS
	GoVersion    string // runtime.Version
	Dir          string // parent of the rows' directories
	FS           string // file system type of Dir, when known
}

func currentEnv(dir string) Environment {
	return Environment{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), Dir: dir, FS: fsType(dir)}
}

// key identifies a row across repetitions.
type key struct {
	workload, backend, mode, sync, store string
	size, batch, concurrency             int
}

func keyOf(r Result) key {
	return key{r.Workload, r.Backend, r.Mode, r.Sync, r.Store, r.Size, r.Batch, r.Concurrency}
}

// Summary returns one result per row: the median of each metric over the
// repetitions (with one repetition, the result itself), in the order first taken.
func (rep *Report) Summary() []Result {
	groups := map[key][]Result{}
	var order []key
	for _, r := range rep.Results {
		k := keyOf(r)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		out = append(out, medianResult(groups[k]))
	}
	return out
}

func medianResult(rs []Result) Result {
	if len(rs) == 1 {
		return rs[0]
	}
	m := rs[0]
	m.Run = 0
	med := func(f func(Result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[(len(v)-1)/2]
	}
	dur := func(f func(Result) time.Duration) time.Duration {
		return time.Duration(med(func(r Result) int64 { return int64(f(r)) }))
	}
	// Ops, Records and Bytes are the same in every repetition; the median
	// elapsed time gives the median throughput.
	m.Elapsed = dur(func(r Result) time.Duration { return r.Elapsed })
	m.Open = dur(func(r Result) time.Duration { return r.Open })
	m.Drain = dur(func(r Result) time.Duration { return r.Drain })
	m.Syncs = med(func(r Result) int64 { return r.Syncs })
	m.Mallocs = uint64(med(func(r Result) int64 { return int64(r.Mallocs) }))
	m.Latency.Mean = dur(func(r Result) time.Duration { return r.Latency.Mean })
	m.Latency.P50 = dur(func(r Result) time.Duration { return r.Latency.P50 })
	m.Latency.P90 = dur(func(r Result) time.Duration { return r.Latency.P90 })
	m.Latency.P99 = dur(func(r Result) time.Duration { return r.Latency.P99 })
	m.Latency.P999 = dur(func(r Result) time.Duration { return r.Latency.P999 })
	m.Latency.Max = dur(func(r Result) time.Duration { return r.Latency.Max })
	m.Records = med(func(r Result) int64 { return r.Records })
	m.Connections = med(func(r Result) int64 { return r.Connections })
	if m.Memory != nil {
		mem := func(f func(*Memory) int64) int64 {
			return med(func(r Result) int64 {
				if r.Memory == nil {
					return 0
				}
				return f(r.Memory)
			})
		}
		m.Memory = &Memory{
			RSSBefore:   mem(func(x *Memory) int64 { return x.RSSBefore }),
			RSSAfter:    mem(func(x *Memory) int64 { return x.RSSAfter }),
			HeapBefore:  mem(func(x *Memory) int64 { return x.HeapBefore }),
			HeapAfter:   mem(func(x *Memory) int64 { return x.HeapAfter }),
			RSSEnd:      mem(func(x *Memory) int64 { return x.RSSEnd }),
			RSSPeak:     mem(func(x *Memory) int64 { return x.RSSPeak }),
			HeapEnd:     mem(func(x *Memory) int64 { return x.HeapEnd }),
			RSSLastHalf: mem(func(x *Memory) int64 { return x.RSSLastHalf }),
			Samples:     int(mem(func(x *Memory) int64 { return int64(x.Samples) })),
		}
	}
	return m
}

// fmtDuration prints d with three significant digits in a unit that suits it.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// WriteText writes the side-by-side tables, one per workload and sync mode,
// then the targets.
func (rep *Report) WriteText(out io.Writer) error {
	// Tables are built in a buffer so that the padding tabwriter leaves at
	// the ends of lines can be trimmed.
	w := &bytes.Buffer{}
	e := rep.Env
	fmt.Fprintf(w, "walbench: %s/%s, %d CPUs, %s; dir %s", e.GOOS, e.GOARCH, e.CPUs, e.GoVersion, e.Dir)
	if e.FS != "" {
		fmt.Fprintf(w, " (%s)", e.FS)
	}
	fmt.Fprintln(w)
	if rep.Options.Count > 1 {
		fmt.Fprintf(w, "each figure is the median of %d repetitions\n", rep.Options.Count)
	}
	rows := rep.Summary()
	for _, g := range groupRows(rows) {
		fmt.Fprintln(w)
		switch g[0].Workload {
		case WorkloadReplay:
			writeReplayTable(w, g)
		case WorkloadBroker:
			writeBrokerTable(w, g, defaults(rows, g[0].Store))
		case WorkloadBrokerHTTP:
			writeBrokerHTTPTable(w, g, rows)
		default:
			writeLatencyTable(w, g)
		}
	}
	fmt.Fprintln(w)
	if err := writeTargets(w, EvaluateTargets(rows)); err != nil {
		return err
	}
	lines := strings.SplitAfter(w.String(), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l, " \n") + "\n"
		}
	}
	_, err := io.WriteString(out, strings.Join(lines, ""))
	return err
}

// groupRows splits rows into tables: one per workload, sync mode, session
// store, size and batch, rows ordered by concurrency, then subject.
func groupRows(rows []Result) [][]Result {
	type tableKey struct {
		workload, sync, store string
		size, batch           int
	}
	tables := map[tableKey][]Result{}
	var order []tableKey
	for _, r := range rows {
		k := tableKey{r.Workload, r.Sync, r.Store, r.Size, r.Batch}
		if _, ok := tables[k]; !ok {
			order = append(order, k)
		}
		tables[k] = append(tables[k], r)
	}
	out := make([][]Result, 0, len(order))
	for _, k := range order {
		t := tables[k]
		rank := map[string]int{NoWAL: -1}
		for i, name := range orderSubjects(backendsOf(t)) {
			if name != NoWAL {
				rank[name] = i
			}
		}
		// A broker table keeps each backend's two modes together, after
		// the no-WAL default they are compared with.
		slices.SortStableFunc(t, func(a, b Result) int {
			return cmp.Or(cmp.Compare(a.Concurrency, b.Concurrency),
				cmp.Compare(rank[a.Backend], rank[b.Backend]), cmp.Compare(modeRank[a.Mode], modeRank[b.Mode]))
		})
		out = append(out, t)
	}
	return out
}

var modeRank = map[string]int{BrokerSync: 0, BrokerSyncWAL: 1, BrokerAsyncWAL: 2}

func backendsOf(rows []Result) []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.Backend)
	}
	return names
}

func writeLatencyTable(w io.Writer, rows []Result) {
	r0 := rows[0]
	unit := map[string]string{WorkloadAppend: "Append", WorkloadTruncate: "TruncateFront"}[r0.Workload]
	fmt.Fprintf(w, "%s, sync=%s, %d-byte records, batch %d: latency per %s\n", r0.Workload, r0.Sync, r0.Size, r0.Batch, unit)
	if r0.Workload == WorkloadTruncate {
		fmt.Fprintf(w, "(%d records filled, emptied in %d calls)\n", r0.Records, r0.Ops)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	name := nameColumn(rows)
	fmt.Fprintf(tw, "%s\twriters\tops/s\tMB/s\tmean\tp50\tp90\tp99\tp99.9\tmax\tfsync/op\tallocs/op\t\n", name("backend"))
	for i, r := range rows {
		if i > 0 && r.Concurrency != rows[i-1].Concurrency {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
		}
		l := r.Latency
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.1f\t\n",
			name(r.Backend), r.Concurrency, r.OpsPerSec(), r.MBPerSec(),
			fmtDuration(l.Mean), fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P99),
			fmtDuration(l.P999), fmtDuration(l.Max), r.SyncsPerOp(), r.AllocsPerOp())
	}
	tw.Flush()
}

// nameColumn pads names to one width, so the right-aligned table keeps
// them left-aligned.
func nameColumn(rows []Result) func(string) string {
	width := len("backend")
	for _, r := range rows {
		width = max(width, len(r.Backend))
	}
	return func(s string) string { return fmt.Sprintf("%-*s", width, s) }
}

func writeReplayTable(w io.Writer, rows []Result) {
	r0 := rows[0]
	fmt.Fprintf(w, "replay, %d records of %d bytes, in the page cache\n", r0.Records, r0.Size)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	name := nameColumn(rows)
	fmt.Fprintf(tw, "%s\trecords/s\tMB/s\tns/record\treplay\topen\tallocs/record\t\n", name("backend"))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.0f\t%s\t%s\t%.2f\t\n", name(r.Backend), r.RecordsPerSec(), r.MBPerSec(),
			r.NsPerOp(), fmtDuration(r.Elapsed), fmtDuration(r.Open), r.AllocsPerOp())
	}
	tw.Flush()
}

// BenchName returns the row's Go benchmark name, its settings as
// /key=value parts that benchstat's -col and -row select.
func BenchName(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "BenchmarkWAL/backend=%s/workload=%s", r.Backend, r.Workload)
	if r.Mode != "" {
		fmt.Fprintf(&b, "/mode=%s", r.Mode)
	}
	fmt.Fprintf(&b, "/batch=%d", r.Batch)
	if r.Size > 0 {
		fmt.Fprintf(&b, "/size=%d", r.Size)
	}
	fmt.Fprintf(&b, "/conc=%d/sync=%s", r.Concurrency, r.Sync)
	if r.Store != "" && r.Store != StoreSQLite { // sqlite rows keep the names they had before -stores
		fmt.Fprintf(&b, "/store=%s", r.Store)
	}
	return b.String()
}

// WriteBench writes every repetition as a Go benchmark result line, in the
// format benchstat reads: a name, the iterations, then value-unit pairs.
// ns/op is wall time per operation, as go test reports it; the latency
// percentiles are per operation.
func (rep *Report) WriteBench(w io.Writer) error {
	e := rep.Env
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/nautilus-go/nautilus/cmd/walbench\n", e.GOOS, e.GOARCH)
	if e.FS != "" {
		fmt.Fprintf(w, "fs: %s\n", e.FS)
	}
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s-%d \t%d\t%.1f ns/op\t%.2f MB/s", BenchName(r), e.CPUs, r.Ops, r.NsPerOp(), r.MBPerSec())
		if l := r.Latency; l.Count > 0 {
			fmt.Fprintf(w, "\t%d mean-ns\t%d p50-ns\t%d p90-ns\t%d p99-ns\t%d p99.9-ns\t%d max-ns",
				l.Mean.Nanoseconds(), l.P50.Nanoseconds(), l.P90.Nanoseconds(), l.P99.Nanoseconds(),
				l.P999.Nanoseconds(), l.Max.Nanoseconds())
		}
		if r.Open > 0 {
			fmt.Fprintf(w, "\t%d open-ns", r.Open.Nanoseconds())
		}
		if r.Drain > 0 {
			fmt.Fprintf(w, "\t%.0f drain-ns/op", float64(r.Drain.Nanoseconds())/float64(r.Ops))
		}
		if m := r.Memory; m != nil {
			fmt.Fprintf(w, "\t%d rss-end-B\t%d rss-last-half-B\t%d rss-peak-B\t%d heap-end-B", m.RSSEnd, m.RSSLastHalf, m.RSSPeak, m.HeapEnd)
		}
		if r.Workload == WorkloadBrokerHTTP && r.Syncs > 0 {
			fmt.Fprintf(w, "\t%.2f records/fsync", r.RecordsPerSync())
		}
		if _, err := fmt.Fprintf(w, "\t%.4f fsyncs/op\t%.2f allocs/op\n", r.SyncsPerOp(), r.AllocsPerOp()); err != nil {
			return err
		}
	}
	return nil
}

// jsonRow is the JSON form of a Result: its fields and the derived figures.
type jsonRow struct {
	Result
	OpsPerSec     float64 `json:"ops_per_sec"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	MeanNs        int64   `json:"mean_ns,omitempty"`
	P50Ns         int64   `json:"p50_ns,omitempty"`
	P90Ns         int64   `json:"p90_ns,omitempty"`
	P99Ns         int64   `json:"p99_ns,omitempty"`
	P999Ns        int64   `json:"p999_ns,omitempty"`
	MaxNs         int64   `json:"max_ns,omitempty"`
	FsyncsPerOp   float64 `json:"fsyncs_per_op"`
	AllocsPerOp   float64 `json:"allocs_per_op"`
	// broker-http rows with a WAL that fsyncs: WAL records per fsync.
	RecordsPerFsync float64 `json:"records_per_fsync,omitempty"`
}

// WriteJSON writes one JSON object per repetition of every row, one a line.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, r := range rep.Results {
		l := r.Latency
		row := jsonRow{Result: r, OpsPerSec: r.OpsPerSec(), RecordsPerSec: r.RecordsPerSec(), MBPerSec: r.MBPerSec(),
			MeanNs: l.Mean.Nanoseconds(), P50Ns: l.P50.Nanoseconds(), P90Ns: l.P90.Nanoseconds(),
			P99Ns: l.P99.Nanoseconds(), P999Ns: l.P999.Nanoseconds(), MaxNs: l.Max.Nanoseconds(),
			FsyncsPerOp: r.SyncsPerOp(), AllocsPerOp: r.AllocsPerOp()}
		if r.Workload == WorkloadBrokerHTTP {
			row.RecordsPerFsync = r.RecordsPerSync()
		}
		if err := enc.Encode(row); err != nil {
			return err
		}
	}
	return nil
}

// fmtDelta prints a signed latency difference.
func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDuration(-d)
	}
	if d == 0 {
		return "0"
	}
	return "+" + fmtDuration(d)
}

// defaults returns the broker's default rows (synchronous, no WAL) of the
// store by client count: the rows every broker row of that store is
// compared with, whatever its WAL sync.
func defaults(rows []Result, store string) map[int]Result {
	m := map[int]Result{}
	for _, r := range rows {
		if r.Workload == WorkloadBroker && r.Mode == BrokerSync && r.Store == store {
			m[r.Concurrency] = r
		}
	}
	return m
}

// storeName names a broker row's session store in a table's title.
func storeName(store string) string {
	if store == StorePostgres {
		return "PostgreSQL store"
	}
	return "SQLite store"
}

// writeBrokerTable prints the broker rows with what each adds to, or saves
// against, the default (synchronous, no WAL) at the same client count.
func writeBrokerTable(w io.Writer, rows []Result, base map[int]Result) {
	fmt.Fprintf(w, "broker, WAL sync=%s, %s: latency per request; Δ and × against the %s %s row\n",
		rows[0].Sync, storeName(rows[0].Store), NoWAL, BrokerSync)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	name := nameColumn(rows)
	fmt.Fprintf(tw, "%s\tmode\tclients\treq/s\tmean\tp50\tp99\tp99.9\tmax\tΔp50\tΔp99\t×req/s\tWAL fsync/req\tallocs/req\tdrain/req\t\n", name("backend"))
	for i, r := range rows {
		if i > 0 && r.Concurrency != rows[i-1].Concurrency {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t")
		}
		dp50, dp99, speed := "", "", ""
		if base, ok := base[r.Concurrency]; ok && r.Mode != BrokerSync {
			dp50 = fmtDelta(r.Latency.P50 - base.Latency.P50)
			dp99 = fmtDelta(r.Latency.P99 - base.Latency.P99)
			speed = fmt.Sprintf("%.2f", ratio(r.OpsPerSec(), base.OpsPerSec()))
		}
		l := r.Latency
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.0f\t%s\t\n",
			name(r.Backend), r.Mode, r.Concurrency, r.OpsPerSec(), fmtDuration(l.Mean), fmtDuration(l.P50),
			fmtDuration(l.P99), fmtDuration(l.P999), fmtDuration(l.Max), dp50, dp99, speed,
			r.SyncsPerOp(), r.AllocsPerOp(), fmtDuration(time.Duration(ratio(float64(r.Drain), float64(r.Ops)))))
	}
	tw.Flush()
}

// writeBrokerHTTPTable prints the broker-http rows, each against the
// in-process broker row of the same backend, mode, sync and client count
// when the run has one (Δp50, ×req/s: what JSON and HTTP cost), and the
// process's memory around and during the row.
func writeBrokerHTTPTable(w io.Writer, rows, all []Result) {
	r0 := rows[0]
	fmt.Fprintf(w, "broker-http, WAL sync=%s, %s, %d sessions: latency per request over loopback HTTP; Δ and × against the in-process broker row\n",
		r0.Sync, storeName(r0.Store), r0.Sessions)
	inProcess := map[key]Result{}
	for _, r := range all {
		if r.Workload == WorkloadBroker {
			k := keyOf(r)
			k.workload = WorkloadBrokerHTTP
			inProcess[k] = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	name := nameColumn(rows)
	fmt.Fprintf(tw, "%s\tmode\tclients\treq/s\tp50\tp99\tΔp50\t×req/s\trecords/fsync\tallocs/req\tconns\tRSS before\tRSS end\tRSS Δlast half\tRSS peak\tRSS after\theap before\theap end\theap after\t\n", name("backend"))
	for i, r := range rows {
		if i > 0 && r.Concurrency != rows[i-1].Concurrency {
			fmt.Fprintln(tw, strings.Repeat("\t", 19))
		}
		dp50, speed, perSync := "", "", ""
		if in, ok := inProcess[keyOf(r)]; ok {
			dp50 = fmtDelta(r.Latency.P50 - in.Latency.P50)
			speed = fmt.Sprintf("%.2f", ratio(r.OpsPerSec(), in.OpsPerSec()))
		}
		if r.Syncs > 0 {
			perSync = fmt.Sprintf("%.2f", r.RecordsPerSync())
		}
		m := r.Memory
		if m == nil {
			m = &Memory{}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			name(r.Backend), r.Mode, r.Concurrency, r.OpsPerSec(), fmtDuration(r.Latency.P50), fmtDuration(r.Latency.P99),
			dp50, speed, perSync, r.AllocsPerOp(), r.Connections,
			fmtBytes(m.RSSBefore), fmtBytes(m.RSSEnd), fmtBytesDelta(m.RSSLastHalf), fmtBytes(m.RSSPeak), fmtBytes(m.RSSAfter),
			fmtBytes(m.HeapBefore), fmtBytes(m.HeapEnd), fmtBytes(m.HeapAfter))
	}
	tw.Flush()
}

// fmtBytes prints n in MiB with one decimal, "-" when unknown (0).
func fmtBytes(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}

// fmtBytesDelta prints a signed change in MiB.
func fmtBytesDelta(n int64) string {
	return fmt.Sprintf("%+.1fMiB", float64(n)/(1<<20))
}
