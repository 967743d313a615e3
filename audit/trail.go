package audit

import (
	"context"
	"fmt"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
)

// Trail appends events to an audit trail. Its methods are safe for
// concurrent use: concurrent appends are chained in the order they are
// taken and written in one backend Append (one fsync with SyncAlways).
type Trail struct {
	w backend.WAL

	mu      sync.Mutex
	queue   []*pending
	leading bool
	next    uint64 // the next event's sequence number
	prev    string // the hash of the last event written
	failure error  // sticky: once an append failed, the chain's end is unknown
}

type pending struct {
	ev    Event
	ready chan struct{} // signalled when done, or when this one is to lead
	lead  bool
	err   error
}

// Open opens the trail in cfg.Dir with backend.Open (created if missing)
// and reads its last event, so the chain goes on where it ended. A last
// event that does not decode, or whose sequence number is not its index,
// is an error: run Verify to find where the trail was damaged.
func Open(ctx context.Context, cfg backend.Config) (*Trail, error) {
	w, err := backend.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s (%s): %w", cfg.Dir, cfg.Backend, err)
	}
	t := &Trail{w: w, next: 1}
	if err := t.readHead(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: open %s (%s): %w", cfg.Dir, cfg.Backend, err)
	}
	return t, nil
}

// readHead sets next and prev from the last event in the log.
func (t *Trail) readHead(ctx context.Context) error {
	first, last, err := t.w.Bounds(ctx)
	if err != nil {
		return err
	}
	if last < first { // empty; the broker never truncates, so first is 1
		t.next = last + 1
		return nil
	}
	return t.w.Replay(ctx, last, func(index uint64, data []byte) error {
		e, err := Decode(data)
		if err != nil {
			return fmt.Errorf("last event (index %d): %w", index, err)
		}
		if e.Seq != index {
			return fmt.Errorf("last event (index %d) has sequence number %d", index, e.Seq)
		}
		t.next, t.prev = index+1, Hash(data)
		return nil
	})
}

// Append chains ev to the trail (setting V, Seq and Prev), writes it, and
// returns it as written. With SyncAlways it is durable when Append returns;
// with SyncNone it is in the operating system's hands (it survives the
// process, not a power loss). Once an append has failed every later one
// fails too: the event may or may not be in the log, so the chain's end is
// not known until the trail is opened again.
func (t *Trail) Append(ctx context.Context, ev Event) (Event, error) {
	p := &pending{ev: ev, ready: make(chan struct{}, 1)}
	t.mu.Lock()
	if t.failure != nil {
		err := t.failure
		t.mu.Unlock()
		return Event{}, err
	}
	t.queue = append(t.queue, p)
	if t.leading {
		t.mu.Unlock()
		<-p.ready
		if !p.lead {
			return p.ev, p.err
		}
		t.mu.Lock()
	}
	t.leading = true
	t.mu.Unlock()
	t.lead(ctx)
	return p.ev, p.err
}

// lead chains and writes the queued events as one batch, answers them and
// hands leadership to the first event queued meanwhile. Only the leader
// touches next and prev, so they need no lock while it writes.
func (t *Trail) lead(ctx context.Context) {
	t.mu.Lock()
	batch := t.queue
	t.queue = nil
	next, prev, failure := t.next, t.prev, t.failure
	t.mu.Unlock()

	var err error = failure
	if err == nil {
		data := make([][]byte, len(batch))
		for i, p := range batch {
			p.ev.V, p.ev.Seq, p.ev.Prev = Version, next+uint64(i), prev
			if data[i], err = Encode(p.ev); err != nil {
				break
			}
			prev = Hash(data[i])
		}
		if err == nil {
			err = t.write(ctx, data, next)
		}
	}

	t.mu.Lock()
	if err == nil {
		t.next, t.prev = next+uint64(len(batch)), prev
	} else if t.failure == nil {
		t.failure = err
	}
	var successor *pending
	if len(t.queue) > 0 {
		successor = t.queue[0]
		successor.lead = true
	} else {
		t.leading = false
	}
	t.mu.Unlock()
	for _, p := range batch {
		p.err = err
		if err != nil {
			p.ev = Event{}
		}
	}
	for _, p := range batch[1:] {
		p.ready <- struct{}{}
	}
	if successor != nil {
		successor.ready <- struct{}{}
	}
}

// write appends a batch whose first event is number first. It is not
// cancelled with the request that leads it: the batch holds other
// requests' events, and an append cut short leaves the chain's end unknown.
func (t *Trail) write(ctx context.Context, data [][]byte, first uint64) error {
	last, err := t.w.Append(context.WithoutCancel(ctx), data...)
	if err != nil {
		return fmt.Errorf("audit: append events %d to %d: %w", first, first+uint64(len(data))-1, err)
	}
	if want := first + uint64(len(data)) - 1; last != want {
		return fmt.Errorf("audit: append events %d to %d: the log put the last at index %d", first, want, last)
	}
	return nil
}

// Head returns the last event's sequence number and hash: what an operator
// records to check later, with Verify's anchor, that the trail was not cut
// back. 0 and "" for an empty trail.
func (t *Trail) Head() (seq uint64, hash string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next - 1, t.prev
}

// Close makes every event durable and closes the log. It is idempotent.
func (t *Trail) Close() error { return t.w.Close() }
