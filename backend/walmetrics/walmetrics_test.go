package walmetrics_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/nautilus-go/nautilus/backend/walmetrics"
)

func TestMetricsCountWhatTheWALDoes(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewPedanticRegistry()
	m := walmetrics.New(reg, prometheus.Labels{"backend": "memory"})
	w, err := backend.Open(ctx, backend.Config{Backend: "memory", Dir: t.TempDir(), Observer: m})
	require.NoError(t, err)
	w = m.Wrap(w)
	defer w.Close()

	_, err = w.Append(ctx, []byte("abc"), []byte("de"))
	require.NoError(t, err)
	_, err = w.Append(ctx, []byte("f"))
	require.NoError(t, err)
	require.NoError(t, w.Sync(ctx))
	require.NoError(t, w.Replay(ctx, 1, func(uint64, []byte) error { return nil }))

	require.Equal(t, 3.0, testutil.ToFloat64(m.Collector("records_appended_total")))
	require.Equal(t, 6.0, testutil.ToFloat64(m.Collector("bytes_written_total")))
	require.Equal(t, 3.0, testutil.ToFloat64(m.Collector("records_replayed_total")))
	n, err := testutil.GatherAndCount(reg, "nautilus_wal_append_seconds", "nautilus_wal_fsync_seconds")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// Two appends and one Sync: three fsync observations under SyncAlways.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "nautilus_wal_fsync_seconds" {
			require.EqualValues(t, 3, mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
		if mf.GetName() == "nautilus_wal_append_seconds" {
			require.EqualValues(t, 2, mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
}

func TestCorruptOpenAndRepairAreCounted(t *testing.T) {
	m := walmetrics.New(nil, nil)
	m.TailRepaired("00000000000000000001.jsonl", 12)
	m.CorruptOpen(backend.ErrCorrupt)
	require.Equal(t, 1.0, testutil.ToFloat64(m.Collector("tail_repairs_total")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.Collector("corrupt_opens_total")))
}
