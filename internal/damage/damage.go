// Package damage writes WAL directories for the built-in backends in the
// states the operator tools must handle: healthy, ending in a torn write as a
// crash leaves it, and holding a corrupt record; and checks what a log holds
// afterwards. The tests of the tools and of each backend's salvage use it;
// nothing else does.
//
// Every log holds records 1 to n with Payload(i), in several files where the
// backend has files, the last record appended alone, so a torn last write
// loses exactly record n.
package damage

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/all" // every backend a test names
	"github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/backend/tidwall"
)

// Backends returns the registered backends that keep a log in files this
// package can damage: every one but memory, which keeps none, and
// jetstream, whose files are the NATS server's own.
func Backends() []string {
	var names []string
	for _, name := range backend.Drivers() {
		if name != "memory" && name != "jetstream" {
			names = append(names, name)
		}
	}
	return names
}

// Payload returns the bytes of record i: a JSON object for most indexes and,
// for every third, bytes that are not JSON (a newline and a zero among them).
func Payload(i uint64) []byte {
	if i%3 == 0 {
		return []byte{0, byte(i), '\n', 0xff, byte(i >> 8), '{'}
	}
	return fmt.Appendf(nil, `{"op":"assert","session":"s%d","seq":%d}`, i%5, i)
}

// Params returns the params Healthy opens backend with: small files, so the
// log spans several, and jsonl segments not preallocated, so a file's bytes
// are its records and damage lands where the offsets say.
func Params(name string) map[string]string {
	switch name {
	case "jsonl":
		return map[string]string{jsonl.ParamSegmentBytes: "512", jsonl.ParamPreallocate: "false"}
	case "tidwall":
		return map[string]string{tidwall.ParamSegmentSize: "512"}
	}
	return nil
}

// Config returns the config the tests open backend in dir with, without
// Params: the tools open a log with none.
func Config(name, dir string) backend.Config {
	return backend.Config{Backend: name, Dir: dir, Logger: Quiet}
}

// Healthy writes records 1 to n into a new log in dir and closes it.
func Healthy(t testing.TB, name, dir string, n uint64) {
	t.Helper()
	w := open(t, name, dir)
	fill(t, w, n)
	if err := w.Close(); err != nil {
		t.Fatalf("close %s log: %v", name, err)
	}
}

func open(t testing.TB, name, dir string) backend.WAL {
	t.Helper()
	cfg := Config(name, dir)
	cfg.Params = Params(name)
	w, err := backend.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s log in %s: %v", name, dir, err)
	}
	return w
}

// fill appends records 1 to n: all but the last in batches of 1 to 4, then
// the last alone.
func fill(t testing.TB, w backend.WAL, n uint64) {
	t.Helper()
	ctx := context.Background()
	for i := uint64(1); i < n; {
		var batch [][]byte
		for k := uint64(0); k <= i%4 && i+k < n; k++ {
			batch = append(batch, Payload(i+k))
		}
		if _, err := w.Append(ctx, batch...); err != nil {
			t.Fatalf("append from %d: %v", i, err)
		}
		i += uint64(len(batch))
	}
	if last, err := w.Append(ctx, Payload(n)); err != nil || last != n {
		t.Fatalf("append %d: last %d, %v", n, last, err)
	}
}

// RequireLog opens the log in dir and fails t unless it holds exactly the
// records first to last, each with its Payload, and the next Append gets
// last+1 (which it appends).
func RequireLog(t testing.TB, name, dir string, first, last uint64) {
	t.Helper()
	ctx := context.Background()
	w, err := backend.Open(ctx, Config(name, dir))
	if err != nil {
		t.Fatalf("open %s log in %s: %v", name, dir, err)
	}
	defer w.Close()
	if f, l, err := w.Bounds(ctx); err != nil || f != first || l != last {
		t.Fatalf("bounds [%d, %d] (%v), want [%d, %d]", f, l, err, first, last)
	}
	next := first
	err = w.Replay(ctx, first, func(i uint64, data []byte) error {
		if i != next || !bytes.Equal(data, Payload(i)) {
			return fmt.Errorf("record %d, want %d with its payload", i, next)
		}
		next++
		return nil
	})
	if err != nil || next != last+1 {
		t.Fatalf("replay stopped before %d: %v", next, err)
	}
	if got, err := w.Append(ctx, []byte("after")); err != nil || got != last+1 {
		t.Fatalf("append after the log: index %d (%v), want %d", got, err, last+1)
	}
}

