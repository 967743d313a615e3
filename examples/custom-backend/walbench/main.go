// Command walbench is cmd/walbench with the example SQLite backend linked
// in: the same flags and report, and "sqlite" among the backends.
//
//	go run ./examples/custom-backend/walbench -backends sqlite,bbolt,fdatasync -ops 2000
//
// A custom backend is measured by adding its blank import to a copy of
// cmd/walbench's main, as here; docs/custom-backend.md walks through it.
package main

import (
	"context"
	"os"
	"os/signal"

	_ "github.com/nautilus-go/nautilus/backend/all"
	_ "github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"

	"github.com/nautilus-go/nautilus/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
