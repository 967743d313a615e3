package tidwall

import (
	"context"
	"encoding/binary"
	"path/filepath"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	backend.RegisterSalvager("tidwall", salvager{})
}

// salvager is the tidwall backend's backend.Salvager, for the operator tools.
type salvager struct{}

// Salvage cuts the log at the first damage Open or Replay refuses, with
// backend.SalvageFiles over Open's own segment checks run read-only and
// reading every record of every segment, not only the last. A
// segment cut to nothing keeps its name, which is where the log starts when
// it is the first.
func (salvager) Salvage(ctx context.Context, cfg backend.Config) (backend.SalvageReport, error) {
	if _, _, err := segmentParams(cfg); err != nil { // refused as Open refuses them
		return backend.SalvageReport{}, err
	}
	fs := cfg.FileSystem()
	dir := filepath.Join(cfg.Dir, SegmentsDir)
	return backend.SalvageFiles(backend.FileLog{
		FS: fs,
		Check: func() (uint64, uint64, error) {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			segs, err := listSegments(fs, dir)
			if err != nil {
				return 0, 0, err
			}
			l, err := walkSegments(fs, segs, true, func(d backend.Damage) error {
				if d.Torn() {
					return nil // Open cuts it off
				}
				return d.Corruption()
			})
			return l.first, l.last, err
		},
		Files: func() ([]string, error) {
			segs, err := listSegments(fs, dir)
			var paths []string
			for _, seg := range segs {
				paths = append(paths, seg.path)
			}
			return paths, err
		},
		Highest: highestIndex,
	})
}

// highestIndex returns the highest index held by a frame of data that holds
// a valid envelope, or 0 when none does. It resynchronizes byte by byte past
// anything else; an envelope's checksum is computed only when its length
// field matches its frame's, so garbage costs little.
func highestIndex(data []byte) uint64 {
	var high uint64
	for p := 0; p < len(data); {
		env, n, reason := frame(data[p:])
		if reason == "" && len(env) >= backend.EnvelopeHeaderSize {
			index := binary.BigEndian.Uint64(env[4:12])
			if _, err := backend.DecodeEnvelope(env, index); err == nil && index != 0 {
				high = max(high, index)
				p += n
				continue
			}
		}
		p++
	}
	return high
}
