package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
)

// UsageError is a bad command line: the command exits 2 with it.
type UsageError struct {
	Flag string // the flag at fault, without the dash; "" when the flag package named it
	Err  error
}

func (e *UsageError) Error() string {
	if e.Flag == "" {
		return "walbench: " + e.Err.Error()
	}
	return fmt.Sprintf("walbench: -%s: %v", e.Flag, e.Err)
}

func (e *UsageError) Unwrap() error { return e.Err }

// Output formats.
const (
	FormatText  = "text"
	FormatBench = "bench"
	FormatJSON  = "json"
)

// Command is a parsed walbench command line.
type Command struct {
	Options
	Format     string // text, bench or json
	Output     string // file for the report; "" for stdout
	Chart      string // SVG file of latency percentiles; "" for none
	CPUProfile string // CPU profile of the whole run; "" for none
}

// ParseFlags parses walbench's command line. A bad flag or value is a
// *UsageError naming the flag; -h returns flag.ErrHelp after printing the
// usage to usage.
func ParseFlags(args []string, usage io.Writer) (Command, error) {
	cmd := Command{Options: DefaultOptions(), Format: FormatText}
	fs := flag.NewFlagSet("walbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(stringList{&cmd.Backends}, "backends",
		"comma-separated `names` of backends and baselines; the default leaves out those that run a NATS server: jetstream (embedded, 1 replica) and jetstream-r3 (a 3-node cluster on loopback)")
	fs.Var(stringList{&cmd.Workloads}, "workload", "comma-separated `workloads`: append, replay, truncate, broker, broker-http")
	fs.IntVar(&cmd.Ops, "ops", cmd.Ops, "Appends per append row, shared among its writers; requests per broker or broker-http row; raised to 16 per writer (client) per round")
	fs.IntVar(&cmd.Records, "records", 1_000_000, "records filled, then replayed or truncated; 100000 in the default run, without -workload")
	fs.IntVar(&cmd.Size, "size", cmd.Size, "record size in `bytes`")
	fs.IntVar(&cmd.Batch, "batch", cmd.Batch, "records per Append")
	fs.Var(intList{&cmd.Concurrency}, "concurrency", "comma-separated writer `counts` for append")
	fs.Var(intList{&cmd.Clients}, "clients", "comma-separated concurrent client `counts` for broker, and for broker-http (whose default is 16)")
	fs.IntVar(&cmd.Sessions, "sessions", cmd.Sessions, "broker-http: sessions the requests are spread over, shared among the clients")
	fs.Var(stringList{&cmd.Stores}, "stores", "broker, broker-http: comma-separated session `stores`: sqlite, postgres (its DSN in $"+EnvPGDSN+")")
	fs.DurationVar(&cmd.Duration, "duration", 0, "broker-http: measure each row for this `long` (e.g. 60s) instead of -ops requests")
	fs.Var(syncList{&cmd.Sync}, "sync", "comma-separated sync `modes`: always, none")
	fs.StringVar(&cmd.Dir, "dir", "", "existing parent `directory` of the rows' WALs, on the disk to measure (default a temporary one, removed)")
	fs.IntVar(&cmd.Count, "count", cmd.Count, "repetitions of every row, for benchstat")
	fs.IntVar(&cmd.Rounds, "rounds", cmd.Rounds, "rounds in which the append (or broker) rows of one setting, every writer (client) count, take turns, so disk drift hits all alike")
	fs.StringVar(&cmd.Format, "format", cmd.Format, "report format: text, bench (go test -bench lines) or json (one object per row)")
	fs.StringVar(&cmd.Output, "o", "", "write the report to `file` instead of stdout")
	fs.StringVar(&cmd.Chart, "chart", "", "write an SVG chart of latency percentiles to `file`")
	fs.StringVar(&cmd.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to `file`")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, usage)
			return cmd, err
		}
		return cmd, &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return cmd, &UsageError{Err: fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["records"] && !set["workload"] {
		cmd.Records = DefaultOptions().Records
	}
	if set["clients"] {
		cmd.HTTPClients = cmd.Clients
	}
	for _, name := range []string{"sessions", "duration"} {
		if set[name] && !slices.Contains(cmd.Workloads, WorkloadBrokerHTTP) {
			return cmd, &UsageError{Flag: name, Err: fmt.Errorf("applies to the %s workload only: add it to -workload", WorkloadBrokerHTTP)}
		}
	}
	if set["stores"] && !slices.Contains(cmd.Workloads, WorkloadBroker) && !slices.Contains(cmd.Workloads, WorkloadBrokerHTTP) {
		return cmd, &UsageError{Flag: "stores", Err: fmt.Errorf("applies to the %s and %s workloads only: add one to -workload", WorkloadBroker, WorkloadBrokerHTTP)}
	}
	cmd.PGDSN = os.Getenv(EnvPGDSN)
	switch cmd.Format {
	case FormatText, FormatBench, FormatJSON:
	default:
		return cmd, &UsageError{Flag: "format", Err: fmt.Errorf("unknown format %q (want text, bench or json)", cmd.Format)}
	}
	if err := cmd.Options.check(); err != nil {
		return cmd, err
	}
	return cmd, nil
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: walbench [flags]\n\n"+
		"Measures Append latency and throughput, replay and truncation of every WAL\n"+
		"backend side by side with baselines: fdatasync on a plain file and on a\n"+
		"preallocated one (fdatasync-prealloc, the disk's limit), the raw libraries\n"+
		"(tidwall-raw, pebble-raw, bbolt-raw) and the no-I/O memory backend;\n"+
		"and the broker's request latency without a WAL, with one, and async,\n"+
		"in process (broker) and over loopback HTTP (broker-http, with its memory).\n"+
		"See docs/benchmarks.md.\n\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// splitList splits a comma-separated flag value, refusing empty entries.
func splitList(v string) ([]string, error) {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("empty entry in %q", v)
		}
	}
	return parts, nil
}

type stringList struct{ p *[]string }

func (l stringList) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l stringList) Set(v string) error {
	parts, err := splitList(v)
	if err != nil {
		return err
	}
	*l.p = parts
	return nil
}

type intList struct{ p *[]int }

func (l intList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, n := range *l.p {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l intList) Set(v string) error {
	parts, err := splitList(v)
	if err != nil {
		return err
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", p)
		}
		out[i] = n
	}
	*l.p = out
	return nil
}

type syncList struct{ p *[]backend.SyncMode }

func (l syncList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, m := range *l.p {
		s[i] = m.String()
	}
	return strings.Join(s, ",")
}

func (l syncList) Set(v string) error {
	parts, err := splitList(v)
	if err != nil {
		return err
	}
	out := make([]backend.SyncMode, len(parts))
	for i, p := range parts {
		if p != "always" && p != "none" {
			return fmt.Errorf("unknown sync mode %q (want always or none)", p)
		}
		out[i], _ = backend.ParseSyncMode(p)
	}
	*l.p = out
	return nil
}
