package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nautilus-go/nautilus/broker"

	"github.com/nautilus-go/nautilus/backend"
)

// Options configures a run. Start from DefaultOptions: zero counts are
// rejected by Run, not defaulted.
type Options struct {
	Backends    []string           // rows to measure: registered backends and baselines (Subjects)
	Workloads   []string           // append, replay, truncate, broker, broker-http
	Ops         int                // Appends per append row, requests per broker row; raised by rowOps
	Records     int                // records filled for a replay or truncate row
	Size        int                // bytes per record
	Batch       int                // records per Append
	Concurrency []int              // writers per append row
	Clients     []int              // concurrent clients per broker row
	HTTPClients []int              // concurrent clients per broker-http row
	Sessions    int                // broker-http: sessions the requests are spread over
	Duration    time.Duration      // broker-http: a row's measured window; 0: Ops requests
	Stores      []string           // broker, broker-http: session stores, sqlite and postgres
	PGDSN       string             // postgres rows: the database's DSN (from EnvPGDSN)
	Sync        []backend.SyncMode // durability of the rows
	Dir         string             // existing parent of the rows' directories; "" a temporary one, removed
	Count       int                // repetitions of every row, for benchstat
	Rounds      int                // rounds in which compared append and broker rows alternate
	Progress    io.Writer          // one line per finished row; nil for none
}

// DefaultOptions returns the default run: every subject that runs no
// server (DefaultSubjects), append and a small
// replay, 1 and 64 writers, SyncAlways.
func DefaultOptions() Options {
	return Options{
		Backends:    DefaultSubjects(),
		Workloads:   []string{WorkloadAppend, WorkloadReplay},
		Ops:         2000,
		Records:     100_000,
		Size:        200,
		Batch:       1,
		Concurrency: []int{1, 64},
		Clients:     []int{1, 16},
		HTTPClients: []int{DefaultHTTPClients},
		Sessions:    DefaultHTTPSessions,
		Stores:      []string{StoreSQLite},
		Sync:        []backend.SyncMode{backend.SyncAlways},
		Count:       1,
		Rounds:      10,
	}
}

func (o Options) check() error {
	positive := []struct {
		flag string
		n    int
	}{{"ops", o.Ops}, {"records", o.Records}, {"size", o.Size}, {"batch", o.Batch}, {"count", o.Count}, {"rounds", o.Rounds}}
	for _, p := range positive {
		if p.n <= 0 {
			return &UsageError{Flag: p.flag, Err: fmt.Errorf("must be positive, got %d", p.n)}
		}
	}
	for flag, list := range map[string][]int{"concurrency": o.Concurrency, "clients": o.Clients} {
		if len(list) == 0 {
			return &UsageError{Flag: flag, Err: fmt.Errorf("needs at least one value")}
		}
		for _, n := range list {
			if n <= 0 {
				return &UsageError{Flag: flag, Err: fmt.Errorf("must be positive, got %d", n)}
			}
		}
	}
	if len(o.Sync) == 0 {
		return &UsageError{Flag: "sync", Err: fmt.Errorf("needs at least one mode")}
	}
	if len(o.Workloads) == 0 {
		return &UsageError{Flag: "workload", Err: fmt.Errorf("needs at least one workload")}
	}
	for _, w := range o.Workloads {
		if !slices.Contains(Workloads, w) {
			return &UsageError{Flag: "workload", Err: fmt.Errorf("unknown workload %q (known: %v)", w, Workloads)}
		}
	}
	if err := o.checkBrokerHTTP(); err != nil {
		return err
	}
	if err := o.checkStores(); err != nil {
		return err
	}
	if len(o.Backends) == 0 {
		return &UsageError{Flag: "backends", Err: fmt.Errorf("needs at least one backend")}
	}
	for _, b := range o.Backends {
		if _, err := lookupSubject(b, nil); err != nil {
			return &UsageError{Flag: "backends", Err: err}
		}
	}
	return nil
}

// checkStores checks the session stores, and that the postgres rows have
// a database.
func (o Options) checkStores() error {
	if !slices.Contains(o.Workloads, WorkloadBroker) && !slices.Contains(o.Workloads, WorkloadBrokerHTTP) {
		return nil
	}
	if len(o.Stores) == 0 {
		return &UsageError{Flag: "stores", Err: fmt.Errorf("needs at least one store")}
	}
	for _, s := range o.Stores {
		if !slices.Contains(Stores, s) {
			return &UsageError{Flag: "stores", Err: fmt.Errorf("unknown session store %q (want %s)", s, strings.Join(Stores, " or "))}
		}
	}
	if slices.Contains(o.Stores, StorePostgres) && strings.TrimSpace(o.PGDSN) == "" {
		return &UsageError{Flag: "stores", Err: fmt.Errorf("%s needs the DSN of a database to create its schemas in: "+
			"environment variable %s is empty", StorePostgres, EnvPGDSN)}
	}
	return nil
}

