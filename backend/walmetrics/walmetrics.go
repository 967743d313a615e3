// Package walmetrics exports a WAL's activity as Prometheus metrics. The
// broker registers them on its /metrics endpoint; any program using package
// backend can do the same for any backend, built-in or custom:
//
//	m := walmetrics.New(prometheus.DefaultRegisterer, nil)
//	w, err := backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Observer: m})
//	w = m.Wrap(w) // adds the caller-side Append latency
//
// Metrics (all prefixed nautilus_wal_):
//
//	append_seconds            histogram: Append latency seen by the caller, group-commit wait included
//	fsync_seconds             histogram: one durable driver commit (SyncAlways) or an explicit Sync
//	commit_seconds            histogram: one driver Append, whatever the sync mode
//	group_commit_callers      histogram: Append calls answered by one driver commit
//	group_commit_records      histogram: records carried by one driver commit
//	bytes_written_total       counter:   payload bytes committed
//	records_appended_total    counter:   records committed
//	records_replayed_total    counter:   records delivered by Replay
//	tail_repairs_total        counter:   torn tails cut off at Open
//	corrupt_opens_total       counter:   Opens refused because of corruption
//
// Alert on corrupt_opens_total > 0 and on a rising fsync_seconds p99; a
// group_commit_callers mean well above 1 says the disk, not the CPU, is the limit.
package walmetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nautilus-go/nautilus/backend"
)

// Metrics implements backend.Observer with Prometheus collectors.
type Metrics struct {
	// SyncAlways says whether commits include an fsync; New sets it true.
	// Set it false for a WAL opened with SyncNone so fsync_seconds stays honest.
	SyncAlways bool

	appendSeconds   prometheus.Histogram
	fsyncSeconds    prometheus.Histogram
	commitSeconds   prometheus.Histogram
	callers         prometheus.Histogram
	records         prometheus.Histogram
	bytesWritten    prometheus.Counter
	recordsAppended prometheus.Counter
	recordsReplayed prometheus.Counter
	tailRepairs     prometheus.Counter
	corruptOpens    prometheus.Counter
}

// latencyBuckets span 10µs (a page-cache append) to 10s (a disk in trouble).
var latencyBuckets = prometheus.ExponentialBuckets(10e-6, 2.5, 14)

var sizeBuckets = prometheus.ExponentialBuckets(1, 2, 12)

// New creates the collectors and registers them on reg (nil: not registered).
// labels are constant labels added to every metric, e.g. {"backend": "jsonl"}.
func New(reg prometheus.Registerer, labels prometheus.Labels) *Metrics {
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nautilus", Subsystem: "wal", Name: name, Help: help,
			Buckets: buckets, ConstLabels: labels,
		})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "nautilus", Subsystem: "wal", Name: name, Help: help, ConstLabels: labels,
		})
	}
	m := &Metrics{
		SyncAlways:      true,
		appendSeconds:   hist("append_seconds", "Append latency seen by the caller, group-commit wait included.", latencyBuckets),
		fsyncSeconds:    hist("fsync_seconds", "Latency of one durable commit or explicit Sync.", latencyBuckets),
		commitSeconds:   hist("commit_seconds", "Latency of one driver Append.", latencyBuckets),
		callers:         hist("group_commit_callers", "Append calls answered by one driver commit.", sizeBuckets),
		records:         hist("group_commit_records", "Records carried by one driver commit.", sizeBuckets),
		bytesWritten:    counter("bytes_written_total", "Payload bytes committed."),
		recordsAppended: counter("records_appended_total", "Records committed."),
		recordsReplayed: counter("records_replayed_total", "Records delivered by Replay."),
		tailRepairs:     counter("tail_repairs_total", "Torn tails cut off at Open."),
		corruptOpens:    counter("corrupt_opens_total", "Opens refused because of corruption."),
	}
	if reg != nil {
		for _, c := range m.collectors() {
			reg.MustRegister(c)
		}
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.appendSeconds, m.fsyncSeconds, m.commitSeconds, m.callers,
		m.records, m.bytesWritten, m.recordsAppended, m.recordsReplayed, m.tailRepairs, m.corruptOpens}
}

// Committed implements backend.Observer.
func (m *Metrics) Committed(records, bytes, callers int, d time.Duration) {
	m.commitSeconds.Observe(d.Seconds())
	if m.SyncAlways {
		m.fsyncSeconds.Observe(d.Seconds())
	}
	m.callers.Observe(float64(callers))
	m.records.Observe(float64(records))
	m.bytesWritten.Add(float64(bytes))
	m.recordsAppended.Add(float64(records))
}

// Synced implements backend.Observer.
func (m *Metrics) Synced(d time.Duration) { m.fsyncSeconds.Observe(d.Seconds()) }

// Replayed implements backend.Observer.
func (m *Metrics) Replayed(records int) { m.recordsReplayed.Add(float64(records)) }

// TailRepaired implements backend.Observer.
func (m *Metrics) TailRepaired(file string, droppedBytes int64) { m.tailRepairs.Inc() }

// CorruptOpen implements backend.Observer.
func (m *Metrics) CorruptOpen(err error) { m.corruptOpens.Inc() }

// Wrap returns w with each Append timed from the caller's side.
func (m *Metrics) Wrap(w backend.WAL) backend.WAL { return &timedWAL{WAL: w, m: m} }

type timedWAL struct {
	backend.WAL
	m *Metrics
}

func (t *timedWAL) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	start := time.Now()
	last, err := t.WAL.Append(ctx, data...)
	if err == nil {
		t.m.appendSeconds.Observe(time.Since(start).Seconds())
	}
	return last, err
}

// Collector returns the collector named name without its nautilus_wal_ prefix
// (e.g. "records_replayed_total"), or nil; for tests and custom exporters.
func (m *Metrics) Collector(name string) prometheus.Collector {
	byName := map[string]prometheus.Collector{
		"append_seconds": m.appendSeconds, "fsync_seconds": m.fsyncSeconds,
		"commit_seconds": m.commitSeconds, "group_commit_callers": m.callers,
		"group_commit_records": m.records, "bytes_written_total": m.bytesWritten,
		"records_appended_total": m.recordsAppended, "records_replayed_total": m.recordsReplayed,
		"tail_repairs_total": m.tailRepairs, "corrupt_opens_total": m.corruptOpens,
	}
	return byName[name]
}
