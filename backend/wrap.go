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

	life   sync.RWMutex // read-held by every call, write-held by Close
	closed bool

	writeMu sync.Mutex // serializes driver writes

	mu          sync.Mutex // guards the fields below
	first, last uint64     // acknowledged bounds
	failure     error      // sticky write or fsync error
	queue       []*appendRequest
	leading     bool // a leader is committing
}

type appendRequest struct {
	data  [][]byte
	last  uint64
	err   error
	lead  bool          // woken to become the next leader, not answered
	ready chan struct{} // closed (or sent on) when answered or made leader
}

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

func (w *wal) stickyLocked() error {
	if w.failure == nil {
		return nil
	}
	return fmt.Errorf("wal: failed by an earlier write or sync error; close and reopen: %w", w.failure)
}

func (w *wal) fail(err error) {
	w.mu.Lock()
	if w.failure == nil {
		w.failure = err
	}
	w.mu.Unlock()
}

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
	if len(data) == 0 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.last, w.stickyLocked()
	}

	req := &appendRequest{data: data, ready: make(chan struct{}, 1)}
	w.mu.Lock()
	if err := w.stickyLocked(); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	w.queue = append(w.queue, req)
	if w.leading {
		w.mu.Unlock()
		<-req.ready
		if !req.lead {
			return req.last, req.err
		}
		w.mu.Lock()
	}
	w.leading = true
	w.mu.Unlock()
	w.lead()
	return req.last, req.err
}

// lead commits queued requests as one driver Append, answers them, and hands
// leadership to the first request that queued meanwhile. The caller's own
// request is in the first batch, so it is answered when lead returns.
func (w *wal) lead() {
	if w.maxDelay > 0 {
		time.Sleep(w.maxDelay) // let more writers join this fsync
	}
	w.mu.Lock()
	batch := w.queue
	w.queue = nil
	w.mu.Unlock()

	w.commit(batch)

	w.mu.Lock()
	var next *appendRequest
	if len(w.queue) > 0 {
		next = w.queue[0]
		next.lead = true
	} else {
		w.leading = false
	}
	w.mu.Unlock()
	for _, r := range batch[1:] {
		r.ready <- struct{}{}
	}
	if next != nil {
		next.ready <- struct{}{}
	}
}

func (w *wal) commit(batch []*appendRequest) {
	records, size := batch[0].data, 0
	if len(batch) > 1 {
		records = nil
		for _, r := range batch {
			records = append(records, r.data...)
		}
	}
	for _, d := range records {
		size += len(d)
	}

	w.writeMu.Lock()
	start := time.Now()
	err := w.failed()
	var last uint64
	if err == nil {
		w.mu.Lock()
		want := w.last + uint64(len(records))
		w.mu.Unlock()
		last, err = w.inner.Append(context.Background(), records...)
		if err == nil && last != want {
			err = fmt.Errorf("wal: driver returned last index %d, want %d", last, want)
		}
		if err != nil {
			w.fail(err)
		} else {
			w.mu.Lock()
			w.last = last
			w.mu.Unlock()
		}
	}
	w.writeMu.Unlock()
	if err == nil {
		d := time.Since(start)
		w.obs.Committed(len(records), size, len(batch), d)
		if w.syncAlways {
			w.warnIfSlow("append", d)
		}
	}

	// Answer from the back: each request's last index is the batch's last
	// minus the records queued after it.
	for i := len(batch) - 1; i >= 0; i-- {
		r := batch[i]
		r.lead = false
		if err != nil {
			r.err = err
			continue
		}
		r.last = last
		last -= uint64(len(r.data))
	}
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