// checkBrokerHTTP checks the broker-http settings: a window that is not
// negative, and a session and a connection of its own for every client.
func (o Options) checkBrokerHTTP() error {
	if o.Duration < 0 {
		return &UsageError{Flag: "duration", Err: fmt.Errorf("must not be negative, got %s", o.Duration)}
	}
	if !slices.Contains(o.Workloads, WorkloadBrokerHTTP) {
		return nil
	}
	if len(o.HTTPClients) == 0 {
		return &UsageError{Flag: "clients", Err: fmt.Errorf("needs at least one value for %s", WorkloadBrokerHTTP)}
	}
	for _, n := range o.HTTPClients { // -clients sets them
		if n <= 0 {
			return &UsageError{Flag: "clients", Err: fmt.Errorf("must be positive, got %d", n)}
		}
	}
	if o.Sessions <= 0 {
		return &UsageError{Flag: "sessions", Err: fmt.Errorf("must be positive, got %d", o.Sessions)}
	}
	clients := slices.Max(o.HTTPClients)
	if o.Sessions < clients {
		return &UsageError{Flag: "sessions", Err: fmt.Errorf("%d sessions for %d clients: each client needs a session of its own", o.Sessions, clients)}
	}
	if clients > broker.DefaultMaxConnections {
		return &UsageError{Flag: "clients", Err: fmt.Errorf("%d broker-http clients: the server accepts at most %d connections (api.max_connections)", clients, broker.DefaultMaxConnections)}
	}
	return nil
}

// checkDir requires Dir, when given, to be an existing directory. walbench
// does not create it: Dir chooses the disk that is measured, and a mistyped
// path or an unmounted mount point would otherwise be created on another
// disk (often the root file system) and measured silently in its place.
func (o Options) checkDir() error {
	if o.Dir == "" {
		return nil
	}
	fi, err := os.Stat(o.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &UsageError{Flag: "dir", Err: fmt.Errorf("%s does not exist (create it on the disk to measure)", o.Dir)}
	case err != nil:
		return fmt.Errorf("walbench: -dir %s: %w", o.Dir, err)
	case !fi.IsDir():
		return &UsageError{Flag: "dir", Err: fmt.Errorf("%s is not a directory", o.Dir)}
	}
	return nil
}

// rowOps returns the operations of an append or broker row with workers
// writers (clients): ops, raised so that each writer does at least
// minOpsPerWriterRound in each of the rounds. Every row of a group takes
// every round, so 64 writers need more operations than one writer does.
func rowOps(ops, workers, rounds int) int {
	return max(ops, minOpsPerWriterRound*workers*rounds)
}

// plan lists the rows of a run, repetitions interleaved so that drift in the
// machine's load spreads over every subject. Its JetStreamR3 rows open their
// streams in js.
func (o Options) plan(js *jsCluster) ([]row, error) {
	var subjects []subject
	for _, name := range orderSubjects(o.Backends) {
		s, err := lookupSubject(name, js)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, s)
	}
	var rows []row
	for run := 1; run <= o.Count; run++ {
		for _, wl := range Workloads {
			if !slices.Contains(o.Workloads, wl) {
				continue
			}
			if wl == WorkloadBroker {
				rows = append(rows, brokerRows(o, subjects, run)...)
				continue
			}
			if wl == WorkloadBrokerHTTP {
				rows = append(rows, brokerHTTPRows(o, subjects, run)...)
				continue
			}
			modes := o.Sync
			if wl == WorkloadReplay {
				// A replay reads what a SyncNone fill wrote: the mode
				// changes nothing, so it runs once.
				modes = modes[:1]
			}
			for _, mode := range modes {
				conc := []int{1}
				if wl == WorkloadAppend {
					conc = o.Concurrency
				}
				for _, c := range conc {
					for _, s := range subjects {
						if wl == WorkloadTruncate && plainFile(s.name) {
							continue // a plain file has no front to drop
						}
						r := row{subject: s, workload: wl, sync: mode, size: o.Size, batch: o.Batch,
							concurrency: c, ops: rowOps(o.Ops, c, o.Rounds), run: run}
						if wl != WorkloadAppend {
							r.ops, r.batch = o.Records, fillBatch
						}
						rows = append(rows, r)
					}
				}
			}
		}
	}
	return rows, nil
}

