package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/waltool"
)

func init() {
	walSubcommands["repair"] = walSubcommand{
		summary: "cut a torn tail off; with --truncate-after-corruption, cut the log at its first corrupt record",
		usage:   "[--truncate-after-corruption]",
		flags: func(fs *flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			cut := fs.Bool("truncate-after-corruption", false,
				"remove the first corrupt record and every later one, keeping a copy of each file changed")
			return func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
				rep, err := waltool.Repair(ctx, cfg, *cut)
				printRepair(stdout, rep)
				if err != nil {
					return walFailed(stderr, cfg, err)
				}
				if rep.Corrupt != nil {
					printProblem(stdout, cfg, &waltool.Problem{Err: rep.Corrupt})
					return 1
				}
				fmt.Fprintf(stdout, "the log holds %s\n", records(rep.First, rep.Last))
				return 0
			}
		},
	}
}

// printRepair says exactly what the repair removed.
func printRepair(w io.Writer, rep waltool.RepairReport) {
	for _, t := range rep.Torn {
		fmt.Fprintf(w, "cut a torn tail: %s: %d bytes of a write a crash interrupted, never acknowledged (a .broken copy of the file is kept)\n",
			where(t.Err), t.Bytes)
	}
	s := rep.Salvage
	if s == nil {
		if len(rep.Torn) == 0 && rep.Corrupt == nil {
			fmt.Fprintln(w, "nothing to repair")
		}
		return
	}
	fmt.Fprintf(w, "corrupt: %s: %s\n", where(s.Damage), s.Damage.Reason)
	if s.RemovedTo != 0 {
		fmt.Fprintf(w, "removed indexes %d to %d (the highest found), %d bytes\n", s.RemovedFrom, s.RemovedTo, s.RemovedBytes)
	}
	for _, f := range s.Files {
		switch {
		case f.Kept < 0:
			fmt.Fprintf(w, "  %s: moved aside whole (%d bytes) to %s\n", f.Path, f.Size, f.Copy)
		case f.Kept < f.Size:
			fmt.Fprintf(w, "  %s: cut from %d to %d bytes; copy kept as %s\n", f.Path, f.Size, f.Kept, f.Copy)
		default:
			fmt.Fprintf(w, "  %s: records deleted in place; copy kept as %s\n", f.Path, f.Copy)
		}
	}
}
