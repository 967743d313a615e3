package bench

import "time"

// Workload names.
const (
	WorkloadAppend   = "append"
	WorkloadReplay   = "replay"
	WorkloadTruncate = "truncate"
	WorkloadBroker   = "broker"
	// WorkloadBrokerHTTP sends the broker workload's requests over loopback
	// HTTP to the handler nautilus serve runs.
	WorkloadBrokerHTTP = "broker-http"
)

// Workloads lists the workloads in the order a run measures them.
var Workloads = []string{WorkloadAppend, WorkloadReplay, WorkloadTruncate, WorkloadBroker, WorkloadBrokerHTTP}

// Result is one measured row: one subject under one workload and setting.
type Result struct {
	Workload    string `json:"workload"`
	Backend     string `json:"backend"`        // a registered backend or a baseline
	Baseline    bool   `json:"baseline"`       // fdatasync or a raw library
	Mode        string `json:"mode,omitempty"` // broker: sync, sync+wal, sync+wal+audit or async+wal; broker-http also async
	Size        int    `json:"size"`
	Batch       int    `json:"batch"`
	Concurrency int    `json:"concurrency"` // writers, or broker clients
	Sync        string `json:"sync"`
	Run         int    `json:"run"` // repetition, from 1 to -count

	Sessions int    `json:"sessions,omitempty"` // broker-http: sessions the requests are spread over
	Store    string `json:"store,omitempty"`    // broker, broker-http: the session store, sqlite or postgres

	Ops     int64         `json:"ops"`     // measured operations: Appends, records replayed, TruncateFronts, requests
	Records int64         `json:"records"` // records written, replayed or truncated; broker-http: WAL records committed
	Bytes   int64         `json:"bytes"`   // payload bytes
	Elapsed time.Duration `json:"elapsed_ns"`
	Open    time.Duration `json:"open_ns,omitempty"`  // replay: opening the filled log
	Drain   time.Duration `json:"drain_ns,omitempty"` // broker async: storing the backlog after each round's last answer
	Latency Summary       `json:"-"`
	Syncs   int64         `json:"fsyncs"`
	Mallocs uint64        `json:"mallocs"` // heap allocations in the measured window

	// broker-http only.
	Connections int64   `json:"connections,omitempty"` // TCP connections the server accepted during the row
	Memory      *Memory `json:"memory,omitempty"`
}

// Memory is the process's memory around and during a broker-http row. RSS
// is 0 where the system does not report it (it is read from /proc).
type Memory struct {
	// Before the broker starts and after it is closed, each after a
	// collection that returns freed memory to the system.
	RSSBefore  int64 `json:"rss_before_bytes"`
	RSSAfter   int64 `json:"rss_after_bytes"`
	HeapBefore int64 `json:"heap_before_bytes"`
	HeapAfter  int64 `json:"heap_after_bytes"`
	// Sampled about every second of the measured window, and at its end.
	RSSEnd  int64 `json:"rss_end_bytes"`
	RSSPeak int64 `json:"rss_peak_bytes"`
	HeapEnd int64 `json:"heap_end_bytes"`
	// RSSLastHalf is RSSEnd less the RSS sampled at the window's midpoint:
	// near 0 when memory has stopped growing.
	RSSLastHalf int64 `json:"rss_last_half_delta_bytes"`
	Samples     int   `json:"samples"` // RSS samples taken in the window
}

// OpsPerSec returns measured operations per second of wall time.
func (r Result) OpsPerSec() float64 { return perSec(float64(r.Ops), r.Elapsed) }

// RecordsPerSec returns records per second of wall time.
func (r Result) RecordsPerSec() float64 { return perSec(float64(r.Records), r.Elapsed) }

// MBPerSec returns payload megabytes (10^6 bytes, as go test reports) per second.
func (r Result) MBPerSec() float64 { return perSec(float64(r.Bytes)/1e6, r.Elapsed) }

// NsPerOp returns wall time per operation, as go test's ns/op: under
// concurrency it is the inverse of throughput, not an operation's latency.
func (r Result) NsPerOp() float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(r.Elapsed.Nanoseconds()) / float64(r.Ops)
}

// SyncsPerOp returns counted fsyncs per operation.
func (r Result) SyncsPerOp() float64 { return ratio(float64(r.Syncs), float64(r.Ops)) }

// RecordsPerSync returns WAL records per counted fsync (broker-http).
func (r Result) RecordsPerSync() float64 { return ratio(float64(r.Records), float64(r.Syncs)) }

// AllocsPerOp returns heap allocations per operation.
func (r Result) AllocsPerOp() float64 { return ratio(float64(r.Mallocs), float64(r.Ops)) }

func perSec(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
