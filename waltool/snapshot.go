package waltool

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// snapshot is a copy of a WAL directory, taken while holding the WAL's lock,
// that the read-only tools open in place of the original: Open may change
// files (it cuts a torn tail off), and the copy takes the change.
type snapshot struct {
	orig  string // the directory copied
	root  string // the temporary directory holding the copy
	dir   string // the copy
	files []File // the original's files, as copied
	bytes int64
}

// takeSnapshot copies cfg.Dir, holding its lock (backend.LockDir), so no
// writer changes it meanwhile.
func takeSnapshot(cfg backend.Config) (_ *snapshot, err error) {
	lock, err := backend.LockDir(cfg, false)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	root, err := os.MkdirTemp("", "nautilus-wal-")
	if err != nil {
		return nil, fmt.Errorf("waltool: copy %s: %w", cfg.Dir, err)
	}
	s := &snapshot{orig: filepath.Clean(cfg.Dir), root: root, dir: filepath.Join(root, "wal")}
	defer func() {
		if err != nil {
			s.remove()
		}
	}()
	err = filepath.WalkDir(s.orig, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.orig, path)
		to := filepath.Join(s.dir, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, vfs.DirMode)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file", path)
		}
		size, err := copyFile(path, to, rel == backend.LockFileName)
		s.files = append(s.files, File{Path: rel, Bytes: size})
		s.bytes += size
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("waltool: copy %s: %w", cfg.Dir, err)
	}
	return s, nil
}

// copyFile copies src to dst and returns its size; with sizeOnly it only
// measures src (the lock, which the copy's Open creates afresh).
func copyFile(src, dst string, sizeOnly bool) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if sizeOnly {
		info, err := in.Stat()
		if err != nil {
			return 0, err
		}
		return info.Size(), nil
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, vfs.FileMode) // the records are as private as the original
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func (s *snapshot) remove() { os.RemoveAll(s.root) }

// open opens the copy with the backend, recording torn tails it cuts off.
// What it logs would name the copy, so it logs nothing; the tools report.
func (s *snapshot) open(ctx context.Context, cfg backend.Config) (backend.WAL, *tailCuts, error) {
	cuts := &tailCuts{}
	cfg.Dir, cfg.FS, cfg.Observer = s.dir, nil, cuts
	cfg.Logger = slog.New(slog.DiscardHandler)
	w, err := backend.Open(ctx, cfg)
	return w, cuts, err
}

// original returns the path in the original directory of path in the copy.
func (s *snapshot) original(path string) string {
	rel, err := filepath.Rel(s.dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return filepath.Join(s.orig, rel)
}

// mapError returns err naming the original directory's files instead of
// the copy's. A *backend.CorruptError or *fs.PathError in it is reached by
// errors.As with the original path.
func (s *snapshot) mapError(err error) error {
	if err == nil {
		return nil
	}
	m := &mappedError{msg: strings.ReplaceAll(err.Error(), s.dir, s.orig), err: err}
	var ce *backend.CorruptError
	var pe *iofs.PathError
	switch {
	case errors.As(err, &ce):
		c := *ce
		c.File = s.original(c.File)
		m.err = &c
	case errors.As(err, &pe):
		p := *pe
		p.Path = s.original(p.Path)
		m.err = &p
	}
	return m
}

type mappedError struct {
	msg string
	err error
}

func (e *mappedError) Error() string { return e.msg }
func (e *mappedError) Unwrap() error { return e.err }

// damage puts corruption found in the copy in rep.Problem, naming the
// original files; any other error is returned.
func (s *snapshot) damage(rep Report, err error) (Report, error) {
	err = s.mapError(err)
	var ce *backend.CorruptError
	if !errors.As(err, &ce) {
		return Report{}, err
	}
	rep.Problem = &Problem{Err: ce}
	return rep, nil
}

// tornProblem describes a torn tail Open cut off the copy: the file is now
// as long as the offset of the cut, and the torn record would have been the
// next index.
func (s *snapshot) tornProblem(cut tailCut, next uint64) (*Problem, error) {
	size, err := statSize(cut.file)
	if err != nil {
		return nil, err
	}
	return &Problem{Torn: true, Bytes: cut.bytes, Err: &backend.CorruptError{
		File: s.original(cut.file), Offset: size, Index: next,
		Reason: "a torn write at the end of the log (a crash during an Append; never acknowledged)"}}, nil
}

// tailCuts records the torn tails a backend's Open cuts off.
type tailCuts struct {
	backend.NopObserver
	mu   sync.Mutex
	cuts []tailCut
}

type tailCut struct {
	file  string
	bytes int64
}

func (o *tailCuts) TailRepaired(file string, dropped int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cuts = append(o.cuts, tailCut{file: file, bytes: dropped})
}
