package bench

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

func TestRoundsKeepEveryWriterBusy(t *testing.T) {
	cases := []struct {
		name                 string
		rounds, ops, workers int
		want                 int
	}{
		{"enough ops: every round", 10, 2000, 1, 10},
		{"64 writers: one round", 10, 2000, 64, 1},
		{"8 writers: as many as keep 16 ops each", 10, 1000, 8, 7},
		{"too few ops: one round", 10, 5, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, rounds(c.rounds, c.ops, c.workers))
		})
	}
}

// orderStore records which store each append went to, in order.
type orderStore struct {
	nopStore
	name string
	log  *orderLog
}

type orderLog struct {
	mu    sync.Mutex
	names []string
}

func (s orderStore) append(context.Context, [][]byte) error {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.names = append(s.log.names, s.name)
	return nil
}

func TestGroupRowsTakeTurns(t *testing.T) {
	log := &orderLog{}
	var rows []row
	for _, name := range []string{"a", "b"} {
		sub := subject{name: name, open: func(context.Context, storeOptions) (store, error) {
			return orderStore{name: name, log: log}, nil
		}}
		rows = append(rows, row{subject: sub, workload: WorkloadAppend, sync: backend.SyncAlways,
			size: 10, batch: 1, concurrency: 1, ops: 64, run: 1})
	}
	results, err := measureGroup(context.Background(), rows, []string{t.TempDir(), t.TempDir()}, 4)
	require.NoError(t, err)

	warmup := strings.Repeat("a", warmupAppends) + strings.Repeat("b", warmupAppends)
	turns := strings.Repeat(strings.Repeat("a", 16)+strings.Repeat("b", 16), 4)
	assert.Equal(t, warmup+turns, strings.Join(log.names, ""), "4 rounds of 16 Appends each, in turn")
	for _, r := range results {
		assert.EqualValues(t, 64, r.Ops)
		assert.EqualValues(t, 64, r.Latency.Count)
		assert.EqualValues(t, 640, r.Bytes)
	}
}
