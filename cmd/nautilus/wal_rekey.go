package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/waltool"
)

func init() {
	walSubcommands["rekey"] = walSubcommand{
		summary: "rewrite every record under the active key (also encrypts a log written without encryption); the old log is removed once the new one is in place",
		usage:   "--key ID=file:PATH|ID=env:VAR... [--active ID] [--read-plaintext]",
		flags: func(fs *flag.FlagSet) func(context.Context, backend.Config, io.Writer, io.Writer) int {
			var sources []backend.KeySource
			fs.Func("key", "a key the log may be sealed under, `ID=file:PATH` or ID=env:VAR, as in persistence.encryption (repeatable)", func(s string) error {
				id, ref, ok := strings.Cut(s, "=")
				kind, where, ok2 := strings.Cut(ref, ":")
				switch {
				case !ok || !ok2 || id == "" || where == "":
					return fmt.Errorf("want ID=file:PATH or ID=env:VAR, got %q", s)
				case kind == "file":
					sources = append(sources, backend.KeySource{ID: id, File: where})
				case kind == "env":
					sources = append(sources, backend.KeySource{ID: id, Env: where})
				default:
					return fmt.Errorf("want file: or env: after %s=, got %q", id, ref)
				}
				return nil
			})
			active := fs.String("active", "", "the `id` of the key to seal every record under (default: the first --key)")
			plain := fs.Bool("read-plaintext", false, "read records written without encryption, to encrypt such a log")
			return func(ctx context.Context, cfg backend.Config, stdout, stderr io.Writer) int {
				if len(sources) == 0 {
					fmt.Fprintln(stderr, "--key is required: name the active key and every key the log may be sealed under")
					return exitUsage
				}
				if *active == "" {
					*active = sources[0].ID
				}
				enc, err := backend.LoadKeys(*active, sources)
				if err != nil {
					fmt.Fprintln(stderr, err)
					return exitUsage
				}
				enc.ReadPlaintext = *plain
				cfg.Encryption = enc
				rep, err := waltool.Rekey(ctx, cfg)
				if err != nil {
					status := walFailed(stderr, cfg, err)
					switch {
					case errors.Is(err, backend.ErrKey):
						fmt.Fprintln(stderr, "pass every key the log's records are sealed under with --key; records under a lost key cannot be read")
					case errors.Is(err, backend.ErrCorrupt) && !*plain:
						fmt.Fprintln(stderr, "if the log was written without encryption, add --read-plaintext")
					}
					return status
				}
				fmt.Fprintf(stdout, "rekeyed %d records under key %s: the log holds %s\n", rep.Records, enc.Active, records(rep.First, rep.Last))
				return 0
			}
		},
	}
}
