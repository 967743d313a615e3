package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// minOpsPerWriterRound keeps a round long enough that its start and end,
// when only some of the writers are still running, do not dominate what it
// measures (see rowOps).
const minOpsPerWriterRound = 16

// trial measures one row in rounds. The rows of a group (append or broker
// rows with the same settings) take their rounds in turn, so a drift in the
// shared disk's latency falls on all of them alike rather than on whichever
// ran first.
type trial struct {
	row     row
	res     Result
	samples []int64 // one latency per operation, allocated before any round
	done    int     // operations measured so far
	seq     []int   // per worker: operations it has issued, warm-up excluded
	syncs   syncCounter
	// op runs a worker's seq-th operation.
	op func(ctx context.Context, worker, seq int) error
	// between runs after each round, outside the window: broker async rows
	// wait there for the store to catch up (timed as Drain), so that their
	// backlog does not run during the next row's round.
	between func(ctx context.Context) error
	close   func() error
}

func newTrial(r row) *trial {
	return &trial{row: r, res: r.result(), samples: make([]int64, r.ops), seq: make([]int, r.concurrency)}
}

// round runs n more operations shared among the trial's workers, each
// timed, and adds the window's wall time, allocations and fsyncs.
func (t *trial) round(ctx context.Context, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		start    = make(chan struct{})
	)
	workers := t.row.concurrency
	off := t.done
	for i := 0; i < workers; i++ {
		k := n / workers
		if i < n%workers {
			k++
		}
		mine, first := t.samples[off:off+k], t.seq[i]
		off += k
		t.seq[i] += k
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range mine {
				begin := time.Now()
				if err := t.op(ctx, i, first+j); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				mine[j] = int64(time.Since(begin))
			}
		}()
	}
	w := startWindow(t.syncs)
	close(start)
	wg.Wait()
	w.stop(&t.res)
	t.done = off
	if firstErr != nil || t.between == nil {
		return firstErr
	}
	return t.between(ctx)
}

// finish summarizes the trial: each operation carries the row's batch of
// records of its size (a broker request: one record, no fixed size).
func (t *trial) finish() Result {
	res := t.res
	res.Ops = int64(t.done)
	res.Records = res.Ops * int64(res.Batch)
	res.Bytes = res.Records * int64(res.Size)
	res.Latency = Summarize(t.samples[:t.done])
	return res
}

// measureGroup measures rows that are compared with each other (same
// workload and settings, one per subject and writer count) in nRounds
// alternating rounds, each row in its own directory under parent. In every
// round each row does an nRounds-th of its own operations.
func measureGroup(ctx context.Context, rows []row, dirs []string, nRounds int) ([]Result, error) {
	trials := make([]*trial, 0, len(rows))
	defer func() {
		for _, t := range trials {
			t.close()
		}
	}()
	for i, r := range rows {
		var (
			t   *trial
			err error
		)
		if r.workload == WorkloadBroker {
			t, err = newBrokerTrial(ctx, r, dirs[i])
		} else {
			t, err = newAppendTrial(ctx, r, dirs[i])
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label(r.result()), err)
		}
		trials = append(trials, t)
	}
	for k := 0; k < nRounds; k++ {
		for _, t := range trials {
			ops := t.row.ops
			if err := t.round(ctx, ops*(k+1)/nRounds-ops*k/nRounds); err != nil {
				return nil, fmt.Errorf("%s: %w", label(t.row.result()), err)
			}
		}
	}
	results := make([]Result, len(trials))
	var firstErr error
	for i, t := range trials {
		results[i] = t.finish()
		if err := t.close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: close: %w", label(t.row.result()), err)
		}
	}
	trials = nil
	return results, firstErr
}

// groupDirs returns a directory per row under parent, numbered from seq.
func groupDirs(parent string, seq int, rows []row) []string {
	dirs := make([]string, len(rows))
	for i, r := range rows {
		name := r.subject.name
		if r.mode != "" {
			name += "-" + r.mode
		}
		dirs[i] = filepath.Join(parent, fmt.Sprintf("%04d-%s-%s", seq+i, r.workload, name))
	}
	return dirs
}

func removeDirs(dirs []string) error {
	var first error
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil && first == nil {
			first = err
		}
	}
	return first
}
