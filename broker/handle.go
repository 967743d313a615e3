package broker

import (
	"context"
	"fmt"
	"time"
)

// Handle runs one request in the order of docs/broker.md: validate, take
// the session lock and read the session, run the rules, compute the exposure
// update, make it durable in the WAL, assert it into working memory, write
// the store (synchronous mode) or hand it to the background writer (async),
// release the lock, answer. No data leaves unless the WAL append succeeded.
func (b *Broker) Handle(ctx context.Context, req Request) (Response, error) {
	return b.handle(ctx, req, nil)
}

// handle is Handle with answered, a channel the caller closes once the
// answer has left (the HTTP layer: after the response is flushed). nil means
// the answer leaves when handle returns.
func (b *Broker) handle(ctx context.Context, req Request, answered chan struct{}) (resp Response, err error) {
	start := time.Now()
	if err := b.enter(); err != nil {
		return Response{}, err
	}
	defer b.inflight.Done()
	defer func() { b.metrics.observeRequest(start, err) }()
	if answered == nil {
		answered = make(chan struct{})
		defer close(answered)
	}
	requestID := newRequestID()
	var s *session
	var d decided
	defer func() {
		// Before the session is released, so the trail orders a session's
		// requests as they were decided.
		resp, err = b.recordAudit(ctx, requestID, req, &d, resp, err)
		if s != nil {
			b.release(s)
		}
	}()
	if req, err = b.admit(ctx, req); err != nil {
		return Response{}, err
	}

	now := b.opts.Now()
	sessionID := req.Context.SessionID
	var mem, facts *Memory // the rules' memory; the session's facts alone
	before := newState()
	if sessionID != "" {
		if s, err = b.acquire(ctx, sessionID); err != nil {
			return Response{}, err
		}
		before = s.state.Clone()
		facts = memoryOf(sessionID, before)
		mem = facts.Clone()
		if err := b.checkSession(ctx, before, req); err != nil {
			return Response{}, err
		}
		if err := b.cfg.Limits.checkAgents(before, req.AgentID); err != nil {
			return Response{}, err
		}
	} else {
		mem = memoryOf("", before)
	}

	intentTypes := analyzeIntent(req.Intent, b.knownTypes)
	mem.mustAssert(Fact{Template: tmplAgent, Slots: Slots{
		"agent_id": req.AgentID, "clearance": req.Context.Clearance, "purpose": req.Context.Purpose,
		"compartments": sortedSet(b.cfg.Agents[req.AgentID].Compartments),
	}})
	mem.mustAssert(Fact{Template: tmplIntent, Slots: Slots{"text": req.Intent, "data_types": intentTypes}})
	for _, src := range b.cfg.Sources {
		mem.mustAssert(sourceFact(src))
	}
	r := runRules(mem, now)
	d = decided{types: intentTypes, routed: r.routed, denials: r.denials}

	after := before
	if s != nil {
		ops := b.exposureUpdate(sessionID, requestID, before, req, r.routed, intentTypes, now)
		rec := Record{V: recordVersion, RequestID: requestID, SessionID: sessionID, AgentID: req.AgentID,
			TS: timestamp(now), Ops: ops}
		seq, err := b.writeAhead(ctx, rec)
		if err != nil {
			return Response{}, err
		}
		if err := applyOps(facts, ops); err != nil {
			// Our own ops always apply; if not, let the next request
			// reload the session from the store.
			s.unload()
			b.persist(s, seq, State{}, answered, false)
			return Response{}, fmt.Errorf("broker: request %s: %w", requestID, err)
		}
		after = stateOf(facts, sessionID)
		s.state, s.known = after, true
		s.applied.Store(seq)
		failpoint("after-apply")
		if err := b.persist(s, seq, after, answered, true); err != nil {
			return Response{}, err
		}
	}

	resp = Response{
		RequestID:      requestID,
		Data:           map[string][]map[string]any{},
		SourcesQueried: r.routed,
		SourcesDenied:  r.denied,
		SourcesSkipped: r.skipped,
		Denials:        r.denials,
		RuleTrace:      r.trace,
		Exposure:       after.Clone(),
	}
	if b.tokens != nil && sessionID != "" {
		resp.SessionID, resp.SessionToken = sessionID, b.tokens.Mint(sessionID, req.AgentID)
	}
	for _, id := range r.routed {
		rows := b.sources[id].Rows
		if rows == nil {
			rows = []map[string]any{}
		}
		resp.Data[id] = rows
	}
	return resp, nil
}

// writeAhead makes rec durable in the WAL and returns its index, the
// request's sequence number. With the WAL off it hands out the next number.
func (b *Broker) writeAhead(ctx context.Context, rec Record) (uint64, error) {
	if b.wal == nil {
		return b.seq.Add(1), nil
	}
	data, err := EncodeRecord(rec)
	if err != nil {
		return 0, err
	}
	failpoint("before-wal-append")
	start := time.Now()
	idx, err := b.wal.Append(ctx, data)
	if err != nil {
		return 0, fmt.Errorf("broker: request %s: WAL append: %w", rec.RequestID, err)
	}
	b.metrics.walAppend.Observe(time.Since(start).Seconds())
	failpoint("after-wal-append")
	return idx, nil
}

// persist is step 7: in synchronous mode queue the session's state for the
// committer and wait until its transaction, shared with the requests queued
// beside it, has stored the state and the checkpoint; in async mode hand
// them to the writer. ok false means there is nothing to store for seq, only
// its place in order. The record is durable by now, so the store write
// finishes even if the client left.
func (b *Broker) persist(s *session, seq uint64, st State, answered <-chan struct{}, ok bool) error {
	if b.writer != nil {
		b.writer.enqueue(writeItem{seq: seq, session: s, state: st, ok: ok, answered: answered})
		return nil
	}
	return b.committer.commit(&commitItem{seq: seq, session: s, state: st, ok: ok})
}

// lastSeq is the highest sequence number handed out so far.
func (b *Broker) lastSeq() uint64 {
	if b.wal == nil {
		return b.seq.Load()
	}
	_, last, err := b.wal.Bounds(context.Background())
	if err != nil {
		return b.checkpoints.value()
	}
	return last
}
