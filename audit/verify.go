package audit

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/waltool"
)

// Anchor is an event's sequence number and hash, as Trail.Head and a
// verify report give them. A trail that still holds the event, unchanged,
// has not been cut back behind it.
type Anchor struct {
	Seq  uint64
	Hash string
}

// String returns the anchor as ParseAnchor reads it: SEQ:HASH.
func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// ParseAnchor parses SEQ:HASH, a sequence number ≥ 1 and a hex SHA-256.
func ParseAnchor(s string) (Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: want SEQ:SHA256 with SEQ ≥ 1", s)
	}
	if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return Anchor{}, fmt.Errorf("audit: anchor %q: want 64 lower-case hex digits after the colon", s)
	}
	return Anchor{Seq: n, Hash: hash}, nil
}

// Report is what Verify found.
type Report struct {
	Events uint64 // the events checked and found chained
	Head   Anchor // the last event checked; zero for an empty trail
	// Torn is a torn tail: the remains of an append a crash interrupted,
	// never acknowledged, so never an answered request's event. The backend
	// cuts it off at the next Open; it is not tampering.
	Torn *waltool.Problem
	// Break is the first event that does not check out; nil when the
	// chain is unbroken.
	Break *Break
}

// Break says where and why a trail's chain is broken.
type Break struct {
	Index     uint64 // the position in the log of the first event that fails
	RequestID string // its request id, when it can be read
	Reason    string
}

func (b *Break) Error() string {
	if b.RequestID == "" {
		return fmt.Sprintf("event %d: %s", b.Index, b.Reason)
	}
	return fmt.Sprintf("event %d (request %s): %s", b.Index, b.RequestID, b.Reason)
}

// Verify checks the trail in cfg.Dir without changing it (see
// waltool.Dump): event 1 comes first, every event's sequence number is its
// position and its prev the hash of the event before it. With anchor set,
// the trail must also still hold that event, with that hash. The first
// failure is in Report.Break, damage the backend finds included; the error
// is for anything else (a locked or missing directory, an I/O error).
func Verify(ctx context.Context, cfg backend.Config, anchor *Anchor) (Report, error) {
	var (
		rep      Report
		prevReq  string
		anchored bool
	)
	brk := func(index uint64, rid, format string, args ...any) error {
		rep.Break = &Break{Index: index, RequestID: rid, Reason: fmt.Sprintf(format, args...)}
		return rep.Break
	}
	dump, err := scan(ctx, cfg, func(index uint64, data []byte) error {
		next := rep.Head.Seq + 1
		rid := requestIDOf(data)
		if index != next {
			return brk(index, rid, "the trail starts here: events %d to %d were removed from its front", next, index-1)
		}
		e, err := Decode(data)
		switch {
		case err != nil:
			return brk(index, rid, "not an event: %v", err)
		case e.Seq != index:
			return brk(index, rid, "sequence number %d in position %d: an event was removed, inserted or moved here", e.Seq, index)
		case e.Prev != rep.Head.Hash && index == 1:
			return brk(index, rid, "the first event names a previous one: events were removed from the front")
		case e.Prev != rep.Head.Hash:
			return brk(index, rid, "its prev is not the hash of event %d (request %s): that event was changed, or one was removed, inserted or moved here",
				index-1, prevReq)
		}
		rep.Events++
		rep.Head = Anchor{Seq: index, Hash: Hash(data)}
		prevReq = e.RequestID
		if anchor != nil && anchor.Seq == index {
			anchored = true
			if rep.Head.Hash != anchor.Hash {
				return brk(index, rid, "its hash is not the anchor's %s: it was changed since the anchor was taken", anchor.Hash)
			}
		}
		return nil
	})
	rep.Torn = dump.Torn
	var ce *backend.CorruptError
	switch {
	case rep.Break != nil:
		return rep, nil
	case errors.As(err, &ce):
		brk(ce.Index, "", "the backend finds it damaged: %s", ce.Reason)
		return rep, nil
	case err != nil:
		return rep, err
	}
	if anchor != nil && !anchored {
		brk(anchor.Seq, "", "missing: the anchor names it, but the trail ends at event %d: events were cut off its end", rep.Head.Seq)
	}
	return rep, nil
}

// Tail writes the last n events of the trail in cfg.Dir to out, one JSON
// line each, as stored (n 0: every event), without changing the directory.
// It does not verify the chain.
func Tail(ctx context.Context, cfg backend.Config, n int, out io.Writer) error {
	var ring [][]byte
	_, err := scan(ctx, cfg, func(index uint64, data []byte) error {
		if !json.Valid(data) {
			return fmt.Errorf("audit: index %d is not an event: not JSON", index)
		}
		if n > 0 && len(ring) == n {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, append([]byte(nil), data...))
		return nil
	})
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	for _, e := range ring {
		bw.Write(e)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// scan calls fn with every record of the log, in order, read with
// waltool.Dump (so the directory is not changed). An error from fn stops
// the scan and is returned.
func scan(ctx context.Context, cfg backend.Config, fn func(index uint64, data []byte) error) (waltool.DumpReport, error) {
	pr, pw := io.Pipe()
	type result struct {
		rep waltool.DumpReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := waltool.Dump(ctx, cfg, 0, 0, pw)
		pw.CloseWithError(err)
		done <- result{rep, err}
	}()
	err := readDump(pr, fn)
	pr.CloseWithError(errStop) // stops the dump early when fn did
	res := <-done
	if err != nil {
		return res.rep, err
	}
	return res.rep, res.err
}

var errStop = errors.New("audit: scan stopped")

// readDump decodes waltool.Dump's lines and calls fn with each record.
func readDump(r io.Reader, fn func(index uint64, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4*backend.MaxRecordSize+1024)
	for sc.Scan() {
		var line struct {
			Index  uint64          `json:"index"`
			Data   json.RawMessage `json:"data"`
			Base64 *string         `json:"base64"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("audit: read dump: %w", err)
		}
		data := []byte(line.Data)
		if line.Base64 != nil {
			var err error
			if data, err = base64.StdEncoding.DecodeString(*line.Base64); err != nil {
				return fmt.Errorf("audit: read dump: index %d: %w", line.Index, err)
			}
		}
		if err := fn(line.Index, data); err != nil {
			return err
		}
	}
	return sc.Err()
}

// requestIDOf returns the request id of what may be a damaged event.
func requestIDOf(data []byte) string {
	var e struct {
		RequestID string `json:"request_id"`
	}
	json.Unmarshal(data, &e)
	return e.RequestID
}