// Run measures every row of o. A WAL error stops the run: it is returned,
// naming the row, with the report of the rows measured before it.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := o.checkDir(); err != nil {
		return nil, err
	}
	parent := o.Dir
	if parent == "" {
		tmp, err := os.MkdirTemp("", "walbench-")
		if err != nil {
			return nil, fmt.Errorf("walbench: temporary directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		parent = tmp
	}
	js := newJSCluster(parent, o.Sync)
	defer func() {
		if cerr := js.close(); cerr != nil && err == nil {
			err = fmt.Errorf("walbench: %w", cerr)
		}
	}()
	rows, err := o.plan(js)
	if err != nil {
		return nil, err
	}

	rep = &Report{Env: currentEnv(parent), Options: o, Results: make([]Result, 0, len(rows))}
	started := time.Now()
	for i := 0; i < len(rows); {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		group := groupAt(rows, i)
		dirs := groupDirs(parent, i+1, group)
		var (
			results []Result
			err     error
		)
		if len(group) == 1 && !interleaved(group[0]) {
			var res Result
			res, err = measure(ctx, group[0], dirs[0])
			if err != nil {
				err = fmt.Errorf("%s: %w", label(group[0].result()), err)
			}
			results = []Result{res}
		} else {
			results, err = measureGroup(ctx, group, dirs, o.Rounds)
		}
		if rmErr := removeDirs(dirs); err == nil && rmErr != nil {
			err = rmErr
		}
		if err != nil {
			return rep, fmt.Errorf("walbench: %w", err)
		}
		rep.Results = append(rep.Results, results...)
		for j, res := range results {
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "walbench: [%d/%d %s] %s: %s\n", i+j+1, len(rows),
					time.Since(started).Round(time.Second), label(res), brief(res))
			}
		}
		i += len(group)
	}
	return rep, nil
}

// interleaved reports whether r is measured in rounds with the rows it is
// compared with: append and broker rows are; replay and truncate rows,
// single long operations, are not, nor broker-http rows, whose memory
// figures are the process's and must be one row's alone.
func interleaved(r row) bool {
	return r.workload == WorkloadAppend || r.workload == WorkloadBroker
}

// groupAt returns the rows from i on that are measured together: the run of
// interleaved rows with the same workload and settings, whatever their
// writer (client) count, or row i alone. Writer counts share a group because
// the targets compare them (64 writers ÷ 1 writer).
func groupAt(rows []row, i int) []row {
	j := i + 1
	if interleaved(rows[i]) {
		same := func(a, b row) bool {
			return a.workload == b.workload && a.sync == b.sync && a.size == b.size && a.batch == b.batch &&
				a.run == b.run
		}
		for j < len(rows) && same(rows[i], rows[j]) {
			j++
		}
	}
	return rows[i:j]
}

// measure takes one replay, truncate or broker-http row in its own directory.
func measure(ctx context.Context, r row, dir string) (Result, error) {
	if r.workload == WorkloadBrokerHTTP {
		return runBrokerHTTP(ctx, r, dir)
	}
	o := storeOptions{dir: dir, sync: r.sync, size: r.size}
	if r.workload == WorkloadReplay {
		return runReplay(ctx, r.subject, o, r)
	}
	s, err := r.subject.open(ctx, o)
	if err != nil {
		return r.result(), fmt.Errorf("open: %w", err)
	}
	res, err := runTruncate(ctx, s, r)
	releaseStore(ctx, r.subject.name, s)
	if cerr := s.close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return res, err
}

// label names a row the way the bench format does, without "backend=".
func label(r Result) string {
	s := fmt.Sprintf("%s %s", r.Workload, r.Backend)
	if r.Mode != "" {
		s += " " + r.Mode
	}
	switch r.Workload {
	case WorkloadAppend:
		s += fmt.Sprintf(" writers=%d", r.Concurrency)
	case WorkloadBroker, WorkloadBrokerHTTP:
		s += fmt.Sprintf(" clients=%d", r.Concurrency)
		if r.Store != "" && r.Store != StoreSQLite { // as BenchName
			s += " store=" + r.Store
		}
	}
	return s + " sync=" + r.Sync
}

// brief is the progress line's summary of a result.
func brief(r Result) string {
	unit := map[string]string{WorkloadAppend: "Appends/s", WorkloadReplay: "records/s",
		WorkloadTruncate: "TruncateFronts/s", WorkloadBroker: "requests/s", WorkloadBrokerHTTP: "requests/s"}[r.Workload]
	s := fmt.Sprintf("%.0f %s", r.OpsPerSec(), unit)
	if r.Latency.Count > 0 {
		s += fmt.Sprintf(", p50 %s, p99 %s", fmtDuration(r.Latency.P50), fmtDuration(r.Latency.P99))
	}
	if m := r.Memory; m != nil {
		s += fmt.Sprintf(", RSS %s at the end (%s over the last half)", fmtBytes(m.RSSEnd), fmtBytesDelta(m.RSSLastHalf))
	}
	return s
}
