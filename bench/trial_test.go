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

func TestRowOpsGiveEveryWriterSixteenPerRound(t *testing.T) {
	cases := []struct {
		name                 string
		ops, workers, rounds int
		want                 int
	}{
		{"one writer: ops as asked", 2000, 1, 10, 2000},
		{"64 writers: raised to 16 each in each of 10 rounds", 2000, 64, 10, 64 * 16 * 10},
		{"64 writers, more asked: as asked", 20000, 64, 10, 20000},
		{"too few ops for one writer: raised", 5, 1, 10, 160},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, rowOps(c.ops, c.workers, c.rounds))
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
	// a and b with one writer, B with four: all three take every round.
	for _, sub := range []struct {
		name    string
		writers int
	}{{"a", 1}, {"b", 1}, {"B", 4}} {
		s := subject{name: sub.name, open: func(context.Context, storeOptions) (store, error) {
			return orderStore{name: sub.name, log: log}, nil
		}}
		rows = append(rows, row{subject: s, workload: WorkloadAppend, sync: backend.SyncAlways,
			size: 10, batch: 1, concurrency: sub.writers, ops: rowOps(64, sub.writers, 4), run: 1})
	}
	require.Equal(t, 3, len(groupAt(rows, 0)), "writer counts of one setting share a group")
	results, err := measureGroup(context.Background(), rows, []string{t.TempDir(), t.TempDir(), t.TempDir()}, 4)
	require.NoError(t, err)

	warmup := strings.Repeat("a", warmupAppends) + strings.Repeat("b", warmupAppends) + strings.Repeat("B", warmupAppends)
	turns := strings.Repeat(strings.Repeat("a", 16)+strings.Repeat("b", 16)+strings.Repeat("B", 4*16), 4)
	assert.Equal(t, warmup+turns, strings.Join(log.names, ""), "4 rounds of 16 Appends per writer, in turn")
	for i, r := range results {
		ops := 64 * rows[i].concurrency
		assert.EqualValues(t, ops, r.Ops, r.Backend)
		assert.EqualValues(t, ops, r.Latency.Count, r.Backend)
		assert.EqualValues(t, 10*ops, r.Bytes, r.Backend)
	}
}

func TestGroupsSplitOnSettingsNotWriterCounts(t *testing.T) {
	o := DefaultOptions()
	o.Backends = []string{"memory", Fdatasync}
	o.Sync = []backend.SyncMode{backend.SyncAlways, backend.SyncNone}
	o.Workloads = []string{WorkloadAppend, WorkloadBroker}
	rows, err := o.plan(nil)
	require.NoError(t, err)
	var sizes []int
	for i := 0; i < len(rows); {
		g := groupAt(rows, i)
		sizes = append(sizes, len(g))
		for _, r := range g {
			assert.Equal(t, g[0].sync, r.sync, "one sync mode per group")
			assert.Equal(t, g[0].workload, r.workload, "one workload per group")
		}
		i += len(g)
	}
	// append: 2 subjects × 2 writer counts per mode; broker: no-wal once,
	// then memory sync+wal, sync+wal+audit and async+wal, per client count.
	assert.Equal(t, []int{4, 4, 8, 6}, sizes)
}
