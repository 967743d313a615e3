package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
)

// The audit command reads a broker's audit trail (audit: in the config);
// package audit does the work.

type auditSubcommand struct {
	summary string
	usage   string // the flags after --path P [--backend B]
	flags   func(fs *flag.FlagSet) func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int
}

var auditSubcommands = map[string]auditSubcommand{
	"verify": {
		summary: "prove the trail's hash chain unbroken, changing nothing; exit 1 naming the first event where it is not",
		usage:   "[--anchor SEQ:SHA256]",
		flags: func(fs *flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			var anchor *audit.Anchor
			fs.Func("anchor", "`SEQ:SHA256` of an event an earlier verify reported as the head: the trail must still hold it, unchanged", func(s string) error {
				a, err := audit.ParseAnchor(s)
				anchor = &a
				return err
			})
			return func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
				return auditVerify(ctx, cfg, anchor, stdout, stderr)
			}
		},
	},
	"tail": {
		summary: "print the last events as JSON lines, as stored; changes nothing",
		usage:   "[-n N]",
		flags: func(fs *flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			n := 10
			fs.Func("n", "print the last `N` events (0: all; default 10)", func(s string) error {
				v, err := strconv.Atoi(s)
				if err != nil || v < 0 {
					return fmt.Errorf("want a count, 0 or more, got %q", s)
				}
				n = v
				return nil
			})
			return func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
				if err := audit.Tail(ctx, cfg, n, stdout); err != nil {
					return walFailed(stderr, cfg, err)
				}
				return exitOK
			}
		},
	},
}

func init() {
	register("audit", "check and read a broker's audit trail (verify, tail)", func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return auditCommand(ctx, args, stdout, stderr)
	})
}

func auditUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: nautilus audit <command> --path DIR [--backend NAME] [flags]")
	fmt.Fprintln(w)
	summaries := map[string]string{}
	for name, c := range auditSubcommands {
		summaries[name] = c.summary
	}
	listCommands(w, summaries)
	fmt.Fprintln(w, "Both refuse while a process holds the trail (the broker): stop it, or work on a copy of the directory.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 a broken chain or an error, 2 bad usage. See docs/operations.md.")
}

// auditCommand runs `nautilus audit <command> ...` and returns the exit status.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return dispatch("nautilus audit", args, stdout, stderr, auditUsage, func(name string) (func([]string) int, bool) {
		sub, ok := auditSubcommands[name]
		if !ok {
			return nil, false
		}
		return func(args []string) int { return sub.run(ctx, "audit "+name, args, stdout, stderr) }, true
	})
}

// run parses an audit subcommand's flags, checks the backend and its
// params, and runs it.
func (sub auditSubcommand) run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg := backend.Config{Params: map[string]string{}}
	fs.StringVar(&cfg.Dir, "path", "", "the trail's `directory` (audit.path)")
	fs.StringVar(&cfg.Backend, "backend", "jsonl", "the trail's backend (audit.backend), a registered `name`: "+strings.Join(backend.Drivers(), ", "))
	paramFlag(fs, cfg.Params, "audit.params")
	run := sub.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nautilus %s --path DIR [--backend NAME] [--param KEY=VALUE]... %s\n\n%s.\n\n", name, sub.usage, sub.summary)
		fs.PrintDefaults()
	}
	if status, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return status
	}
	switch {
	case cfg.Dir == "":
		return usageError(fs, stderr, "--path is required")
	case !slices.Contains(backend.Drivers(), cfg.Backend):
		return usageError(fs, stderr, "--backend: unknown backend %q (registered: %s)", cfg.Backend, strings.Join(backend.Drivers(), ", "))
	}
	if err := backend.CheckParams(cfg); err != nil {
		return usageError(fs, stderr, "--param: %v", err)
	}
	return run(ctx, cfg, stdout, &prefixed{w: stderr, prefix: "nautilus " + name + ": "})
}

// paramFlag adds the repeatable --param key=value flag, filling params.
func paramFlag(fs *flag.FlagSet, params map[string]string, setting string) {
	fs.Func("param", "a backend param `key=value`, as in "+setting+" (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", s)
		}
		params[k] = v
		return nil
	})
}

func auditVerify(ctx context.Context, cfg backend.Config, anchor *audit.Anchor, stdout, stderr io.Writer) int {
	rep, err := audit.Verify(ctx, cfg, anchor)
	if err != nil {
		if errors.Is(err, backend.ErrLocked) {
			fmt.Fprintln(stderr, err)
			fmt.Fprintln(stderr, "a process has the trail open (the broker?): stop it, then run this again, or verify a copy of the directory")
			return exitFailure
		}
		return walFailed(stderr, cfg, err)
	}
	if rep.Torn != nil {
		fmt.Fprintf(stdout, "torn tail: %s: %d bytes of an append a crash interrupted, never acknowledged, so no answered request's event;\n",
			where(rep.Torn.Err), rep.Torn.Bytes)
		fmt.Fprintln(stdout, "not tampering: the broker's next start cuts it off")
	}
	if rep.Break != nil {
		fmt.Fprintf(stdout, "broken: %v\n", rep.Break)
		if rep.Events > 0 {
			fmt.Fprintf(stdout, "events 1 to %d check out; from event %d on the trail cannot be trusted\n", rep.Events, rep.Break.Index)
		}
		return exitFailure
	}
	if rep.Events == 0 {
		fmt.Fprintln(stdout, "ok: no events")
		return exitOK
	}
	fmt.Fprintf(stdout, "ok: events 1 to %d, chain unbroken\n", rep.Events)
	fmt.Fprintf(stdout, "head: %s (keep it; a later verify --anchor %s proves nothing up to it was changed or cut off)\n", rep.Head, rep.Head)
	return exitOK
}
