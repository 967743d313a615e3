package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkHandle measures a request end to end on disk (SQLite store,
// jsonl WAL with fsync), each parallel worker in its own sessions.
func BenchmarkHandle(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := diskConfig(dir, m.mode, m.wal)
			cfg.SessionStore.SQLitePath = filepath.Join(dir, "sessions.db")
			br, err := New(context.Background(), cfg, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			var worker atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := worker.Add(1)
				i := 0
				for pb.Next() {
					i++
					_, err := br.Handle(context.Background(), Request{AgentID: "a", Intent: "cve employee",
						Context: RequestContext{SessionID: fmt.Sprintf("w%d-%d", w, i%16), Clearance: "secret"}})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if err := br.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
