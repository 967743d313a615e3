package waltool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend"
)

// Report is what Verify or Stats found in a WAL directory.
type Report struct {
	// First and Last are the log's bounds (Last < First when it is empty);
	// with a torn tail, the bounds after Open would cut it off. Zero when
	// Problem is corruption.
	First, Last uint64
	// Files lists every file under the directory, by path relative to it,
	// and Bytes is their total size.
	Files []File
	Bytes int64
	// Problem is the first problem found, nil when the log is sound.
	Problem *Problem
}

// Records returns how many records the log holds.
func (r Report) Records() uint64 {
	if r.Last < r.First {
		return 0
	}
	return r.Last - r.First + 1
}

// File is one file of a WAL directory.
type File struct {
	Path  string // relative to the directory
	Bytes int64
	// First and Last are the records of the log it holds, when the backend
	// says (an Inspector does); both 0 otherwise.
	First, Last uint64
}

// Problem is damage found in a log.
type Problem struct {
	// Err says where and why: File (in the original directory), Offset (-1
	// in a key-value store), Index, Key and Reason.
	Err *backend.CorruptError
	// Torn is true for a torn tail, the remains of a write a crash
	// interrupted, which Open (or Repair) cuts off: Offset is where, Bytes
	// how much. Anything else is corruption, which Open refuses.
	Torn  bool
	Bytes int64
}

// Verify checks every record of the log in cfg.Dir without changing
// anything and reports its bounds, its files and the first problem.
// Damage is reported in Report.Problem; the error is for anything else (a
// locked or missing directory, a file the backend did not write, an I/O
// error).
func Verify(ctx context.Context, cfg backend.Config) (Report, error) {
	if backend.HasInspector(cfg.Backend) {
		return inspect(ctx, cfg)
	}
	return check(ctx, cfg, true)
}

// Stats reports the log's bounds and files, and the problems Open finds,
// without changing anything. Unlike Verify it does not replay every record
// unless the backend's Inspector does; a key-value store checks only the
// ends of its log at Open.
func Stats(ctx context.Context, cfg backend.Config) (Report, error) {
	if backend.HasInspector(cfg.Backend) {
		return inspect(ctx, cfg)
	}
	return check(ctx, cfg, false)
}

// inspect checks the log in place with its backend's Inspector.
func inspect(ctx context.Context, cfg backend.Config) (Report, error) {
	in, err := backend.Inspect(ctx, cfg)
	var ce *backend.CorruptError
	if errors.As(err, &ce) {
		rep, err := listFiles(cfg.Dir)
		rep.Problem = &Problem{Err: ce}
		return rep, err
	}
	if err != nil {
		return Report{}, err
	}
	rep, err := listFiles(cfg.Dir)
	if err != nil {
		return Report{}, err
	}
	rep.First, rep.Last = in.First, in.Last
	for _, span := range in.Files {
		rel, err := filepath.Rel(cfg.Dir, span.Path)
		if err != nil {
			return Report{}, fmt.Errorf("waltool: %s is outside %s: %w", span.Path, cfg.Dir, err)
		}
		for i := range rep.Files {
			if rep.Files[i].Path == rel {
				rep.Files[i].First, rep.Files[i].Last = span.First, span.Last
			}
		}
	}
	if in.Torn != nil {
		rep.Problem = &Problem{Err: in.Torn, Torn: true, Bytes: in.TornBytes}
	}
	return rep, nil
}

// check checks a copy of the log: Open, and with replay a Replay of every
// record.
func check(ctx context.Context, cfg backend.Config, replay bool) (Report, error) {
	snap, err := takeSnapshot(cfg)
	if err != nil {
		return Report{}, err
	}
	defer snap.remove()
	rep := Report{Files: snap.files, Bytes: snap.bytes}
	w, tails, err := snap.open(ctx, cfg)
	if err != nil {
		return snap.damage(rep, err)
	}
	defer w.Close()
	if rep.First, rep.Last, err = w.Bounds(ctx); err != nil {
		return Report{}, snap.mapError(err)
	}
	if replay {
		if err := w.Replay(ctx, rep.First, func(uint64, []byte) error { return nil }); err != nil {
			return snap.damage(Report{Files: rep.Files, Bytes: rep.Bytes}, err)
		}
	}
	if err := w.Close(); err != nil {
		return Report{}, snap.mapError(err)
	}
	if len(tails.cuts) > 0 {
		rep.Problem, err = snap.tornProblem(tails.cuts[0], rep.Last+1)
	}
	return rep, err
}

// listFiles lists every file under dir.
func listFiles(dir string) (Report, error) {
	var rep Report
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rep.Files = append(rep.Files, File{Path: rel, Bytes: info.Size()})
		rep.Bytes += info.Size()
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("waltool: list %s: %w", dir, err)
	}
	return rep, nil
}

// statSize returns the size of the file at path.
func statSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("waltool: %w", err)
	}
	return info.Size(), nil
}
