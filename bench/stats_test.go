package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

func TestPercentileIsExactNearestRank(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	thousand := make([]int64, 1000)
	for i := range thousand {
		thousand[i] = int64(i + 1)
	}
	cases := []struct {
		name    string
		samples []int64
		p       float64
		want    int64
	}{
		{"p50 of 1..100 is the 50th", hundred, 50, 50},
		{"p90 of 1..100 is the 90th", hundred, 90, 90},
		{"p99 of 1..100 is the 99th", hundred, 99, 99},
		{"p99.9 of 1..100 rounds the rank up to the max", hundred, 99.9, 100},
		{"p99.9 of 1..1000 is the 999th", thousand, 99.9, 999},
		{"p100 is the max", thousand, 100, 1000},
		{"a tiny p is the min", thousand, 0.001, 1},
		{"one sample is every percentile", []int64{7}, 99.9, 7},
		{"no samples is zero", nil, 50, 0},
		{"p50 of two is the lower", []int64{10, 20}, 50, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, Percentile(c.samples, c.p))
		})
	}
}

func TestSummarizeSortsAndSummarizesExactly(t *testing.T) {
	samples := make([]int64, 1000)
	for i := range samples {
		samples[i] = int64(i+1) * 1000 // 1µs .. 1ms
	}
	rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	s := Summarize(samples)
	assert.Equal(t, Summary{
		Count: 1000,
		Mean:  500500 * time.Nanosecond,
		P50:   500 * time.Microsecond,
		P90:   900 * time.Microsecond,
		P99:   990 * time.Microsecond,
		P999:  999 * time.Microsecond,
		Max:   time.Millisecond,
	}, s)
	assert.Equal(t, Summary{}, Summarize(nil))
}

// nopStore accepts every append and does nothing, to measure walbench's own
// cost per operation.
type nopStore struct{}

func (nopStore) append(context.Context, [][]byte) error              { return nil }
func (nopStore) replay(context.Context, func([]byte)) (int64, error) { return 0, nil }
func (nopStore) truncateFront(context.Context, uint64) error         { return nil }
func (nopStore) syncs() int64                                        { return 0 }
func (nopStore) close() error                                        { return nil }

func TestAppendOfOneMillionOpsRecordsInUnder100MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("records a million samples")
	}
	const ops = 1_000_000
	r := row{subject: subject{name: "nop"}, workload: WorkloadAppend, sync: backend.SyncAlways,
		size: 200, batch: 1, concurrency: 8, ops: ops, run: 1}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx := context.Background()
	tr, err := appendTrial(ctx, nopStore{}, r)
	require.NoError(t, err)
	for k := 0; k < 10; k++ {
		require.NoError(t, tr.round(ctx, ops/10))
	}
	res := tr.finish()
	runtime.ReadMemStats(&after)

	assert.EqualValues(t, ops, res.Latency.Count, "one sample per Append")
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocated, uint64(100<<20), "bytes allocated for %d ops", ops)
	assert.Less(t, res.AllocsPerOp(), 0.001, "the measured window allocates next to nothing of its own")
}

func TestPayloadsAreJSONObjectsOfTheSize(t *testing.T) {
	for _, size := range []int{jsonOverhead, 200, 4096} {
		for _, p := range payloads(1, 3, size) {
			assert.Len(t, p, size)
			assert.True(t, json.Valid(p), "%q", p)
		}
	}
	small := payloads(1, 1, jsonOverhead-1)[0]
	assert.Len(t, small, jsonOverhead-1, "smaller records are the filler alone")
}
