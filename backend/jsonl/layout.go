package jsonl

import (
	"bytes"
	"encoding/json"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

const (
	// SegmentExt ends every segment file's name.
	SegmentExt = ".jsonl"
	// MarkerFileName holds the log's first index once TruncateFront has run.
	MarkerFileName = "first-index.json"

	segmentDigits = 20 // enough for any uint64
)

// SegmentName returns the file name of the segment whose first record has
// index first: 20 zero-padded digits and SegmentExt, so names sort in index
// order.
func SegmentName(first uint64) string {
	return fmt.Sprintf("%0*d%s", segmentDigits, first, SegmentExt)
}

// ParseSegmentName returns the first index a segment file name encodes. A
// name that ends in SegmentExt but is not exactly SegmentName of an index ≥ 1
// is an error naming it.
func ParseSegmentName(name string) (uint64, error) {
	first, err := parseSegmentName(name)
	if err != nil {
		return 0, fmt.Errorf("jsonl: segment name %q: %w", name, err)
	}
	return first, nil
}

func parseSegmentName(name string) (uint64, error) {
	digits, ok := strings.CutSuffix(name, SegmentExt)
	if !ok {
		return 0, fmt.Errorf("want a name such as %s", SegmentName(1))
	}
	if len(digits) != segmentDigits || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("want %d digits naming the first index, as in %s", segmentDigits, SegmentName(1))
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, fmt.Errorf("the first index must be in [1, %d]", uint64(1<<64-1))
	}
	return first, nil
}

// dirListing is a WAL directory sorted into what the driver knows.
type dirListing struct {
	segments  []segment // sorted by first index; size not yet known
	hasMarker bool
}

// listDir reads dir and rejects any file the driver did not write, so a
// directory shared with something else, or a stray segment-like name, is an
// error naming the file (an *fs.PathError wrapping backend.ErrForeignFile)
// rather than silently ignored.
func listDir(fs vfs.FS, dir string) (dirListing, error) {
	var l dirListing
	names, err := fs.ReadDir(dir)
	if err != nil {
		return l, fmt.Errorf("jsonl: read directory %s: %w", dir, err)
	}
	for _, name := range names {
		switch {
		case name == backend.LockFileName, name == MarkerFileName+".tmp":
		case name == MarkerFileName:
			l.hasMarker = true
		case isBrokenCopy(name):
		case strings.HasSuffix(name, SegmentExt):
			first, err := parseSegmentName(name)
			if err != nil {
				return l, &iofs.PathError{Op: "jsonl: unexpected file", Path: filepath.Join(dir, name),
					Err: fmt.Errorf("%w: not a segment name: %v", backend.ErrForeignFile, err)}
			}
			l.segments = append(l.segments, segment{first: first, path: filepath.Join(dir, name)})
		default:
			return l, &iofs.PathError{Op: "jsonl: unexpected file", Path: filepath.Join(dir, name),
				Err: backend.ErrForeignFile}
		}
	}
	// ReadDir sorts by name, and fixed-width names sort by index.
	return l, nil
}

// isBrokenCopy reports whether name is a copy of a segment kept by a
// torn-tail repair (backend.RepairTail).
func isBrokenCopy(name string) bool {
	orig, ok := backend.RepairCopyOf(name)
	if !ok {
		return false
	}
	_, err := parseSegmentName(orig)
	return err == nil
}

// marker is the content of MarkerFileName. The checksum guards the one number
// that decides which records exist.
type marker struct {
	FirstIndex uint64 `json:"first_index"`
	CRC        string `json:"crc"`
}

func encodeMarker(first uint64) []byte {
	b, _ := json.Marshal(marker{FirstIndex: first, CRC: string(appendHex32(nil, recordChecksum(nil, first, backend.NoClaim, nil)))})
	return append(b, '\n')
}

// readMarker returns the first index stored in dir's marker.
func readMarker(fs vfs.FS, dir string) (uint64, error) {
	path := filepath.Join(dir, MarkerFileName)
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return 0, fmt.Errorf("jsonl: read %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m marker
	if err := dec.Decode(&m); err != nil {
		return 0, &backend.CorruptError{File: path, Offset: 0, Reason: "unreadable first-index marker", Err: err}
	}
	if want := string(appendHex32(nil, recordChecksum(nil, m.FirstIndex, backend.NoClaim, nil))); m.CRC != want {
		return 0, &backend.CorruptError{File: path, Offset: 0, Index: m.FirstIndex,
			Reason: fmt.Sprintf("first-index marker checksum mismatch (stored %q, computed %q)", m.CRC, want)}
	}
	if m.FirstIndex == 0 {
		return 0, &backend.CorruptError{File: path, Offset: 0, Reason: "first-index marker holds index 0"}
	}
	return m.FirstIndex, nil
}
