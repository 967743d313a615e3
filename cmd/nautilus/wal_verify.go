package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/waltool"
)

func init() {
	walSubcommands["verify"] = walSubcommand{
		summary: "check every record, changing nothing; exit 1 naming the first problem, torn tails included",
		flags: func(*flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			return walVerify
		},
	}
	walSubcommands["stats"] = walSubcommand{
		summary: "size on disk, records and bounds, per file; changes nothing",
		flags: func(*flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			return walStats
		},
	}
}

func walVerify(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
	rep, err := waltool.Verify(ctx, cfg)
	if err != nil {
		return walFailed(stderr, cfg, err)
	}
	if rep.Problem != nil {
		printProblem(stdout, cfg, rep.Problem)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s, %d bytes in %d files\n", records(rep.First, rep.Last), rep.Bytes, len(rep.Files))
	return 0
}

// printProblem says what is wrong and what to do about it.
func printProblem(w io.Writer, cfg backend.Config, p *waltool.Problem) {
	if p.Torn {
		fmt.Fprintf(w, "torn tail: %s: %d bytes of a write a crash interrupted, never acknowledged\n", where(p.Err), p.Bytes)
		fmt.Fprintf(w, "repairable: the next open cuts it off, or run: nautilus wal repair %s\n", walTarget(cfg))
		return
	}
	fmt.Fprintf(w, "corrupt: %s: %s\n", where(p.Err), p.Err.Reason)
	fmt.Fprintln(w, "the log will not open (or not replay) until this is mended: restore the directory from a copy, or cut the log")
	fmt.Fprintf(w, "at this record, losing it and every later one (a copy of each file changed is kept):\n")
	fmt.Fprintf(w, "  nautilus wal repair %s --truncate-after-corruption\n", walTarget(cfg))
}

func walStats(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
	rep, err := waltool.Stats(ctx, cfg)
	if err != nil {
		return walFailed(stderr, cfg, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "backend\t%s\n", cfg.Backend)
	fmt.Fprintf(tw, "dir\t%s\n", cfg.Dir)
	if rep.Problem == nil || rep.Problem.Torn {
		fmt.Fprintf(tw, "first\t%d\n", rep.First)
		fmt.Fprintf(tw, "last\t%d\n", rep.Last)
		fmt.Fprintf(tw, "records\t%d\n", rep.Records())
	}
	fmt.Fprintf(tw, "size\t%d bytes in %d files\n", rep.Bytes, len(rep.Files))
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "FILE\tBYTES\tRECORDS")
	for _, f := range rep.Files {
		span := ""
		switch {
		case f.First == 0:
		case f.Last < f.First:
			span = "none"
		default:
			span = fmt.Sprintf("%d-%d", f.First, f.Last)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", f.Path, f.Bytes, span)
	}
	tw.Flush()
	if rep.Problem != nil {
		fmt.Fprintln(stdout)
		printProblem(stdout, cfg, rep.Problem)
		if !rep.Problem.Torn {
			return 1
		}
	}
	return 0
}
