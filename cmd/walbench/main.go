// Command walbench compares the WAL backends' latency and throughput on this
// machine's disk, side by side with baselines: fdatasync on a plain file and
// on a preallocated one (the disk's limit), the raw libraries without the
// framework, and the no-I/O memory backend.
//
//	go run ./cmd/walbench                       # every backend, append + small replay
//	go run ./cmd/walbench -format bench -count 5 > new.txt
//	benchstat -col /backend new.txt
//
// See docs/benchmarks.md for the method and how to read the figures.
package main

import (
	"context"
	"os"
	"os/signal"

	_ "github.com/nautilus-go/nautilus/backend/all"

	"github.com/nautilus-go/nautilus/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
