package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"github.com/nautilus-go/nautilus/backend"
)

// wal is the log on one stream. The wrapper of package backend calls Append
// and TruncateFront one at a time; Replay and Bounds may run beside them.
type wal struct {
	stream, subject string
	timeout         time.Duration
	server          *server.Server // the embedded server, or nil
	nc              *nats.Conn
	js              js.JetStream
	st              js.Stream
	writer          string // this WAL's part of every Nats-Msg-Id

	mu          sync.Mutex
	first, last uint64
}

// msgID names record index of this writer, so that the stream's duplicate
// window drops a publish retried after its first try was stored.
func (w *wal) msgID(index uint64) string {
	return w.writer + "-" + strconv.FormatUint(index, 10)
}

// Append publishes the records without waiting between them, each expecting
// the one before it as the stream's last, then waits for every ack. A record
// whose ack did not come (a leader change, a lost reply) is published again
// with the same Nats-Msg-Id until its fate is known, so it is stored once.
func (w *wal) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	w.mu.Lock()
	base := w.last
	w.mu.Unlock()
	msgs := make([]*nats.Msg, len(data))
	futures := make([]js.PubAckFuture, len(data))
	for i, d := range data {
		index := base + uint64(i) + 1
		msgs[i] = &nats.Msg{Subject: w.subject, Data: backend.AppendEnvelope(nil, index, d), Header: nats.Header{}}
		f, err := w.js.PublishMsgAsync(msgs[i], js.WithMsgID(w.msgID(index)), js.WithExpectLastSequence(index-1))
		if err != nil {
			break // the records from i on are settled one by one below
		}
		futures[i] = f
	}
	// An ack lost with a connection never comes: wait a try's time for the
	// first answers, then settle the rest by publishing again.
	wait, cancel := context.WithTimeout(ctx, tryTimeout(w.timeout))
	defer cancel()
	for i := range data {
		index := base + uint64(i) + 1
		var err error
		if futures[i] != nil {
			select {
			case ack := <-futures[i].Ok():
				if ack.Sequence == index {
					continue
				}
				err = fmt.Errorf("stored at sequence %d", ack.Sequence)
			case err = <-futures[i].Err():
			case <-wait.Done():
				err = wait.Err()
			}
		}
		if err = w.settle(ctx, msgs[i], index, err); err != nil {
			w.setLast(index - 1)
			return 0, err
		}
	}
	w.setLast(base + uint64(len(data)))
	return base + uint64(len(data)), nil
}

func (w *wal) setLast(last uint64) {
	w.mu.Lock()
	w.last = last
	w.mu.Unlock()
}

