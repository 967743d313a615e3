package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// LockFileName is the file in every WAL directory that Open locks. Drivers
// must leave it alone.
const LockFileName = "wal.lock"

// Params the shared layer reads itself; they are removed before the driver
// sees cfg.Params.
const (
	// ParamGroupCommitMaxDelay lets a group-commit leader wait up to this long
	// for more Appends to join its fsync (default 0: a lone writer never waits).
	ParamGroupCommitMaxDelay = "group_commit_max_delay"
	// ParamSlowSyncThreshold: a durable Append or Sync slower than this logs a
	// warning (default 1s), since a slow disk is the first thing to suspect
	// when request latency rises.
	ParamSlowSyncThreshold = "slow_fsync_threshold"
)

var sharedParams = map[string]bool{ParamGroupCommitMaxDelay: true, ParamSlowSyncThreshold: true}

// OpenDriver opens a WAL with d, bypassing the registry, and wraps it in the
// shared machinery exactly as Open does. Tests use it to open a driver built
// with test-only options.
func OpenDriver(ctx context.Context, d Driver, cfg Config) (WAL, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("backend %s: Config.Dir is empty", cfg.Backend)
	}
	if cfg.Sync != SyncAlways && cfg.Sync != SyncNone {
		return nil, fmt.Errorf("backend %s: unknown sync mode %d", cfg.Backend, cfg.Sync)
	}
	s, driverCfg, err := readSharedParams(cfg)
	if err != nil {
		return nil, err
	}
	ciph, err := NewCipher(cfg.Encryption)
	if err != nil {
		return nil, err
	}

	if err := checkModes(cfg); err != nil {
		return nil, err
	}
	fs := cfg.FileSystem()
	if err := vfs.MkdirAllSynced(fs, cfg.Dir); err != nil {
		return nil, fmt.Errorf("backend %s: create %s: %w", cfg.Backend, cfg.Dir, err)
	}
	lock, err := LockDir(cfg, true)
	if err != nil {
		return nil, err
	}
	inner, err := d.Open(ctx, driverCfg)
	if err != nil {
		lock.Close()
		if errors.Is(err, ErrCorrupt) {
			cfg.Observe().CorruptOpen(err)
		}
		return nil, err
	}
	first, last, err := inner.Bounds(ctx)
	if err == nil && first > last+1 {
		err = fmt.Errorf("backend %s: driver reports bounds first %d > last+1 %d", cfg.Backend, first, last+1)
	}
	if err == nil && ciph != nil {
		inner, err = ciph.wrapWAL(ctx, inner, first, last) // inner is still closable on error
	}
	if err != nil {
		inner.Close()
		lock.Close()
		return nil, err
	}
	w := &wal{inner: inner, lock: lock, obs: cfg.Observe(), log: cfg.Log(), dir: cfg.Dir,
		first: first, last: last, maxDelay: s.maxDelay, slowSync: s.slowSync, syncAlways: cfg.Sync == SyncAlways}
	_, nop := w.obs.(NopObserver)
	w.timed = !nop || (w.syncAlways && w.slowSync > 0)
	return w, nil
}

// sharedSettings are the shared layer's params after parsing.
type sharedSettings struct {
	maxDelay, slowSync time.Duration
}

// readSharedParams parses the shared layer's params and returns them with
// the config the driver sees.
func readSharedParams(cfg Config) (sharedSettings, Config, error) {
	shared, driverCfg := splitParams(cfg)
	s := sharedSettings{
		maxDelay: shared.Duration(ParamGroupCommitMaxDelay, 0),
		slowSync: shared.Duration(ParamSlowSyncThreshold, time.Second),
	}
	return s, driverCfg, shared.Err()
}

// splitParams separates the shared layer's params from the driver's.
func splitParams(cfg Config) (*Params, Config) {
	sharedValues := map[string]string{}
	driverValues := map[string]string{}
	for k, v := range cfg.Params {
		if sharedParams[k] {
			sharedValues[k] = v
		} else {
			driverValues[k] = v
		}
	}
	shared := NewParams(Config{Backend: cfg.Backend, Params: sharedValues})
	cfg.Params = driverValues
	return shared, cfg
}

