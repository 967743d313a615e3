package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// recordVersion is the "v" of the WAL records this broker writes and reads.
const recordVersion = 1

// Fact operations in a WAL record.
const (
	OpAssert  = "assert"
	OpRetract = "retract"
	OpModify  = "modify"
)

// Op is one fact operation: assert a fact, retract the facts matching Match,
// or modify the facts matching Match by overwriting Slots.
type Op struct {
	Op       string `json:"op"`
	Template string `json:"template"`
	Slots    Slots  `json:"slots,omitempty"`
	Match    Slots  `json:"match,omitempty"`
}

// Record is the WAL record of one request: everything replay needs to redo
// the request's exposure update, and nothing else.
type Record struct {
	V         int    `json:"v"`
	RequestID string `json:"request_id"`
	SessionID string `json:"session_id"`
	AgentID   string `json:"agent_id"`
	TS        string `json:"ts"`
	Ops       []Op   `json:"ops"`
}

// EncodeRecord returns the JSON of r.
func EncodeRecord(r Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("broker: encode record of request %s: %w", r.RequestID, err)
	}
	return b, nil
}

// DecodeRecord parses and checks a WAL record. An error means the record is
// not one this broker wrote: the caller treats it as corruption.
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("broker: record is not valid JSON: %w", err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("broker: record has data after its JSON object")
	}
	if r.V != recordVersion {
		return Record{}, fmt.Errorf("broker: record version %d, want %d", r.V, recordVersion)
	}
	if r.SessionID == "" {
		return Record{}, fmt.Errorf("broker: record of request %q has no session_id", r.RequestID)
	}
	for i, op := range r.Ops {
		if op.Template == "" {
			return Record{}, fmt.Errorf("broker: record op %d has no template", i)
		}
		switch op.Op {
		case OpAssert, OpRetract, OpModify:
		default:
			return Record{}, fmt.Errorf("broker: record op %d: unknown op %q", i, op.Op)
		}
		for _, s := range []Slots{op.Slots, op.Match} {
			if _, err := normalizeSlots(s); err != nil {
				return Record{}, fmt.Errorf("broker: record op %d (%s %s): %w", i, op.Op, op.Template, err)
			}
		}
	}
	return r, nil
}

// applyOps performs ops on m in order. Asserts are set-adds and a modify of
// the session fact merges (mergeSession), so applying records in any order,
// any number of times, leaves m as applying each once in order: several
// brokers' WALs converge whatever order they are replayed in. Other modifies
// overwrite slots.
func applyOps(m *Memory, ops []Op) error {
	for i, op := range ops {
		var err error
		switch op.Op {
		case OpAssert:
			_, err = m.Assert(Fact{Template: op.Template, Slots: op.Slots})
		case OpRetract:
			_, err = m.Retract(op.Template, op.Match)
		case OpModify:
			err = modify(m, op)
		default:
			err = fmt.Errorf("unknown op %q", op.Op)
		}
		if err != nil {
			return fmt.Errorf("broker: op %d (%s %s): %w", i, op.Op, op.Template, err)
		}
	}
	return nil
}

// applyRecord returns the state of r's session after applying r to s.
func applyRecord(s State, r Record) (State, error) {
	m := memoryOf(r.SessionID, s)
	if err := applyOps(m, r.Ops); err != nil {
		return State{}, fmt.Errorf("broker: apply request %s: %w", r.RequestID, err)
	}
	return stateOf(m, r.SessionID), nil
}

// modify applies a modify op; the session fact's slots are merged with what
// memory already holds rather than overwritten.
func modify(m *Memory, op Op) error {
	if op.Template != tmplSession {
		_, err := m.Modify(op.Template, op.Match, op.Slots)
		return err
	}
	cur := Slots{}
	if facts := m.Query(op.Template, op.Match); len(facts) > 0 {
		cur = facts[0].Slots
	}
	_, err := m.Modify(op.Template, op.Match, mergeSession(cur, op.Slots))
	return err
}

