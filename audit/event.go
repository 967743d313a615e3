// Package audit keeps a tamper-evident trail of a broker's decisions: an
// append-only log of events, one per request, each carrying the SHA-256 of
// the event before it and its own sequence number, so that a changed,
// removed, inserted or reordered event breaks the chain. The trail is a
// backend.WAL, so any registered backend stores it; Verify proves a trail's
// chain unbroken and Tail reads its last events. docs/broker.md describes
// the format.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Version is the event format version an Event carries in V.
const Version = 1

// Outcomes of a request.
const (
	// OutcomeOK is a request answered with data (HTTP 200).
	OutcomeOK = "ok"
	// OutcomeDenied is a request refused (HTTP 403), or answered with
	// nothing routed because every source it matched was denied.
	OutcomeDenied = "denied"
	// OutcomeError is a request that failed: malformed (400), refused while
	// shutting down (503) or failed inside the broker (500).
	OutcomeError = "error"
)

// Event is one request's entry in the trail. Its JSON encoding, with the
// fields in this order, is the canonical form that is stored and hashed.
// It never holds a secret: no API key, no session token, no data rows.
type Event struct {
	V         int      `json:"v"`
	Seq       uint64   `json:"seq"`  // 1 for the first event, then +1 each
	Prev      string   `json:"prev"` // hex SHA-256 of the previous event's bytes; "" for event 1
	RequestID string   `json:"request_id"`
	Time      string   `json:"time"` // RFC 3339, UTC, nanoseconds
	AgentID   string   `json:"agent_id"`
	SessionID string   `json:"session_id"`
	DataTypes []string `json:"data_types"` // the intent's, as the broker read it
	Routed    []string `json:"routed"`     // the sources queried
	Denied    []Denial `json:"denied"`
	Outcome   string   `json:"outcome"` // OutcomeOK, OutcomeDenied or OutcomeError
	Status    int      `json:"status"`  // the HTTP status of the answer
}

// Denial is a source a rule denied, and why.
type Denial struct {
	Source string `json:"source"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Encode returns e's canonical bytes: compact JSON, nil lists as [].
func Encode(e Event) ([]byte, error) {
	if e.DataTypes == nil {
		e.DataTypes = []string{}
	}
	if e.Routed == nil {
		e.Routed = []string{}
	}
	if e.Denied == nil {
		e.Denied = []Denial{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("audit: encode event %d (request %s): %w", e.Seq, e.RequestID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode parses an event's stored bytes, refusing unknown fields and bytes
// that are not the event's canonical form: a rewritten event would hash
// differently from what was stored, and what is stored is what counts.
func Decode(data []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("audit: decode event: %w", err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("audit: decode event: data after the event")
	}
	canon, err := Encode(e)
	if err != nil {
		return Event{}, err
	}
	if !bytes.Equal(canon, data) {
		return Event{}, fmt.Errorf("audit: decode event %d: not in canonical form", e.Seq)
	}
	return e, nil
}

// Hash returns the hex SHA-256 of an event's stored bytes, what the next
// event carries as Prev.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
