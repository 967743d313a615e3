package damage

import (
	"encoding/binary"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/backend/tidwall"
)

// Quiet discards what the backends log about the damage.
var Quiet = slog.New(slog.DiscardHandler)

// DataFiles returns the data files of a jsonl or tidwall log in index order.
func DataFiles(t testing.TB, name, dir string) []string {
	t.Helper()
	var pattern string
	switch name {
	case "jsonl":
		pattern = filepath.Join(dir, "*"+jsonl.SegmentExt)
	case "tidwall":
		pattern = filepath.Join(dir, tidwall.SegmentsDir, strings.Repeat("[0-9]", 20))
	default:
		t.Fatalf("damage: backend %s has no data files of its own", name)
	}
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no data files %s: %v", pattern, err)
	}
	slices.Sort(files)
	return files
}

func firstFile(t testing.TB, name, dir string) string { return DataFiles(t, name, dir)[0] }

func lastFile(t testing.TB, name, dir string) string {
	files := DataFiles(t, name, dir)
	return files[len(files)-1]
}

// firstIndexOf returns the index a data file's name gives its first record.
func firstIndexOf(t testing.TB, name, file string) uint64 {
	t.Helper()
	base := filepath.Base(file)
	if name == "jsonl" {
		first, err := jsonl.ParseSegmentName(base)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	var first uint64
	for _, c := range base {
		first = first*10 + uint64(c-'0')
	}
	return first
}

// recordOffsets returns the offset of every record in a jsonl or tidwall data
// file, and the file's length last.
func recordOffsets(t testing.TB, name, file string) []int64 {
	t.Helper()
	data := read(t, file)
	var offs []int64
	for off := 0; off < len(data); {
		offs = append(offs, int64(off))
		if name == "jsonl" {
			off += strings.IndexByte(string(data[off:]), '\n') + 1
			continue
		}
		size, k := binary.Uvarint(data[off:])
		if k <= 0 {
			t.Fatalf("%s: no frame at offset %d", file, off)
		}
		off += k + int(size)
	}
	return append(offs, int64(len(data)))
}

// storeDamagedRecord stores record index again in the Pebble store in dir,
// with one byte of its envelope flipped.
func storeDamagedRecord(t testing.TB, dir string, index uint64) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatalf("pebble open %s: %v", dir, err)
	}
	// The key layout of backend/internal/kv: 'r' and the big-endian index.
	key := binary.BigEndian.AppendUint64([]byte{'r'}, index)
	val, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("pebble get record %d: %v", index, err)
	}
	damaged := slices.Clone(val)
	closer.Close()
	damaged[len(damaged)-1] ^= 0x40
	if err := db.Set(key, damaged, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic("pebble: fatal: " + format)
}

// loseLastCommit makes the bbolt file look as if its last commit's meta page
// never reached the disk: the newer of the two meta pages (the last commit's)
// is overwritten with a valid meta older than the other one, so bbolt opens
// the other, the commit before. The meta layout is bbolt's: a 16-byte page
// header, then magic, version, page size, flags, root (16 bytes), freelist,
// pgid, txid and an FNV-64a checksum of the bytes before it, native-endian.
func loseLastCommit(t testing.TB, file string) {
	t.Helper()
	const header, txidAt, sumAt = 16, 48, 56
	data := read(t, file)
	order := binary.NativeEndian
	pageSize := int(order.Uint32(data[header+8:]))
	meta := func(page int) []byte { return data[page*pageSize+header : page*pageSize+header+64] }
	newer, older := meta(0), meta(1)
	if order.Uint64(older[txidAt:]) > order.Uint64(newer[txidAt:]) {
		newer, older = older, newer
	}
	copy(newer, older)
	order.PutUint64(newer[txidAt:], order.Uint64(older[txidAt:])-1)
	h := fnv.New64a()
	h.Write(newer[:sumAt])
	order.PutUint64(newer[sumAt:], h.Sum64())
	write(t, file, data)
}

// newest returns the last file in dir, by name, ending in ext.
func newest(t testing.TB, dir, ext string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s file in %s: %v", ext, dir, err)
	}
	slices.Sort(files)
	return files[len(files)-1]
}

func flip(t testing.TB, file string, off int64) {
	t.Helper()
	data := read(t, file)
	data[off] ^= 0x01
	write(t, file, data)
}

func truncate(t testing.TB, file string, size int64) {
	t.Helper()
	if err := os.Truncate(file, size); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, file string) int64 {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func read(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func write(t testing.TB, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
