package tidwall_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

// testdata/v1log is a log written with the plain envelope, before envelopes
// carried a durability claim: records 1 to 12, payloadV1, in segments 1-9
// and 10-12.
const v1Log = "testdata/v1log"

func payloadV1(i uint64) []byte {
	if i%3 == 0 {
		return []byte{0, byte(i), '\n', 0xff}
	}
	return fmt.Appendf(nil, `{"op":"assert","seq":%d}`, i)
}

func requireV1Records(t *testing.T, w backend.WAL, last uint64) {
	t.Helper()
	first, recs, err := replayAll(w)
	require.NoError(t, err)
	require.EqualValues(t, 1, first)
	require.Len(t, recs, int(last))
	for i := uint64(1); i <= min(last, 12); i++ {
		require.Equal(t, payloadV1(i), recs[i-1], "record %d", i)
	}
}

// A log of the plain envelope opens, replays byte for byte and takes new
// records.
func TestOldFormatLogOpens(t *testing.T) {
	dir := copyDir(t, v1Log)
	w := mustOpen(t, dir, small("300"))
	requireV1Records(t, w, 12)
	appendRecords(t, w, 2, 1)
	require.NoError(t, w.Close())
	w = mustOpen(t, dir, small("300"))
	requireV1Records(t, w, 14)
	require.NoError(t, w.Close())
}

// Damage before plain envelopes, which claim nothing, is corruption even
// where a lost page would explain it; before claiming envelopes that claim
// less than the damaged index, it is a torn write.
func TestHoleIsJudgedByTheClaimsAfterIt(t *testing.T) {
	last := filepath.Join(v1Log, "segments", "00000000000000000010")
	data, err := os.ReadFile(last)
	require.NoError(t, err)
	offs := frameOffsets(t, last)

	dir := copyDir(t, v1Log)
	hole := bytes.Clone(data)
	clear(hole[offs[0]:offs[1]]) // record 10 lost
	require.NoError(t, os.WriteFile(filepath.Join(segDir(dir), "00000000000000000010"), hole, 0o644))
	_, err = tryOpen(dir, small("300"))
	require.ErrorIs(t, err, backend.ErrCorrupt)
	require.ErrorContains(t, err, "carries no durability claim")

	// The same segment written with claims: 10 to 12 were written when
	// the log was durable through 9.
	var claimed []byte
	for i := uint64(10); i <= 12; i++ {
		env := backend.AppendEnvelopeClaim(nil, i, 9, payloadV1(i))
		claimed = binary.AppendUvarint(claimed, uint64(len(env)))
		claimed = append(claimed, env...)
	}
	dir = copyDir(t, v1Log)
	path := filepath.Join(segDir(dir), "00000000000000000010")
	require.NoError(t, os.WriteFile(path, claimed, 0o644))
	offs = frameOffsets(t, path)
	clear(claimed[offs[0]:offs[1]])
	require.NoError(t, os.WriteFile(path, claimed, 0o644))
	obs := &repairs{}
	o := small("300")
	o.obs = obs
	w := mustOpen(t, dir, o)
	requireV1Records(t, w, 9)
	require.Equal(t, 1, obs.count())
	require.FileExists(t, path+backend.BrokenSuffix)
	require.NoError(t, w.Close())
}
