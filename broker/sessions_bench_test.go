package broker

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// activeSessionsLoaded is how many sessions BenchmarkActiveSessions holds
// in memory at once, as many as a busy broker keeps between requests.
const activeSessionsLoaded = 10000

// BenchmarkActiveSessions measures what an active session costs in memory
// between requests: it runs every intent of the broker-http workload on
// activeSessionsLoaded sessions (memory store, no WAL), so each session
// holds a full exposure, and reports the live heap per session. Run with
// -memprofile to see where the bytes go.
func BenchmarkActiveSessions(b *testing.B) {
	intents := []string{"employee pii", "cve vulnerability", "budget financial", "employee records"}
	for range b.N {
		br, err := New(context.Background(), memoryConfig(registryA()), nil)
		if err != nil {
			b.Fatal(err)
		}
		base := liveHeap()
		for i := range activeSessionsLoaded {
			for _, intent := range intents {
				if _, err := br.Handle(context.Background(), Request{AgentID: "a", Intent: intent,
					Context: RequestContext{SessionID: fmt.Sprintf("s%d", i), Clearance: "secret"}}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if n := br.activeSessions(); n != activeSessionsLoaded {
			b.Fatalf("%d sessions in memory, want %d", n, activeSessionsLoaded)
		}
		b.ReportMetric(float64(liveHeap()-base)/activeSessionsLoaded, "B/session")
		runtime.KeepAlive(br)
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