// Tear describes a torn last write.
type Tear struct {
	// Visible is true when the backend finds the torn write and reports it
	// (Observer.TailRepaired); a key-value store's library drops it itself.
	Visible bool
	File    string // the file holding the torn record, when Visible
	Offset  int64  // where the record starts, when Visible
	Bytes   int64  // the bytes of it left, which a repair cuts off
}

// Torn writes records 1 to n into dir as a crash in the middle of writing
// record n leaves them, so the log holds 1 to n-1.
func Torn(t testing.TB, name, dir string, n uint64) Tear {
	t.Helper()
	switch name {
	case "jsonl", "tidwall":
		Healthy(t, name, dir, n)
		file := lastFile(t, name, dir)
		start := recordOffsets(t, name, file)[n-firstIndexOf(t, name, file)]
		size := fileSize(t, file)
		half := start + (size-start)/2
		truncate(t, file, half)
		return Tear{Visible: true, File: file, Offset: start, Bytes: half - start}
	case "pebble":
		crashImage(t, name, dir, n, func(image string) {
			log := newest(t, filepath.Join(image, "pebble"), ".log")
			truncate(t, log, fileSize(t, log)-5)
		})
	case "bbolt":
		crashImage(t, name, dir, n, func(image string) { loseLastCommit(t, filepath.Join(image, "wal.db")) })
	default:
		t.Fatalf("damage: no torn write for backend %s", name)
	}
	return Tear{}
}

// crashImage writes records 1 to n into dir, copies the directory while the
// log is still open (as kill -9 leaves it: every Append was synced, no clean
// close), closes the log, puts the copy in its place and lets tear damage it.
func crashImage(t testing.TB, name, dir string, n uint64, tear func(image string)) {
	t.Helper()
	w := open(t, name, dir)
	fill(t, w, n)
	image := filepath.Join(t.TempDir(), "image")
	CopyDir(t, dir, image)
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	tear(image)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	CopyDir(t, image, dir)
}

// Corruption describes a damaged record.
type Corruption struct {
	Index uint64 // the first damaged record
	File  string // the file holding it
}

// CorruptIndex is the record Corrupt damages: early in the first file, with
// valid records after it.
const CorruptIndex = 3

// Corrupt writes records 1 to n into dir and damages record CorruptIndex as
// rot on disk would (a flipped byte), or, for pebble, whose own block
// checksums catch a flipped byte, by storing a damaged copy of the record
// through the library, as a bug in it might.
func Corrupt(t testing.TB, name, dir string, n uint64) Corruption {
	t.Helper()
	Healthy(t, name, dir, n)
	switch name {
	case "jsonl", "tidwall":
		file := firstFile(t, name, dir)
		offs := recordOffsets(t, name, file)
		// Three quarters into the record: its payload in both formats.
		start, end := offs[CorruptIndex-1], offs[CorruptIndex]
		flip(t, file, start+(end-start)*3/4)
		return Corruption{Index: CorruptIndex, File: file}
	case "pebble":
		storeDamagedRecord(t, filepath.Join(dir, "pebble"), CorruptIndex)
		return Corruption{Index: CorruptIndex, File: filepath.Join(dir, "pebble")}
	case "bbolt":
		file := filepath.Join(dir, "wal.db")
		data := read(t, file)
		env := backend.AppendEnvelope(nil, CorruptIndex, Payload(CorruptIndex))
		// bbolt copies pages on write, so freed pages may hold older copies
		// of the record: damage every one.
		found := false
		for i := bytes.Index(data, env); i >= 0; {
			data[i+len(env)-1] ^= 0x40
			found = true
			j := bytes.Index(data[i+1:], env)
			if j < 0 {
				break
			}
			i += 1 + j
		}
		if !found {
			t.Fatalf("record %d not found in %s", CorruptIndex, file)
		}
		write(t, file, data)
		return Corruption{Index: CorruptIndex, File: file}
	}
	t.Fatalf("damage: no corruption for backend %s", name)
	return Corruption{}
}

// Files returns the contents of every file under dir by path relative to it.
func Files(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = string(read(t, path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// CopyDir copies the tree at src to dst, which must not exist.
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
