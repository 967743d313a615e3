package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// Payload returns the bytes of record i: 1 to 300 bytes that depend on i, so
// a record moved to another index or another record's bytes are noticed.
func Payload(i uint64) []byte {
	n := 1 + int(i*7919%300)
	b := make([]byte, n)
	for k := range b {
		b[k] = byte(i*31 + uint64(k)*17 + i>>8)
	}
	return b
}

// Fill appends the records from index first to last in batches of up to 7
// and requires each Append to report the right last index.
func Fill(t testing.TB, w backend.WAL, first, last uint64) {
	t.Helper()
	ctx := context.Background()
	for i := first; i <= last; {
		var batch [][]byte
		for len(batch) < int(i%7)+1 && i+uint64(len(batch)) <= last {
			batch = append(batch, Payload(i+uint64(len(batch))))
		}
		got, err := w.Append(ctx, batch...)
		if err != nil {
			t.Fatalf("append %d..%d: %v", i, i+uint64(len(batch))-1, err)
		}
		i += uint64(len(batch))
		if got != i-1 {
			t.Fatalf("append returned last %d, want %d", got, i-1)
		}
	}
}

// Check requires the WAL to hold exactly the records first..last, each with
// its Payload.
func Check(t testing.TB, w backend.WAL, first, last uint64) {
	t.Helper()
	if err := Compare(w, first, last); err != nil {
		t.Fatal(err)
	}
}

// Compare returns an error unless the WAL holds exactly the records
// first..last, each with its Payload. A Replay error is returned as it is.
func Compare(w backend.WAL, first, last uint64) error {
	ctx := context.Background()
	f, l, err := w.Bounds(ctx)
	if err != nil {
		return err
	}
	if f != first || l != last {
		return fmt.Errorf("bounds [%d, %d], want [%d, %d]", f, l, first, last)
	}
	next := first
	err = w.Replay(ctx, first, func(i uint64, data []byte) error {
		if i != next {
			return fmt.Errorf("replay gave index %d, want %d", i, next)
		}
		if !bytes.Equal(data, Payload(i)) {
			return fmt.Errorf("record %d holds different bytes", i)
		}
		next++
		return nil
	})
	if err != nil {
		return err
	}
	if next != last+1 {
		return fmt.Errorf("replay stopped after %d, want %d", next-1, last)
	}
	return nil
}

// Flip is one bit to flip in a file of a WAL directory.
type Flip struct {
	File   string // relative to the directory
	Offset int64
	Bit    uint
}

func (f Flip) String() string { return fmt.Sprintf("%s offset %d bit %d", f.File, f.Offset, f.Bit) }

// Flips picks about n positions over the non-empty files under dir (the lock
// file aside), from seed: every file gets at least min(16, its bits), the rest
// go to files in proportion to their size.
func Flips(t testing.TB, dir string, n int, seed uint64) []Flip {
	t.Helper()
	return pick(t, dir, n, seed, func(data []byte) []int64 { return nil })
}

// WrittenFlips is Flips over the non-zero bytes only. In a file that grows in
// zero-filled steps, as bbolt's does, most bytes were never written, and
// flipping them tests little.
func WrittenFlips(t testing.TB, dir string, n int, seed uint64) []Flip {
	t.Helper()
	return pick(t, dir, n, seed, func(data []byte) []int64 {
		var offs []int64
		for i, b := range data {
			if b != 0 {
				offs = append(offs, int64(i))
			}
		}
		return offs
	})
}

// pick draws flips; offsets returns the candidate offsets of a file's data,
// or nil for every offset.
func pick(t testing.TB, dir string, n int, seed uint64, offsets func(data []byte) []int64) []Flip {
	t.Helper()
	type file struct {
		size int64
		offs []int64
	}
	files := map[string]file{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == backend.LockFileName {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f := file{size: int64(len(data)), offs: offsets(data)}
		if f.offs != nil {
			f.size = int64(len(f.offs))
		}
		if f.size > 0 {
			rel, _ := filepath.Rel(dir, path)
			files[rel] = f
			total += f.size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var flips []Flip
	for _, name := range names {
		f := files[name]
		k := max(int64(n)*f.size/total, min(16, f.size*8))
		for range k {
			off := rng.Int64N(f.size)
			if f.offs != nil {
				off = f.offs[off]
			}
			flips = append(flips, Flip{File: name, Offset: off, Bit: uint(rng.IntN(8))})
		}
	}
	return flips
}

// SweepLog builds the log the bit-flip sweeps damage in dir: records 1..300,
// truncated before 21 and reopened, then 301..400, so the files hold a
// truncation, a reopen and both bounds. Sweep it with first 21, last 400.
func SweepLog(t testing.TB, dir string, open func(ctx context.Context, dir string) (backend.WAL, error)) {
	t.Helper()
	ctx := context.Background()
	w, err := open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	Fill(t, w, 1, 300)
	if err := w.TruncateFront(ctx, 21); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w, err = open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	Fill(t, w, 301, 400)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Outcome is what one flip led to.
type Outcome int

const (
	Identical     Outcome = iota // the WAL opened and replayed every record intact
	CorruptOpen                  // Open reported ErrCorrupt
	CorruptReplay                // Replay reported ErrCorrupt
)

// Sweep damages a copy of the pristine directory with each flip in turn,
// opens it with open, and requires ErrCorrupt from Open or Replay, or the
// records first..last intact: never other records, another error, or a
// panic. It returns how many flips had each outcome.
func Sweep(t *testing.T, pristine string, flips []Flip, first, last uint64,
	open func(ctx context.Context, dir string) (backend.WAL, error)) map[Outcome]int {
	t.Helper()
	counts := map[Outcome]int{}
	work := filepath.Join(t.TempDir(), "wal")
	for _, f := range flips {
		if err := os.RemoveAll(work); err != nil {
			t.Fatal(err)
		}
		CopyDir(t, pristine, work)
		flipBit(t, filepath.Join(work, f.File), f.Offset, f.Bit)
		outcome, err := tryFlip(work, first, last, open)
		if err != nil {
			t.Errorf("flip %s: %v", f, err)
			continue
		}
		counts[outcome]++
	}
	return counts
}

func tryFlip(dir string, first, last uint64,
	open func(ctx context.Context, dir string) (backend.WAL, error)) (outcome Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	w, err := open(context.Background(), dir)
	if err != nil {
		if errors.Is(err, backend.ErrCorrupt) {
			return CorruptOpen, nil
		}
		return 0, fmt.Errorf("open failed without ErrCorrupt: %w", err)
	}
	err = Compare(w, first, last)
	if cerr := w.Close(); err == nil && cerr != nil {
		return 0, fmt.Errorf("close: %w", cerr)
	}
	switch {
	case err == nil:
		return Identical, nil
	case errors.Is(err, backend.ErrCorrupt):
		return CorruptReplay, nil
	}
	return 0, err
}

func flipBit(t *testing.T, path string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// CopyDir copies the tree src to dst, which must not exist. Zero-filled
// 4 KiB blocks are left as holes, so a mostly empty preallocated file costs
// little to copy.
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return writeSparse(target, data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeSparse(name string, data []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	const block = 4096
	var zero [block]byte
	for off := 0; off < len(data) && err == nil; off += block {
		b := data[off:min(off+block, len(data))]
		if !bytes.Equal(b, zero[:len(b)]) {
			_, err = f.WriteAt(b, int64(off))
		}
	}
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
