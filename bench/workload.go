package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/nautilus-go/nautilus/backend"
)

const (
	// warmupAppends run before the measured window, so that creating the
	// first segment or page is not counted as an append.
	warmupAppends = 16
	// fillBatch is the records per Append when filling a log for replay or
	// truncate; the fill is not measured.
	fillBatch = 1000
	// truncateSteps is how many TruncateFront calls empty a filled log.
	truncateSteps = 100
)

// row is one measurement to take.
type row struct {
	subject     subject
	workload    string
	sync        backend.SyncMode
	size, batch int
	concurrency int // writers, or broker clients
	ops         int // Appends (append) or records (replay, truncate)
	mode        string
	run         int
	// broker-http: the sessions the requests are spread over, and the
	// measured window's length (0: ops requests instead).
	sessions int
	duration time.Duration
	// broker, broker-http: the session store, and the postgres DSN.
	store, pgDSN string
}

func (r row) result() Result {
	return Result{
		Workload: r.workload, Backend: r.subject.name, Baseline: r.subject.baseline, Mode: r.mode,
		Size: r.size, Batch: r.batch, Concurrency: r.concurrency, Sync: r.sync.String(), Run: r.run,
		Sessions: r.sessions, Store: r.store,
	}
}

// payloads returns n records of size bytes, each a JSON object with a random
// alphanumeric filler, {"pad":"x7Qa..."}, like the broker's JSON records (the
// jsonl backend embeds JSON verbatim and would base64 anything else). Below
// jsonOverhead bytes a record is the filler alone.
func payloads(seed uint64, n, size int) [][]byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if size >= jsonOverhead {
			copy(b, jsonOpen)
			copy(b[size-len(jsonClose):], jsonClose)
		}
		out[i] = b
	}
	return out
}

const (
	jsonOpen     = `{"pad":"`
	jsonClose    = `"}`
	jsonOverhead = len(jsonOpen) + len(jsonClose)
)

// window measures what the code between start and stop costs: wall time,
// heap allocations and the store's fsyncs.
type window struct {
	s       syncCounter
	t0      time.Time
	mallocs uint64
	syncs   int64
}

// syncCounter is what a window reads fsyncs from.
type syncCounter interface{ syncs() int64 }

func startWindow(s syncCounter) *window {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &window{s: s, mallocs: ms.Mallocs, syncs: s.syncs(), t0: time.Now()}
}

// stop adds the window's figures to res, so that rounds add up.
func (w *window) stop(res *Result) {
	res.Elapsed += time.Since(w.t0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.Mallocs += ms.Mallocs - w.mallocs
	res.Syncs += w.s.syncs() - w.syncs
}

// newAppendTrial opens r's store in dir for Appends of r.batch records.
func newAppendTrial(ctx context.Context, r row, dir string) (*trial, error) {
	s, err := r.subject.open(ctx, storeOptions{dir: dir, sync: r.sync, size: r.size})
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	t, err := appendTrial(ctx, s, r)
	if err != nil {
		s.close()
		return nil, err
	}
	t.close = sync.OnceValue(func() error {
		releaseStore(context.WithoutCancel(ctx), r.subject.name, s)
		return s.close()
	})
	return t, nil
}

// appendTrial measures Appends to s, each writer with records of its own,
// after a few unmeasured ones.
func appendTrial(ctx context.Context, s store, r row) (*trial, error) {
	writers := make([][][]byte, r.concurrency)
	for i := range writers {
		writers[i] = payloads(uint64(i), r.batch, r.size)
	}
	for i := 0; i < warmupAppends; i++ {
		if err := s.append(ctx, writers[0]); err != nil {
			return nil, fmt.Errorf("warm-up append: %w", err)
		}
	}
	t := newTrial(r)
	t.syncs = s
	t.op = func(ctx context.Context, worker, _ int) error { return s.append(ctx, writers[worker]) }
	t.close = s.close
	return t, nil
}

// fill appends n records in batches of fillBatch.
func fill(ctx context.Context, s store, n, size int) error {
	recs := payloads(0, fillBatch, size)
	for done := 0; done < n; done += fillBatch {
		if err := s.append(ctx, recs[:min(fillBatch, n-done)]); err != nil {
			return fmt.Errorf("fill after %d records: %w", done, err)
		}
	}
	return nil
}

// runReplay fills a log with r.ops records, reopens it (timed as Open) and
// measures one Replay of every record. The records are in the page cache:
// this is the replay's CPU cost, what a restart soon after a crash pays.
func runReplay(ctx context.Context, sub subject, o storeOptions, r row) (Result, error) {
	res := r.result()
	fillOpts := o
	fillOpts.sync = backend.SyncNone
	s, err := sub.open(ctx, fillOpts)
	if err != nil {
		return res, err
	}
	if err := fill(ctx, s, r.ops, r.size); err != nil {
		s.close()
		return res, err
	}
	if err := s.close(); err != nil {
		return res, fmt.Errorf("close after fill: %w", err)
	}

	t := time.Now()
	s, err = sub.open(ctx, o)
	if err != nil {
		return res, fmt.Errorf("reopen: %w", err)
	}
	res.Open = time.Since(t)
	defer s.close()
	defer releaseStore(ctx, sub.name, s)

	var bytes int64
	w := startWindow(s)
	n, err := s.replay(ctx, func(data []byte) { bytes += int64(len(data)) })
	w.stop(&res)
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	if n != int64(r.ops) {
		return res, fmt.Errorf("replay returned %d records, want %d", n, r.ops)
	}
	res.Ops, res.Records, res.Bytes = n, n, bytes
	return res, nil
}

// runTruncate fills a log with r.ops records and empties it with
// truncateSteps TruncateFront calls, recording each call's latency.
func runTruncate(ctx context.Context, s store, r row) (Result, error) {
	res := r.result()
	if err := fill(ctx, s, r.ops, r.size); err != nil {
		return res, err
	}
	steps := min(truncateSteps, r.ops)
	samples := make([]int64, steps)
	w := startWindow(s)
	for i := range samples {
		before := 1 + uint64(r.ops)*uint64(i+1)/uint64(steps)
		t := time.Now()
		if err := s.truncateFront(ctx, before); err != nil {
			if errors.Is(err, errUnsupported) {
				return res, err
			}
			return res, fmt.Errorf("truncate front before %d: %w", before, err)
		}
		samples[i] = int64(time.Since(t))
	}
	w.stop(&res)
	res.Ops = int64(steps)
	res.Records = int64(r.ops)
	res.Bytes = res.Records * int64(r.size)
	res.Latency = Summarize(samples)
	return res, nil
}
