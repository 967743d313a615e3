package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	addCases(orderForeign,
		testCase{
			name: "foreign_files",
			rule: "A file or directory the backend did not write (empty, zero-filled, random bytes, records with a bad envelope header, a non-numeric name that looks like a segment, a subdirectory, another backend's files), in a fresh directory or beside a log, makes Open either succeed with the log unchanged and the file untouched, or fail with a *backend.CorruptError or an error naming the file; a failed Open modifies no file.",
			skip: Capabilities.filesReason,
			run:  testForeignFiles,
		},
		testCase{
			name: "other_backends_log",
			rule: "A directory holding only another backend's log (jsonl, tidwall, pebble, bbolt, SQLite, a bare Pebble or tidwall directory) never opens as an empty log, which would leave the broker nothing to replay: Open fails with a *backend.CorruptError or an error naming one of its files, and modifies no file.",
			skip: Capabilities.filesReason,
			run:  testOtherBackendsLog,
		},
	)
}

// layout is a set of files to place in a WAL directory: paths relative to
// it, '/'-separated, and their bytes.
type layout struct {
	name  string
	files map[string][]byte
}

// envelopes returns records first..last in the shared envelope, as a
// backend other than the one under test might have written them.
func envelopes(first, last uint64) []byte {
	var b []byte
	for i := first; i <= last; i++ {
		b = backend.AppendEnvelope(b, i, payload(i))
	}
	return b
}

// tidwallFrames returns records first..last as tidwall's binary entries: a
// uvarint length and an envelope.
func tidwallFrames(first, last uint64) []byte {
	var b []byte
	for i := first; i <= last; i++ {
		env := backend.AppendEnvelope(nil, i, payload(i))
		b = append(binary.AppendUvarint(b, uint64(len(env))), env...)
	}
	return b
}

// badHeader returns records 1..3 in envelopes whose first header's checksum
// is wrong.
func badHeader() []byte {
	b := envelopes(1, 3)
	b[0] ^= 0xff
	return b
}

// strangeFiles are files no backend writes.
func strangeFiles() []layout {
	return []layout{
		{"empty", map[string][]byte{"wal.log": {}}},
		{"zeros", map[string][]byte{"wal.dat": make([]byte, 8<<10)}},
		{"random", map[string][]byte{"wal.bin": fill(make([]byte, 8<<10), 42)}},
		{"bad_header", map[string][]byte{"000001.wal": badHeader()}},
		{"segment_like_name", map[string][]byte{"0000000000000000000x": tidwallFrames(1, 3)}},
		{"segment_like_name_jsonl", map[string][]byte{"0000000000000000000x.jsonl": []byte(jsonlLines)}},
		{"subdirectory", map[string][]byte{"backup/wal.log": envelopes(1, 3)}},
	}
}

// jsonlLines are lines in the jsonl backend's format.
const jsonlLines = `{"i":1,"c":"0ac3b4d1","d":{"op":"assert","session":"s1"}}
{"i":2,"c":"ca163b61","b":"AAECAw=="}
`

// otherLogs are the logs the built-in backends and common libraries leave,
// in miniature: the names are theirs, the bytes only look like theirs.
func otherLogs() []layout {
	pebble := func(prefix string) map[string][]byte {
		return map[string][]byte{
			prefix + "MANIFEST-000001":                        fill(make([]byte, 512), 7),
			prefix + "OPTIONS-000003":                         []byte("[Version]\n  pebble_version=0.1\n"),
			prefix + "000002.log":                             fill(make([]byte, 2<<10), 8),
			prefix + "marker.manifest.000001.MANIFEST-000001": {},
		}
	}
	sqlite := append([]byte("SQLite format 3\x00"), make([]byte, 4<<10-16)...)
	return []layout{
		{"jsonl", map[string][]byte{"00000000000000000001.jsonl": []byte(jsonlLines)}},
		{"tidwall", map[string][]byte{"segments/00000000000000000001": tidwallFrames(1, 3)}},
		{"pebble", pebble("pebble/")},
		{"bbolt", map[string][]byte{"wal.db": fill(make([]byte, 8<<10), 9)}},
		{"sqlite", map[string][]byte{"wal.sqlite": sqlite}},
		{"bare_pebble", pebble("")},
		{"bare_tidwall", map[string][]byte{"00000000000000000001": tidwallFrames(1, 3)}},
	}
}

// beside is how many records the log holds in the cases beside a log.
const beside = 5

