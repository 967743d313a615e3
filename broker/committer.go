package broker

import (
	"context"
	"fmt"
	"slices"
)

// commitItem is one synchronous request whose WAL record is durable (or,
// with the WAL off, that has its sequence number), waiting for its store
// write. The request holds its session lock until done answers.
type commitItem struct {
	seq     uint64
	session *session
	state   State      // the session's state right after this request
	ok      bool       // false: nothing to store, the seq only keeps its place
	done    chan error // answered once, when the transaction has committed or failed
}

// committer is synchronous mode's group commit of store writes: requests
// queue their states while a transaction runs, and the next transaction
// stores all of them with one fsync. Being the only writer of states and
// checkpoint, it stores the checkpoint complete through its batch, so the
// stored checkpoint never lags behind what is stored nor covers what is not.
type committer struct {
	b    *Broker
	in   chan *commitItem
	done chan struct{} // closed when run returns
}

func newCommitter(b *Broker) *committer {
	return &committer{b: b, in: make(chan *commitItem, b.opts.WriterBatch), done: make(chan struct{})}
}

// commit queues a request's store write and waits until its transaction
// has committed; the error is the transaction's.
func (c *committer) commit(it *commitItem) error {
	it.done = make(chan error, 1)
	c.in <- it
	return <-it.done
}

// close stores what is queued and stops the committer; Handle must no
// longer call commit.
func (c *committer) close() {
	close(c.in)
	<-c.done
}

func (c *committer) run() {
	defer c.b.bg.Done()
	defer close(c.done)
	batch := make([]*commitItem, 0, c.b.opts.WriterBatch)
	for it := range c.in {
		batch = append(batch[:0], it)
	drain:
		for len(batch) < c.b.opts.WriterBatch {
			select {
			case it, ok := <-c.in:
				if !ok {
					break drain
				}
				batch = append(batch, it)
			default:
				break drain
			}
		}
		c.store(batch)
	}
}

// store writes one batch in one transaction and answers its requests.
func (c *committer) store(batch []*commitItem) {
	b := c.b
	// A session's requests are serialised by its lock, which each holds
	// until answered here, so a batch holds at most one state per session.
	states := make([]SessionState, 0, len(batch))
	seqs := make([]uint64, 0, len(batch))
	for _, it := range batch {
		seqs = append(seqs, it.seq)
		if it.ok {
			states = append(states, SessionState{SessionID: it.session.id, State: it.state})
		}
	}
	var checkpoint uint64
	if b.wal != nil {
		slices.Sort(seqs)
		checkpoint = b.checkpoints.peek(seqs)
	}
	failpoint("before-store-write")
	if err := b.store.Save(context.Background(), states, checkpoint); err != nil {
		// The records stay in the WAL and the checkpoint stays below them,
		// so the next start replays them into the store.
		b.log.Error("broker: session store write failed; the WAL keeps the requests for replay",
			"requests", len(batch), "first_seq", seqs[0], "err", err)
		err = fmt.Errorf("broker: request stored in the WAL but not in the session store: %w", err)
		for _, it := range batch {
			it.done <- err
		}
		return
	}
	failpoint("after-store-write")
	b.metrics.storeBatch.Observe(float64(len(batch)))
	for _, it := range batch {
		it.session.markStored(it.seq)
		if b.wal != nil {
			b.checkpoints.complete(it.seq)
		}
	}
	if b.wal != nil {
		b.advancePersisted(checkpoint)
	}
	for _, it := range batch {
		it.done <- nil
	}
}
