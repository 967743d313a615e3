package bench

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jetstream/jstest"
)

// A run over jetstream and jetstream-r3 measures rows beside each other,
// reopens a jetstream-r3 row's stream for the replay, and stops the cluster
// when it ends.
func TestRunJetStreamRowsStopsTheCluster(t *testing.T) {
	var started []*jstest.Cluster
	prev := clusterStarted
	clusterStarted = func(c *jstest.Cluster) { started = append(started, c) }
	t.Cleanup(func() { clusterStarted = prev })

	dir := t.TempDir()
	o := DefaultOptions()
	o.Backends = []string{"jetstream", JetStreamR3}
	o.Workloads = []string{WorkloadAppend, WorkloadReplay}
	o.Ops, o.Records, o.Rounds = 16, 40, 1
	o.Concurrency = []int{1, 4}
	o.Dir = dir
	rep, err := Run(context.Background(), o)
	require.NoError(t, err)

	// 2 append rows per subject (1 and 4 writers), 1 replay row each.
	require.Len(t, rep.Results, 6)
	count := map[string]int{}
	for _, r := range rep.Results {
		count[r.Backend]++
		assert.False(t, r.Baseline, r.Backend)
		assert.Equal(t, "always", r.Sync)
		assert.Positive(t, r.Elapsed, label(r))
		switch r.Workload {
		case WorkloadAppend:
			assert.EqualValues(t, max(o.Ops, minOpsPerWriterRound*r.Concurrency), r.Ops, label(r))
			assert.Equal(t, r.Ops, r.Records, label(r))
			assert.EqualValues(t, r.Ops*int64(o.Size), r.Bytes, label(r))
			assert.EqualValues(t, r.Ops, r.Latency.Count, label(r))
			assert.Positive(t, r.Latency.P50, label(r))
			assert.GreaterOrEqual(t, r.Latency.P99, r.Latency.P50, label(r))
			assert.Positive(t, r.Syncs, label(r))
		case WorkloadReplay:
			assert.EqualValues(t, o.Records, r.Ops, label(r))
			assert.EqualValues(t, o.Records*o.Size, r.Bytes, label(r))
		default:
			t.Errorf("unexpected row %s", label(r))
		}
	}
	assert.Equal(t, map[string]int{"jetstream": 3, JetStreamR3: 3}, count)

	require.Len(t, started, 1, "one cluster for the run's jetstream-r3 rows")
	c := started[0]
	for i := range c.N() {
		assert.Nil(t, c.Server(i), "node %d still running after the run", i)
	}
	for _, u := range c.URLs() {
		p, err := url.Parse(u)
		require.NoError(t, err)
		conn, err := net.DialTimeout("tcp", p.Host, time.Second)
		if err == nil {
			conn.Close()
		}
		assert.Error(t, err, "%s still accepts connections after the run", p.Host)
	}
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the rows' directories and the cluster's store are removed")
}

// A run with no jetstream-r3 row starts no cluster.
func TestRunWithoutJetStreamR3StartsNoCluster(t *testing.T) {
	prev := clusterStarted
	clusterStarted = func(*jstest.Cluster) { t.Error("a cluster started for a run without jetstream-r3 rows") }
	t.Cleanup(func() { clusterStarted = prev })

	o := DefaultOptions()
	o.Backends = []string{FdatasyncPrealloc}
	o.Workloads = []string{WorkloadAppend}
	o.Ops, o.Rounds, o.Concurrency = 16, 1, []int{1}
	rep, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Len(t, rep.Results, 1)
}

// The broker's configuration cannot name the run's cluster, so the broker
// workloads have no jetstream-r3 rows.
func TestBrokerRowsLeaveOutJetStreamR3(t *testing.T) {
	o := DefaultOptions()
	o.Backends = []string{"jetstream", JetStreamR3}
	o.Workloads = []string{WorkloadBroker}
	rows, err := o.plan(nil)
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		assert.NotEqual(t, JetStreamR3, r.subject.name, label(r.result()))
	}
}

// The cluster's nodes fsync every write unless every row is SyncNone.
func TestJSClusterSyncFollowsTheRun(t *testing.T) {
	assert.True(t, newJSCluster("", []backend.SyncMode{backend.SyncAlways}).syncAlways)
	assert.True(t, newJSCluster("", []backend.SyncMode{backend.SyncNone, backend.SyncAlways}).syncAlways)
	assert.False(t, newJSCluster("", []backend.SyncMode{backend.SyncNone}).syncAlways)
	_, err := (*jsCluster)(nil).params("x")
	assert.ErrorContains(t, err, JetStreamR3)
}
