package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// applyOps performs ops on m in order. Asserts are set-adds and modifies
// overwrite slots, so applying the same ops twice leaves m as once.
func applyOps(m *Memory, ops []Op) error {
	for i, op := range ops {
		var err error
		switch op.Op {
		case OpAssert:
			_, err = m.Assert(Fact{Template: op.Template, Slots: op.Slots})
		case OpRetract:
			_, err = m.Retract(op.Template, op.Match)
		case OpModify:
			_, err = m.Modify(op.Template, op.Match, op.Slots)
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