func testForeignFiles(t *testing.T, h Harness) {
	own := ownNames(t, h)
	for _, where := range []string{"fresh", "beside_a_log"} {
		t.Run(where, func(t *testing.T) {
			layouts := strangeFiles()
			if where == "beside_a_log" {
				layouts = append(layouts, otherLogs()...)
			}
			for _, l := range layouts {
				t.Run(l.name, func(t *testing.T) {
					skipOwn(t, l, own)
					last := uint64(0)
					dir := t.TempDir()
					if where == "beside_a_log" {
						w := openWAL(t, h, dir)
						appendWant(t, w, beside, payloads(1, beside)...)
						closeWAL(t, w)
						last = beside
					}
					place(t, dir, l)
					before := snapshot(t, dir)
					w, err := h.Open(t.Context(), dir)
					if err != nil {
						checkRefusal(t, err, l, before, snapshot(t, dir))
						return
					}
					defer w.Close()
					wantBounds(t, w, 1, last)
					wantRecords(t, w, 1, payloads(1, last))
					closeWAL(t, w)
					after := snapshot(t, dir)
					for path := range l.files {
						if after[path] != before[path] {
							t.Fatalf("Open ignored %s but changed it", path)
						}
					}
				})
			}
		})
	}
}

func testOtherBackendsLog(t *testing.T, h Harness) {
	own := ownNames(t, h)
	for _, l := range otherLogs() {
		t.Run(l.name, func(t *testing.T) {
			skipOwn(t, l, own)
			dir := t.TempDir()
			place(t, dir, l)
			before := snapshot(t, dir)
			w, err := h.Open(t.Context(), dir)
			if err == nil {
				first, last, berr := w.Bounds(t.Context())
				w.Close()
				t.Fatalf("Open of a directory holding only a %s log succeeded with bounds (%d, %d), %v: the broker would find nothing to replay", l.name, first, last, berr)
			}
			checkRefusal(t, err, l, before, snapshot(t, dir))
		})
	}
}

// ownNames returns the names the backend itself leaves in its directory
// after a few Appends and a Close, so that a layout using one of them is
// not taken for a foreign one.
func ownNames(t *testing.T, h Harness) []string {
	t.Helper()
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	appendWant(t, w, 3, payloads(1, 3)...)
	closeWAL(t, w)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// skipOwn skips t when l uses a name the backend writes itself.
func skipOwn(t *testing.T, l layout, own []string) {
	t.Helper()
	for path := range l.files {
		top, _, _ := strings.Cut(path, "/")
		if top != backend.LockFileName && slices.Contains(own, top) {
			t.Skipf("%s is a name this backend writes itself, so its files are not foreign to it", top)
		}
	}
}

// place writes l's files into dir.
func place(t *testing.T, dir string, l layout) {
	t.Helper()
	for path, data := range l.files {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot returns every entry under dir but the lock file, by '/'-separated
// relative path: a file's bytes, or "dir" for a directory.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == backend.LockFileName:
		case d.IsDir():
			entries[rel] = "dir"
		default:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			entries[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return entries
}

// checkRefusal requires err to be a *backend.CorruptError or to name one of
// l's files or directories, and the directory to be as it was before Open.
func checkRefusal(t *testing.T, err error, l layout, before, after map[string]string) {
	t.Helper()
	var ce *backend.CorruptError
	var names []string
	for path := range l.files {
		names = append(names, strings.Split(path, "/")...)
	}
	named := slices.ContainsFunc(names, func(n string) bool { return strings.Contains(err.Error(), n) })
	if !errors.As(err, &ce) && !named {
		t.Fatalf("Open = %v, want a *backend.CorruptError or an error naming one of %v", err, names)
	}
	if changed := diff(before, after); len(changed) > 0 {
		t.Fatalf("Open failed (%v) but changed %v", err, changed)
	}
}

// diff returns the paths whose entries differ between a and b.
func diff(a, b map[string]string) []string {
	var paths []string
	for path, v := range a {
		if w, ok := b[path]; !ok || w != v {
			paths = append(paths, fmt.Sprintf("%s (%s)", path, change(ok, w == "dir" || v == "dir")))
		}
	}
	for path := range b {
		if _, ok := a[path]; !ok {
			paths = append(paths, path+" (created)")
		}
	}
	sort.Strings(paths)
	return paths
}

func change(exists, isDir bool) string {
	switch {
	case !exists:
		return "removed"
	case isDir:
		return "replaced"
	}
	return "modified"
}