// wal is the shared machinery around a driver's WAL:
//   - Close is idempotent and waits for calls in flight; later calls get ErrClosed;
//   - a done ctx is refused before anything changes;
//   - the first write or fsync error is sticky (fail-stop) until reopen;
//   - concurrent Appends share one driver Append and its fsync (group commit);
//   - index arguments are checked against the bounds it tracks, so the driver
//     sees only valid calls, and a driver's index arithmetic is checked.
//
// The driver sees Append, Sync and TruncateFront one at a time; Replay and
// Bounds may run concurrently with them and with each other.
type wal struct {
	inner      WAL
	lock       io.Closer
	obs        Observer
	log        *slog.Logger
	dir        string
	maxDelay   time.Duration
	slowSync   time.Duration
	syncAlways bool
	timed      bool // a commit's latency is wanted: by an Observer or the slow-fsync warning

	life   sync.RWMutex // read-held by every call, write-held by Close
	closed bool

	writeMu sync.Mutex // serializes driver writes

	// mu guards the fields below. last and failure change only with writeMu
	// held too, so a driver writer holding writeMu reads them without mu.
	mu          sync.Mutex
	first, last uint64 // acknowledged bounds
	failure     error  // sticky write or fsync error
	queue       []*appendRequest
	leading     bool // a leader is committing
}

// appendRequest is a follower's Append, queued while a leader commits.
// Requests are pooled: a follower returns its own once it has been answered.
type appendRequest struct {
	data  [][]byte
	last  uint64
	err   error
	lead  bool             // woken to become the next leader, not answered
	batch []*appendRequest // when lead: the requests queued behind it
	ready chan struct{}    // sent on once, when answered or made leader
}

var requests = sync.Pool{New: func() any { return &appendRequest{ready: make(chan struct{}, 1)} }}

func (w *wal) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.life.RLock()
	if w.closed {
		w.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (w *wal) leave() { w.life.RUnlock() }

// failed returns the sticky error, wrapped so the caller knows to reopen.
func (w *wal) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stickyLocked()
}

// stickyLocked is failed for a caller holding mu or writeMu.
func (w *wal) stickyLocked() error {
	if w.failure == nil {
		return nil
	}
	return fmt.Errorf("wal: failed by an earlier write or sync error; close and reopen: %w", w.failure)
}

// fail records err as the sticky error; the caller holds writeMu.
func (w *wal) fail(err error) {
	w.mu.Lock()
	if w.failure == nil {
		w.failure = err
	}
	w.mu.Unlock()
}

// Append is a group commit: a caller arriving while no commit runs leads at
// once with its own records and no request, channel or allocation, so a lone
// writer pays two uncontended locks for the hand-off. Callers arriving while
// a leader commits queue a pooled request and wait; the leader, when done,
// makes the first of them the next leader of all of them.
func (w *wal) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	if err := w.enter(ctx); err != nil {
		return 0, err
	}
	defer w.leave()
	for i, d := range data {
		if len(d) > MaxRecordSize {
			return 0, fmt.Errorf("wal: record %d of %d bytes exceeds MaxRecordSize %d", i, len(d), MaxRecordSize)
		}
	}
	w.mu.Lock()
	if len(data) == 0 {
		defer w.mu.Unlock()
		return w.last, w.stickyLocked()
	}
	if err := w.stickyLocked(); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	if !w.leading {
		w.leading = true
		w.mu.Unlock()
		return w.lead(data, nil)
	}
	r := requests.Get().(*appendRequest)
	r.data = data
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	<-r.ready
	if r.lead {
		r.last, r.err = w.lead(r.data, r.batch)
	}
	last, err := r.last, r.err
	*r = appendRequest{ready: r.ready}
	requests.Put(r)
	return last, err
}

// lead commits the leader's records, own, followed by those of the queued
// requests in batch (and, after waiting maxDelay, of those queued
// meanwhile) as one driver Append, answers the requests, and hands
// leadership to the first request queued since. It returns own's last index.
func (w *wal) lead(own [][]byte, batch []*appendRequest) (uint64, error) {
	if w.maxDelay > 0 {
		time.Sleep(w.maxDelay) // let more writers join this fsync
		w.mu.Lock()
		batch = append(batch, w.queue...)
		w.queue = w.queue[:0]
		w.mu.Unlock()
	}
	last, err := w.commit(own, batch)

	for _, r := range batch {
		r.ready <- struct{}{}
	}
	return last, err
}

