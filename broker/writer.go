package broker

import (
	"context"
	"sync"
	"time"
)

// writeItem is one answered request waiting for the async writer.
type writeItem struct {
	seq      uint64
	session  *session
	state    State // the session's state right after this request
	ok       bool  // false: nothing to store, the seq only keeps its place
	answered <-chan struct{}
}

// writer is async mode's background writer: it stores answered requests in
// batches, one transaction each, strictly in sequence order, so the
// checkpoint it writes is always the batch's last index.
type writer struct {
	b  *Broker
	in chan writeItem

	mu      sync.Mutex
	stored  uint64        // every seq <= stored is in the store
	changed chan struct{} // closed and replaced when stored advances
	flush   chan struct{} // a waiter wants the store to catch up now
	done    chan struct{} // closed when run returns
}

func newWriter(b *Broker) *writer {
	w := &writer{b: b, in: make(chan writeItem, 4*b.opts.WriterBatch), changed: make(chan struct{}), flush: make(chan struct{}, 1), done: make(chan struct{})}
	if b.wal != nil {
		w.stored = b.checkpoints.value()
	}
	return w
}

func (w *writer) enqueue(it writeItem) { w.in <- it }

// close stores what is queued and stops the writer; Handle must no longer
// enqueue.
func (w *writer) close() {
	close(w.in)
	<-w.done
}

func (w *writer) run() {
	defer w.b.bg.Done()
	defer close(w.done)
	pending := map[uint64]writeItem{}
	next := w.stored + 1
	open := true
	for open || len(pending) > 0 {
		if open {
			// Wait for input only when nothing stored-ready is pending: a
			// backlog longer than one batch must be stored without waiting
			// for the next request.
			if _, ready := pending[next]; !ready {
				it, ok := <-w.in
				if !ok {
					open = false
				} else {
					pending[it.seq] = it
				}
			}
		drain:
			for len(pending) < cap(w.in) {
				select {
				case it, ok := <-w.in:
					if !ok {
						open = false
						break drain
					}
					pending[it.seq] = it
				default:
					break drain
				}
			}
			if open && w.b.wal != nil && len(pending) < w.b.opts.WriterBatch {
				open = w.gather(pending)
			}
		}
		var batch []writeItem
		for len(batch) < w.b.opts.WriterBatch {
			it, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			batch = append(batch, it)
			next++
		}
		if len(batch) == 0 {
			if !open && len(pending) > 0 {
				// A gap that can never fill; the WAL keeps these for replay.
				w.b.log.Error("broker: async writer stopped with requests it could not order", "pending", len(pending), "next", next)
				return
			}
			continue
		}
		if !w.store(batch, !open) {
			return
		}
	}
}

// writerDelay is how long the async writer, with the WAL on, waits for a
// batch to fill before storing a partial one. The WAL already holds the
// requests durably, so the store may lag a little; one larger transaction
// costs one fsync and writes each session once, where many small ones would
// contend with the WAL's fsyncs for the disk and the CPU.
const writerDelay = 5 * time.Millisecond

// gather adds input to pending until it holds a batch, writerDelay passes,
// Flush asks for the store to catch up, or the input closes (it then
// returns false).
func (w *writer) gather(pending map[uint64]writeItem) bool {
	t := time.NewTimer(writerDelay)
	defer t.Stop()
	for len(pending) < w.b.opts.WriterBatch {
		select {
		case it, ok := <-w.in:
			if !ok {
				return false
			}
			pending[it.seq] = it
		case <-t.C:
			return true
		case <-w.flush:
			return true
		}
	}
	return true
}

// store writes one batch, retrying a failed transaction until it succeeds,
// or a few times only when closing; the WAL keeps the batch either way.
func (w *writer) store(batch []writeItem, closing bool) bool {
	latest := map[*session]State{}
	var order []*session
	for _, it := range batch {
		if !it.ok {
			continue
		}
		if _, seen := latest[it.session]; !seen {
			order = append(order, it.session)
		}
		latest[it.session] = it.state
	}
	states := make([]SessionState, 0, len(order))
	for _, s := range order {
		states = append(states, SessionState{SessionID: s.id, State: latest[s]})
	}
	last := batch[len(batch)-1].seq
	var checkpoint uint64
	if w.b.wal != nil {
		checkpoint = last
	}
	for _, it := range batch {
		failpointAfter("before-store-write", it.answered)
	}
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.b.store.Save(context.Background(), states, checkpoint)
		if err == nil {
			break
		}
		if closing && attempt >= 3 {
			w.b.log.Error("broker: async store write failed at close; the WAL keeps the requests for replay",
				"through_seq", last, "err", err)
			return false
		}
		w.b.log.Error("broker: async store write failed; retrying", "through_seq", last, "err", err)
		time.Sleep(backoff) // a retry delay, not synchronisation
		backoff = min(2*backoff, time.Second)
	}
	for _, it := range batch {
		failpointAfter("after-store-write", it.answered)
	}
	w.b.metrics.storeBatch.Observe(float64(len(batch)))
	for _, it := range batch {
		it.session.markStored(it.seq)
		if w.b.wal != nil {
			w.b.checkpoints.complete(it.seq)
		}
	}
	if w.b.wal != nil {
		w.b.advancePersisted(checkpoint)
	}
	w.mu.Lock()
	w.stored = last
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	return true
}

// wait blocks until every seq <= target is in the store.
func (w *writer) wait(ctx context.Context, target uint64) error {
	for {
		w.mu.Lock()
		stored, changed := w.stored, w.changed
		w.mu.Unlock()
		if stored >= target {
			return nil
		}
		select {
		case w.flush <- struct{}{}:
		default: // a flush is already asked for
		}
		select {
		case <-changed:
		case <-w.done:
			w.mu.Lock()
			stored = w.stored
			w.mu.Unlock()
			if stored >= target {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
