package waltool

import (
	"context"
	"errors"
	"fmt"

	"github.com/nautilus-go/nautilus/backend"
)

// RepairReport says what Repair found and removed.
type RepairReport struct {
	// First and Last are the log's bounds after the repair.
	First, Last uint64
	// Torn lists the torn tails Open cut off: each Err names the file, the
	// offset of the cut and the index the torn record would have held;
	// Bytes is how much was cut. A .broken copy of each file is kept.
	Torn []Problem
	// Corrupt is corruption found and left in place, because the cut was
	// not asked for; the log will not open until it is cut or restored.
	Corrupt *backend.CorruptError
	// Salvage is what the cut at corruption removed, when it was asked for
	// and there was corruption.
	Salvage *backend.SalvageReport
}

// Repair opens the log in cfg.Dir, which cuts off a torn tail, replays it
// to find corruption Open does not check for (a key-value store checks the
// ends of its log only), and reports what was cut. With cut, corruption is
// cut out with the backend's Salvager (backend.Salvage) and the log checked
// again; without, it is reported in RepairReport.Corrupt and the records
// are left as they are (a backend whose Open refuses the log changes
// nothing; a key-value store's Open, which checks only the ends of the log,
// may rewrite its library's own files as at any Open). cut with a backend
// that has no Salvager is an error wrapping
// errors.ErrUnsupported, before anything is done. A WAL holding the
// directory makes it fail with backend.ErrLocked.
func Repair(ctx context.Context, cfg backend.Config, cut bool) (RepairReport, error) {
	if cut && !backend.HasSalvager(cfg.Backend) {
		return RepairReport{}, fmt.Errorf("waltool: backend %s cannot cut a log at corruption: %w", cfg.Backend, errors.ErrUnsupported)
	}
	var rep RepairReport
	corrupt, err := rep.open(ctx, cfg)
	if err != nil || corrupt == nil {
		return rep, err
	}
	if !cut {
		rep.Corrupt = corrupt
		return rep, nil
	}
	s, err := backend.Salvage(ctx, cfg)
	if err != nil {
		return rep, err
	}
	rep.Salvage = &s
	if corrupt, err = rep.open(ctx, cfg); err == nil && corrupt != nil {
		err = fmt.Errorf("waltool: the log is still corrupt after the cut: %w", corrupt)
	}
	return rep, err
}

// open opens the log, which cuts a torn tail off, and replays it; it
// returns the corruption Open or Replay refused with, if any.
func (rep *RepairReport) open(ctx context.Context, cfg backend.Config) (*backend.CorruptError, error) {
	cuts := &tailCuts{}
	cfg.Observer = cuts
	w, err := backend.Open(ctx, cfg)
	if err == nil {
		rep.First, rep.Last, err = w.Bounds(ctx)
		if err == nil {
			err = w.Replay(ctx, rep.First, func(uint64, []byte) error { return nil })
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	for _, c := range cuts.cuts {
		size, serr := statSize(c.file)
		if serr != nil {
			return nil, serr
		}
		rep.Torn = append(rep.Torn, Problem{Torn: true, Bytes: c.bytes, Err: &backend.CorruptError{
			File: c.file, Offset: size, Index: rep.Last + 1, Reason: "a torn write at the end of the log"}})
	}
	var ce *backend.CorruptError
	if errors.As(err, &ce) {
		return ce, nil
	}
	return nil, err
}
