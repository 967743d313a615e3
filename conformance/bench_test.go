package conformance

import (
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
)

func memoryHarness() Harness {
	return Harness{
		Open: func(ctx context.Context, dir string) (backend.WAL, error) {
			return backend.Open(ctx, backend.Config{Backend: "memory", Dir: dir})
		},
		Caps: Capabilities{NotPersistent: true},
	}
}

// TestBenchRunsEverySubBenchmark runs Bench's sub-benchmarks once each, so a
// broken benchmark fails go test, not only go test -bench.
func TestBenchRunsEverySubBenchmark(t *testing.T) {
	// testing.Benchmark reads -test.benchtime: run each a fixed, small number of times.
	benchtime := flag.Lookup("test.benchtime")
	old := benchtime.Value.String()
	if err := benchtime.Value.Set("50x"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { benchtime.Value.Set(old) })

	h := memoryHarness()
	cases := []struct {
		name  string
		bench func(b *testing.B)
		bytes int64
	}{
		{"append batch 1", func(b *testing.B) { benchAppend(b, h, 1) }, benchRecordSize},
		{"append batch 64", func(b *testing.B) { benchAppend(b, h, 64) }, 64 * benchRecordSize},
		{"parallel", func(b *testing.B) { benchParallel(b, h, 64) }, benchRecordSize},
		{"replay", func(b *testing.B) { benchReplay(b, h) }, benchRecordSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testing.Benchmark(c.bench)
			if r.N != 50 {
				t.Fatalf("%s did not run (a b.Fatal inside?)", c.name)
			}
			if r.Bytes != c.bytes {
				t.Errorf("%s: SetBytes %d, want %d", c.name, r.Bytes, c.bytes)
			}
		})
	}
}

func TestBenchRecordsAreJSONObjects(t *testing.T) {
	for _, r := range benchRecords(3) {
		if len(r) != benchRecordSize || !json.Valid(r) || !strings.HasPrefix(string(r), "{") {
			t.Fatalf("record %q is not a %d-byte JSON object", r, benchRecordSize)
		}
	}
}
