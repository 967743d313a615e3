package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/nautilus-go/nautilus/backend"
)

// The wal command's subcommands are thin: package waltool does the work.

type walSubcommand struct {
	summary string
	usage   string // the flags after --backend NAME --dir DIR
	flags   func(fs *flag.FlagSet) func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int
}

var walSubcommands = map[string]walSubcommand{}

func init() {
	register("wal", "inspect, repair and rekey a WAL directory (dump, verify, repair, stats, rekey)", func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return walCommand(ctx, args, stdout, stderr)
	})
}

func walUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: nautilus wal <command> --backend NAME --dir DIR [flags]")
	fmt.Fprintln(w)
	summaries := map[string]string{}
	for name, c := range walSubcommands {
		summaries[name] = c.summary
	}
	listCommands(w, summaries)
	fmt.Fprintln(w, "dump, verify and stats never change the directory; all refuse while a process holds the WAL.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 a problem found or an error, 2 bad usage. See docs/operations.md.")
}

// walCommand runs `nautilus wal <command> ...` and returns the exit status.
func walCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return dispatch("nautilus wal", args, stdout, stderr, walUsage, func(name string) (func([]string) int, bool) {
		sub, ok := walSubcommands[name]
		if !ok {
			return nil, false
		}
		return func(args []string) int { return sub.run(ctx, "wal "+name, args, stdout, stderr) }, true
	})
}

// run parses a wal subcommand's flags, checks the backend and its params,
// and runs it.
func (sub walSubcommand) run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg := backend.Config{Params: map[string]string{}}
	fs.StringVar(&cfg.Backend, "backend", "", "the WAL's backend, a registered `name`: "+strings.Join(backend.Drivers(), ", "))
	fs.StringVar(&cfg.Dir, "dir", "", "the WAL `directory`")
	paramFlag(fs, cfg.Params, "persistence.wal_params")
	run := sub.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nautilus %s --backend NAME --dir DIR [--param KEY=VALUE]... %s\n\n%s.\n\n", name, sub.usage, sub.summary)
		fs.PrintDefaults()
	}
	if status, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return status
	}
	switch {
	case cfg.Backend == "":
		return usageError(fs, stderr, "--backend is required")
	case cfg.Dir == "":
		return usageError(fs, stderr, "--dir is required")
	case !slices.Contains(backend.Drivers(), cfg.Backend):
		return usageError(fs, stderr, "--backend: unknown backend %q (registered: %s)", cfg.Backend, strings.Join(backend.Drivers(), ", "))
	}
	if err := backend.CheckParams(cfg); err != nil {
		return usageError(fs, stderr, "--param: %v", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil)) // what Open repairs, as serve logs it
	return run(ctx, cfg, stdout, &prefixed{w: stderr, prefix: "nautilus " + name + ": "})
}

// prefixed writes each line with the command's name in front, so an error
// printed by a subcommand says where it came from.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p *prefixed) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// walFailed prints an error that stopped a command, with what to do about
// the ones an operator meets, and returns exit status 1.
func walFailed(stderr io.Writer, cfg backend.Config, err error) int {
	fmt.Fprintln(stderr, err)
	switch {
	case errors.Is(err, backend.ErrLocked):
		fmt.Fprintln(stderr, "a process has the WAL open (the broker?): stop it, then run this again, or work on a copy of the directory")
	case errors.Is(err, backend.ErrCorrupt):
		fmt.Fprintln(stderr, "the log is corrupt: run `nautilus wal verify "+walTarget(cfg)+"` to see where")
	}
	return exitFailure
}

// walTarget returns the flags naming the WAL, for a command to suggest.
func walTarget(cfg backend.Config) string {
	return "--backend " + cfg.Backend + " --dir " + cfg.Dir
}

// where says where a record failed: the file, the offset or the key, and
// the index.
func where(ce *backend.CorruptError) string {
	s := ce.File
	if ce.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", ce.Offset)
	}
	if ce.Key != "" {
		s += " key " + ce.Key
	}
	if ce.Index != 0 {
		s += fmt.Sprintf(", index %d", ce.Index)
	}
	return s
}

// records describes the bounds of a log.
func records(first, last uint64) string {
	switch {
	case last < first:
		return fmt.Sprintf("no records (the next is index %d)", first)
	case first == last:
		return fmt.Sprintf("record %d (1 record)", first)
	}
	return fmt.Sprintf("records %d to %d (%d records)", first, last, last-first+1)
}