// commit writes own and batch's records with one driver Append, sets each
// request's answer, and, before letting the next writer in, hands
// leadership on: to the first queued request, which leads everything queued
// behind it, or to no one.
func (w *wal) commit(own [][]byte, batch []*appendRequest) (uint64, error) {
	records, size := own, 0
	if len(batch) > 0 {
		records = append([][]byte(nil), own...)
		for _, r := range batch {
			records = append(records, r.data...)
		}
	}
	for _, d := range records {
		size += len(d)
	}

	w.writeMu.Lock()
	var start time.Time
	if w.timed {
		start = time.Now()
	}
	err := w.stickyLocked() // writeMu is held
	want := w.last + uint64(len(records))
	var last uint64
	if err == nil {
		last, err = w.inner.Append(context.Background(), records...)
		if err == nil && last != want {
			err = fmt.Errorf("wal: driver returned last index %d, want %d", last, want)
		}
	}
	w.mu.Lock()
	if err == nil {
		w.last = last
	} else if w.failure == nil {
		w.failure = err
	}
	var next *appendRequest
	if len(w.queue) > 0 {
		next = w.queue[0]
		next.lead, next.batch = true, w.queue[1:]
		w.queue = nil
	} else {
		w.leading = false
	}
	w.mu.Unlock()
	w.writeMu.Unlock()
	if next != nil {
		next.ready <- struct{}{}
	}
	if err == nil && w.timed {
		d := time.Since(start)
		w.obs.Committed(len(records), size, 1+len(batch), d)
		if w.syncAlways {
			w.warnIfSlow("append", d)
		}
	}

	// Answer from the back: each request's last index is the batch's last
	// minus the records queued after it.
	for i := len(batch) - 1; i >= 0; i-- {
		r := batch[i]
		if err != nil {
			r.err = err
			continue
		}
		r.last = last
		last -= uint64(len(r.data))
	}
	if err != nil {
		return 0, err
	}
	return last, nil
}

func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	if err := w.enter(ctx); err != nil {
		return err
	}
	defer w.leave()
	first, last := w.bounds()
	if from < first || from > last+1 {
		return OutOfRange("replay from", from, first, last)
	}
	n := 0
	err := w.inner.Replay(ctx, from, func(index uint64, data []byte) error {
		n++
		return fn(index, data)
	})
	w.obs.Replayed(n)
	return err
}

func (w *wal) bounds() (first, last uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last
}

func (w *wal) Bounds(ctx context.Context) (uint64, uint64, error) {
	if err := w.enter(ctx); err != nil {
		return 0, 0, err
	}
	defer w.leave()
	first, last := w.bounds()
	return first, last, nil
}

func (w *wal) TruncateFront(ctx context.Context, before uint64) error {
	if err := w.enter(ctx); err != nil {
		return err
	}
	defer w.leave()
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if err := w.failed(); err != nil {
		return err
	}
	first, last := w.bounds()
	if before < first || before > last+1 {
		return OutOfRange("truncate before", before, first, last)
	}
	if before == first {
		return nil
	}
	if err := w.inner.TruncateFront(context.Background(), before); err != nil {
		w.fail(err)
		return err
	}
	w.mu.Lock()
	w.first = before
	w.mu.Unlock()
	return nil
}

func (w *wal) Sync(ctx context.Context) error {
	if err := w.enter(ctx); err != nil {
		return err
	}
	defer w.leave()
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if err := w.failed(); err != nil {
		return err
	}
	start := time.Now()
	if err := w.inner.Sync(context.Background()); err != nil {
		w.fail(err)
		return err
	}
	d := time.Since(start)
	w.obs.Synced(d)
	w.warnIfSlow("sync", d)
	return nil
}

func (w *wal) warnIfSlow(op string, d time.Duration) {
	if w.slowSync > 0 && d >= w.slowSync {
		w.log.Warn("wal: slow fsync", "op", op, "dir", w.dir, "duration", d, "threshold", w.slowSync)
	}
}

func (w *wal) Close() error {
	w.life.Lock()
	defer w.life.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.inner.Close()
	if lerr := w.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// Unwrap returns the driver's WAL, for tools and tests that need its type.
func (w *wal) Unwrap() WAL { return w.inner }
