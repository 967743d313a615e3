package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// Exit codes of Main.
const (
	ExitOK    = 0
	ExitError = 1 // a WAL or I/O error
	ExitUsage = 2 // a bad command line
)

// Main runs walbench with the command-line args (without the program name),
// writing the report to stdout (or -o) and progress to stderr, and returns
// the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err == nil {
		err = cmd.Options.checkDir()
	}
	if err != nil {
		return fail(stderr, err)
	}
	// Create every output before the run, so a bad path fails in a second,
	// not after minutes of measuring. Reports are private, like the WALs.
	files := map[string]*os.File{}
	for _, out := range []struct{ flag, path string }{{"o", cmd.Output}, {"chart", cmd.Chart}, {"cpuprofile", cmd.CPUProfile}} {
		if out.path == "" {
			continue
		}
		f, err := os.OpenFile(out.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fail(stderr, &UsageError{Flag: out.flag, Err: err})
		}
		defer f.Close()
		files[out.flag] = f
	}
	if f := files["cpuprofile"]; f != nil {
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "walbench: cpu profile: %v\n", err)
			return ExitError
		}
	}
	cmd.Progress = stderr
	rep, err := Run(ctx, cmd.Options)
	if files["cpuprofile"] != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return fail(stderr, err)
	}

	out := stdout
	if f := files["o"]; f != nil {
		out = f
	}
	switch cmd.Format {
	case FormatBench:
		err = rep.WriteBench(out)
	case FormatJSON:
		err = rep.WriteJSON(out)
	default:
		err = rep.WriteText(out)
	}
	if err == nil && files["chart"] != nil {
		err = rep.WriteChart(files["chart"])
	}
	for _, f := range files {
		if cerr := f.Close(); err == nil && cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "walbench: write report: %v\n", err)
		return ExitError
	}
	return ExitOK
}

// fail prints err and returns its exit code: ExitUsage for a bad command
// line, with a pointer to -h; ExitError for anything else.
func fail(stderr io.Writer, err error) int {
	var usage *UsageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "%v\nrun walbench -h for usage\n", err)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%v\n", err)
	return ExitError
}