// settle makes sure record index is stored, once, at its sequence, after its
// first publish failed with cause: it publishes the record again with the
// same Nats-Msg-Id and expected last sequence until the stream answers.
// A stream whose last sequence is past index-1 holds either this record, left
// by an earlier try, or another writer's: ErrLocked.
func (w *wal) settle(ctx context.Context, msg *nats.Msg, index uint64, cause error) error {
	if cause != nil && !transient(cause) && !wrongLast(cause) {
		return fmt.Errorf("backend %s: append %d to stream %s: %w", Name, index, w.stream, cause)
	}
	err := retry(ctx, w.timeout, func(ctx context.Context) error {
		ack, err := w.js.PublishMsg(ctx, msg, js.WithMsgID(w.msgID(index)), js.WithExpectLastSequence(index-1))
		switch {
		case err == nil && ack.Sequence == index:
			return nil
		case err == nil:
			return fmt.Errorf("stream %s stored record %d at sequence %d", w.stream, index, ack.Sequence)
		case wrongLast(err):
			return w.storedByUs(ctx, index)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("backend %s: append %d to stream %s: %w", Name, index, w.stream, err)
	}
	return nil
}

// storedByUs checks that the message at sequence index is this writer's
// record index: a stream moved past index-1 by anyone else is another writer.
func (w *wal) storedByUs(ctx context.Context, index uint64) error {
	m, err := w.st.GetMsg(ctx, index)
	if errors.Is(err, js.ErrMsgNotFound) {
		return fmt.Errorf("%w: stream %s moved past sequence %d without it", backend.ErrLocked, w.stream, index-1)
	}
	if err != nil {
		return err
	}
	if m.Header.Get(nats.MsgIdHdr) != w.msgID(index) {
		return fmt.Errorf("%w: stream %s holds another writer's record at sequence %d", backend.ErrLocked, w.stream, index)
	}
	return nil
}

// wrongLast reports whether err is the stream refusing a publish whose
// expected last sequence is not its last.
func wrongLast(err error) bool {
	var apiErr *js.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == js.JSErrCodeStreamWrongLastSequence
}

// readBounds asks the stream for its bounds. An empty stream, new or
// purged, has first == last+1.
func (w *wal) readBounds(ctx context.Context) (first, last uint64, err error) {
	var info *js.StreamInfo
	err = retry(ctx, w.timeout, func(ctx context.Context) error {
		info, err = w.st.Info(ctx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("backend %s: stream %s info: %w", Name, w.stream, err)
	}
	st := info.State
	if st.Msgs == 0 {
		return st.LastSeq + 1, st.LastSeq, nil
	}
	if st.NumDeleted != 0 || st.LastSeq-st.FirstSeq+1 != st.Msgs {
		return 0, 0, &backend.CorruptError{File: "stream " + w.stream, Offset: -1, Index: st.FirstSeq,
			Reason: fmt.Sprintf("%d messages between sequences %d and %d, %d deleted: the log has gaps",
				st.Msgs, st.FirstSeq, st.LastSeq, st.NumDeleted)}
	}
	return st.FirstSeq, st.LastSeq, nil
}

func (w *wal) Bounds(ctx context.Context) (uint64, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last, nil
}

// Replay reads the records from an ordered consumer, which JetStream
// deletes when it is stopped or idle.
func (w *wal) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	w.mu.Lock()
	last := w.last
	w.mu.Unlock()
	if from > last {
		return nil
	}
	cons, err := w.st.OrderedConsumer(ctx, js.OrderedConsumerConfig{
		DeliverPolicy: js.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("backend %s: replay stream %s: %w", Name, w.stream, err)
	}
	it, err := cons.Messages(js.PullMaxMessagesWithBytesLimit(512, 16<<20))
	if err != nil {
		return fmt.Errorf("backend %s: replay stream %s: %w", Name, w.stream, err)
	}
	defer it.Stop()
	for want := from; want <= last; want++ {
		m, err := it.Next(js.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("backend %s: replay stream %s at %d: %w", Name, w.stream, want, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("backend %s: replay stream %s at %d: %w", Name, w.stream, want, err)
		}
		if seq := meta.Sequence.Stream; seq != want {
			return &backend.CorruptError{File: "stream " + w.stream, Offset: -1, Index: want,
				Reason: fmt.Sprintf("index gap: sequence %d follows %d", seq, want-1)}
		}
		payload, err := backend.DecodeEnvelope(m.Data(), want)
		if err != nil {
			return &backend.CorruptError{File: "stream " + w.stream, Offset: -1, Index: want, Reason: "bad record", Err: err}
		}
		if err := fn(want, payload); err != nil {
			return err
		}
	}
	return nil
}

// TruncateFront purges the stream below before. The purge is a stream
// operation replicated like a publish.
func (w *wal) TruncateFront(ctx context.Context, before uint64) error {
	err := retry(ctx, w.timeout, func(ctx context.Context) error {
		return w.st.Purge(ctx, js.WithPurgeSequence(before))
	})
	if err != nil {
		return fmt.Errorf("backend %s: purge stream %s below %d: %w", Name, w.stream, before, err)
	}
	w.mu.Lock()
	w.first = before
	w.mu.Unlock()
	return nil
}

// Sync has nothing to do: every Append waited for the stream's ack, and no
// client request makes a server fsync (see the package documentation).
func (w *wal) Sync(context.Context) error { return nil }

func (w *wal) Close() error {
	w.shutdown()
	return nil
}

// shutdown closes the connection and stops the embedded server, which
// flushes its store; either may be unset when Open failed halfway.
func (w *wal) shutdown() {
	if w.nc != nil {
		w.nc.Close()
	}
	if w.server != nil {
		w.server.Shutdown()
		w.server.WaitForShutdown()
	}
}
