package waltool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/nautilus-go/nautilus/backend"
)

// DumpReport says what Dump wrote.
type DumpReport struct {
	First, Last uint64 // the log's bounds
	Records     uint64 // the records written
	// Torn is the torn tail the log ends in, if any: its records are not
	// dumped, being remains of a write that was never acknowledged.
	Torn *Problem
}

// errStop ends a Replay at the end of the range asked for.
var errStop = errors.New("waltool: end of range")

// Dump writes the records from index from to index to of the log in
// cfg.Dir to out as JSON lines (see the package documentation), without
// changing the directory. from 0 means the first record, to 0 the last; a
// to beyond the last stops at the last. A from outside [first, last+1] is an
// error wrapping backend.ErrOutOfRange. Damage stops the dump with an error
// satisfying errors.Is(err, backend.ErrCorrupt); what was written before it
// is sound.
func Dump(ctx context.Context, cfg backend.Config, from, to uint64, out io.Writer) (DumpReport, error) {
	if to != 0 && from > to {
		return DumpReport{}, fmt.Errorf("waltool: dump from %d to %d: from is after to", from, to)
	}
	snap, err := takeSnapshot(cfg)
	if err != nil {
		return DumpReport{}, err
	}
	defer snap.remove()
	w, tails, err := snap.open(ctx, cfg)
	if err != nil {
		return DumpReport{}, snap.mapError(err)
	}
	defer w.Close()
	var rep DumpReport
	if rep.First, rep.Last, err = w.Bounds(ctx); err != nil {
		return rep, snap.mapError(err)
	}
	if len(tails.cuts) > 0 {
		if rep.Torn, err = snap.tornProblem(tails.cuts[0], rep.Last+1); err != nil {
			return rep, err
		}
	}
	if from == 0 {
		from = rep.First
	}
	if to == 0 || to > rep.Last {
		to = rep.Last
	}
	bw := bufio.NewWriter(out)
	var line []byte
	err = w.Replay(ctx, from, func(index uint64, data []byte) error {
		if index > to {
			return errStop
		}
		line = AppendRecord(line[:0], index, data)
		rep.Records++
		_, err := bw.Write(line)
		return err
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return rep, snap.mapError(err)
}

// AppendRecord appends the dump line of a record, newline included, to dst:
// {"index":N,"data":<the record>} when the record is JSON that fits on the
// line as it is, else {"index":N,"base64":"..."}.
func AppendRecord(dst []byte, index uint64, data []byte) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendUint(dst, index, 10)
	if embeddable(data) {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	} else {
		dst = append(dst, `,"base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, data)
		dst = append(dst, '"')
	}
	return append(dst, '}', '\n')
}

// embeddable reports whether data can stand as a JSON value on one line,
// byte for byte: valid JSON, valid UTF-8 (which jq requires), and no line
// break (JSON allows them only as whitespace).
func embeddable(data []byte) bool {
	return json.Valid(data) && utf8.Valid(data) && !bytes.ContainsAny(data, "\r\n")
}
