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
	walSubcommands["dump"] = walSubcommand{
		summary: `write records as JSON lines, {"index":N,"data":<JSON>} or {"index":N,"base64":"..."}; changes nothing`,
		usage:   "[--from N] [--to N]",
		flags: func(fs *flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			from := fs.Uint64("from", 0, "the first `index` to write (default: the log's first)")
			to := fs.Uint64("to", 0, "the last `index` to write (default: the log's last)")
			return func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
				rep, err := waltool.Dump(ctx, cfg, *from, *to, stdout)
				if rep.Torn != nil {
					fmt.Fprintf(stderr, "the log ends in a torn tail, not dumped: %s: %d bytes (run `nautilus wal verify %s`)\n",
						where(rep.Torn.Err), rep.Torn.Bytes, walTarget(cfg))
				}
				if err != nil {
					return walFailed(stderr, cfg, err)
				}
				return 0
			}
		},
	}
}
