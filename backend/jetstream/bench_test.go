package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jetstream"
	"github.com/nautilus-go/nautilus/backend/jetstream/jstest"
	"github.com/nautilus-go/nautilus/conformance"
)

// BenchmarkWAL runs the shared WAL benchmarks on the embedded server: with
// SyncAlways it fsyncs every write before the ack; with SyncNone it runs
// the server's default, an fsync every 2 minutes.
func BenchmarkWAL(b *testing.B) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			conformance.Bench(b, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					return backend.Open(ctx, backend.Config{Backend: jetstream.Name, Dir: dir, Sync: mode})
				},
				Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
			})
		})
	}
}

// BenchmarkCluster runs the shared WAL benchmarks on a stream of 3 replicas
// in a 3-node cluster on loopback, its servers fsyncing every write
// (sync_interval: always) or on their default interval.
func BenchmarkCluster(b *testing.B) {
	for _, syncAlways := range []bool{true, false} {
		b.Run(fmt.Sprintf("replicas=3/server_sync_always=%t", syncAlways), func(b *testing.B) {
			c, err := jstest.Start(3, jstest.Options{Dir: b.TempDir(), SyncAlways: syncAlways, ReadyTimeout: electionTimeout})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			// Each directory gets a stream of its own, the same on reopen.
			var mu sync.Mutex
			streams := map[string]string{}
			conformance.Bench(b, conformance.Harness{
				Open: func(ctx context.Context, dir string) (backend.WAL, error) {
					mu.Lock()
					stream, ok := streams[dir]
					if !ok {
						stream = fmt.Sprintf("bench%d", len(streams))
						streams[dir] = stream
					}
					mu.Unlock()
					return backend.Open(ctx, backend.Config{Backend: jetstream.Name, Dir: dir, Params: map[string]string{
						jetstream.ParamURL: c.URL(), jetstream.ParamStream: stream, jetstream.ParamReplicas: "3",
					}})
				},
			})
		})
	}
}