// mergeSession returns the session slots to write when upd meets cur. Each
// slot merges by a rule that does not depend on order, so the merge is
// commutative, associative and idempotent:
//   - cumulative_classification: the higher level;
//   - purpose_start_ts with its purpose_ttl_seconds: the earliest clock
//     started (the shorter TTL on a tie), since a purpose never restarts;
//   - owner: the smallest non-empty one (only the first request sets it, so
//     two owners can only meet when serialisation failed);
//   - last_request_id, last_sources_queried, last_request_ts: those of the
//     later request (by time, then request id); a record without a time
//     (written before last_request_ts existed) is taken as the latest;
//   - pii_sources_accessed: the larger; the state derives it from its list.
func mergeSession(cur, upd Slots) Slots {
	out := Slots{}
	for k, v := range upd {
		out[k] = v
	}
	if _, ok := upd["cumulative_classification"]; ok {
		if c := slotStr(cur, "cumulative_classification"); rank(c) > rank(slotStr(upd, "cumulative_classification")) {
			out["cumulative_classification"] = c
		}
	}
	if n, ok := cur["pii_sources_accessed"].(float64); ok {
		if u, ok := upd["pii_sources_accessed"].(float64); ok && n > u {
			out["pii_sources_accessed"] = n
		}
	}
	if _, ok := upd["purpose_start_ts"]; ok && earlierPurpose(cur, upd) {
		out["purpose_start_ts"], out["purpose_ttl_seconds"] = cur["purpose_start_ts"], cur["purpose_ttl_seconds"]
	}
	if o := slotStr(cur, "owner"); o != "" {
		if u := slotStr(upd, "owner"); u == "" || o < u {
			out["owner"] = o
		}
	}
	if _, ok := upd["last_request_id"]; ok && laterRequest(cur, upd) {
		for _, k := range []string{"last_request_id", "last_sources_queried", "last_request_ts"} {
			if v, ok := cur[k]; ok {
				out[k] = v
			} else {
				delete(out, k)
			}
		}
	}
	return out
}

// earlierPurpose reports whether cur's purpose clock started before upd's
// (or at the same time with a shorter TTL), so cur's is kept.
func earlierPurpose(cur, upd Slots) bool {
	c, _ := cur["purpose_start_ts"].(float64)
	u, _ := upd["purpose_start_ts"].(float64)
	if c <= 0 {
		return false
	}
	if u <= 0 || c < u {
		return true
	}
	if c > u {
		return false
	}
	ct, _ := cur["purpose_ttl_seconds"].(float64)
	ut, _ := upd["purpose_ttl_seconds"].(float64)
	return ct < ut
}

// laterRequest reports whether cur's last request was decided after upd's,
// so cur's last_* slots are kept.
func laterRequest(cur, upd Slots) bool {
	ut, err := time.Parse(time.RFC3339Nano, slotStr(upd, "last_request_ts"))
	if err != nil {
		return false // an old record: it was the latest when written
	}
	ct, err := time.Parse(time.RFC3339Nano, slotStr(cur, "last_request_ts"))
	if err != nil {
		return false
	}
	if !ct.Equal(ut) {
		return ct.After(ut)
	}
	return slotStr(cur, "last_request_id") > slotStr(upd, "last_request_id")
}

func slotStr(s Slots, key string) string {
	v, _ := s[key].(string)
	return v
}

// mergeStates returns the state holding both a and b, by the same rules
// that apply records: the union of every set and mergeSession's slots.
func mergeStates(sessionID string, a, b State) State {
	m := memoryOf(sessionID, a)
	other := memoryOf(sessionID, b)
	for _, tmpl := range []string{tmplExposure, tmplFlag} {
		for _, f := range other.Query(tmpl, nil) {
			m.mustAssert(f)
		}
	}
	match := Slots{"session_id": sessionID}
	for _, f := range other.Query(tmplSession, match) {
		slots := merge(f.Slots, nil)
		delete(slots, "session_id")
		if b.LastRequestTS == "" {
			// b has seen no request of its own: nothing of its is "last".
			for _, k := range []string{"last_request_id", "last_request_ts", "last_sources_queried"} {
				delete(slots, k)
			}
		}
		if err := modify(m, Op{Op: OpModify, Template: tmplSession, Match: match, Slots: slots}); err != nil {
			panic(err) // slots of a fact memory already holds always apply
		}
	}
	return stateOf(m, sessionID)
}
