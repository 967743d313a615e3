package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
)

// benchClients is how many requests run at once in BenchmarkHandle, as
// many as the HTTP measurements' connections.
const benchClients = 16

// BenchmarkHandle measures a request end to end on disk (SQLite store,
// jsonl WAL with fsync) with benchClients clients, each in its own sessions,
// and reports p50 and p99 latency and the WAL records per fsync.
func BenchmarkHandle(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := diskConfig(dir, m.mode, m.wal)
			cfg.SessionStore.SQLitePath = filepath.Join(dir, "sessions.db")
			count := &commitCount{}
			br, err := New(context.Background(), cfg, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				WALObserver: count})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			var (
				worker atomic.Int64
				mu     sync.Mutex
				lat    []time.Duration
			)
			b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := worker.Add(1)
				var mine []time.Duration
				i := 0
				for pb.Next() {
					i++
					start := time.Now()
					_, err := br.Handle(context.Background(), Request{AgentID: "a", Intent: "cve employee",
						Context: RequestContext{SessionID: fmt.Sprintf("w%d-%d", w, i%16), Clearance: "secret"}})
					mine = append(mine, time.Since(start))
					if err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if err := br.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
			if c := count.commits.Load(); c > 0 {
				b.ReportMetric(float64(count.records.Load())/float64(c), "records/fsync")
				b.ReportMetric(float64(count.nanos.Load())/float64(c)/1e3, "µs/fsync")
			}
		})
	}
}

// commitCount counts a WAL's commits, the records they carried and their time.
type commitCount struct {
	backend.NopObserver
	commits, records, nanos atomic.Int64
}

func (c *commitCount) Committed(records, bytes, callers int, d time.Duration) {
	c.commits.Add(1)
	c.records.Add(int64(records))
	c.nanos.Add(int64(d))
}
