package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

func init() {
	addCases(orderPowerLoss+1,
		testCase{
			name: "power_loss_torn_writes",
			rule: "After a power loss right before any fsync of a workload of multi-page writes, where each write not yet fsync'd kept an arbitrary subset of its 4 KiB pages (zeros where a page was lost), Open succeeds unaided and the log holds every durable record (acknowledged under SyncAlways, covered by a Sync or Close otherwise), byte-identical, possibly later records of the workload, nothing else.",
			skip: func(c Capabilities) string {
				if c.NotPersistent {
					return c.crashReason()
				}
				return ""
			},
			run:   testPowerLossTornWrites,
			child: serveLossyfs,
		},
	)
}

// tornSeeds is how many choices of surviving pages each cut point gets.
const tornSeeds = 4

// tornUnsynced is the chance that each page written since its file's last
// fsync survives the cut: half, so most writes of several pages keep some
// and lose others, in every pattern over the seeds.
const tornUnsynced = 0.5

// tornStep is one step of the torn-write workload: an Append of n records,
// or a Sync.
type tornStep struct {
	n    uint64
	sync bool
}

// tornWorkload appends batches of up to 16 records of 300 to 2300 bytes, so
// one write spans up to ten pages, with Syncs between some of them.
var tornWorkload = []tornStep{
	{n: 1}, {n: 8}, {n: 16}, {sync: true}, {n: 2}, {n: 12}, {n: 1}, {sync: true}, {n: 16}, {n: 4},
}

// tornWorkloadRecords is how many records tornWorkload appends.
const tornWorkloadRecords = 60

// tornPayload is the record the torn-write workload stores at index.
func tornPayload(index uint64) []byte {
	return fill(make([]byte, 300+int(mix(index^0x5bd1e995)%2000)), index)
}

// tornSeed is the seed of the pages surviving the kth cut in its ith round,
// distinct for every round.
func tornSeed(k, i int) int64 { return int64(k*tornSeeds + i) }

func tornPayloads(first, last uint64) [][]byte {
	var out [][]byte
	for i := first; i <= last; i++ {
		out = append(out, tornPayload(i))
	}
	return out
}

// runTornWorkload runs tornWorkload on w and closes it, stopping at the first
// error. p.acked follows what is durable: each Append when durable is set
// (SyncAlways), else each Sync and the Close.
func runTornWorkload(ctx context.Context, w backend.WAL, p *progress, durable bool) error {
	var written uint64
	for _, s := range tornWorkload {
		if s.sync {
			if err := w.Sync(ctx); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
			p.acked = written
			continue
		}
		last, err := w.Append(ctx, tornPayloads(written+1, written+s.n)...)
		if err != nil {
			return fmt.Errorf("append %d..%d: %w", written+1, written+s.n, err)
		}
		if last != written+s.n {
			return fmt.Errorf("append %d..%d returned last %d", written+1, written+s.n, last)
		}
		if written = last; durable {
			p.acked = written
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	p.acked = written
	return nil
}

// testPowerLossTornWrites cuts the power right before each fsync of the
// workload, tornSeeds times with different pages of the unsynced writes
// surviving: on the in-memory crash file system for a backend doing its I/O
// through package vfs, over FUSE otherwise.
func testPowerLossTornWrites(t *testing.T, h Harness) {
	durable := !h.Caps.AppendNotDurable
	var rounds, points int
	if h.OpenFS != nil {
		rounds, points = tornOnCrashFS(t, h, durable)
	} else {
		rounds, points = tornOverFUSE(t, h, durable)
	}
	t.Logf("cut the power before each of %d fsyncs, %d rounds with unsynced pages surviving at random", points, rounds)
}

// tornOnCrashFS is the case on crashfs; it returns the rounds run and the
// fsyncs cut before.
func tornOnCrashFS(t *testing.T, h Harness, durable bool) (rounds, points int) {
	r := memRig(t, h)
	for k := 1; k <= maxCutPoints; k++ {
		for seed := 1; seed <= tornSeeds; seed++ {
			mem := crashfs.New()
			faults := faultfs.New(mem)
			var cut powerCut
			seen := countdown{n: k}
			opts := &crashfs.CrashOptions{UnsyncedBlocks: tornUnsynced, Seed: tornSeed(k, int(seed))}
			faults.Inject(func(e faultfs.Event) error {
				if !e.IsSync() || e.After || !seen.hit() {
					return nil
				}
				cut.take(mem, opts, e)
				faults.Cut(syscall.EIO)
				return &os.PathError{Op: e.Op.String(), Path: e.Path, Err: syscall.EIO}
			})
			p := newProgress()
			m, err := r.open(faults)
			if err == nil {
				err = runTornWorkload(t.Context(), m.w, &p, durable)
			}
			m.close(t)
			image, where := cut.taken()
			if image == nil {
				if err != nil {
					t.Fatalf("the workload failed with no fault injected: %v", err)
				}
				return rounds, k - 1
			}
			rounds++
			when := fmt.Sprintf("power cut %d (seed %d) before %s #%d (%s)", k, seed, where.Op, where.N, where.Path)
			m, err = r.open(image)
			if err != nil {
				t.Fatalf("%s: Open after the power loss: %v", when, err)
			}
			checkRecoveredWith(t, m.w, p, tornWorkloadRecords, when, tornPayload)
			m.close(t)
		}
	}
	t.Fatalf("the workload issued more than %d fsyncs", maxCutPoints)
	return 0, 0
}

// tornOverFUSE is the case over FUSE, served from a child process as in
// power_loss_every_sync; it returns the rounds run and the fsyncs cut before.
func tornOverFUSE(t *testing.T, h Harness, durable bool) (rounds, points int) {
	f := startFUSE(t)
	srv, mnt := f.srv, f.mnt
	var err error
	// Open, not OpenSmall: a library that starts a new file every kilobyte
	// fsyncs before each, so no write of the workload would span pages.
	ctx, open := t.Context(), h.Open
	dir := filepath.Join(mnt, walDir)
	for k := 1; k <= maxCutPoints; k++ {
		for seed := 1; seed <= tornSeeds; seed++ {
			cut := lossyfs.Cut{Sync: k, Unsynced: tornUnsynced, Seed: tornSeed(k, int(seed))}
			if err := srv.Mount(mnt, cut); err != nil {
				t.Fatalf("mount: %v", err)
			}
			p := newProgress()
			f.w, err = open(ctx, dir)
			if err == nil {
				err = runTornWorkload(ctx, f.w, &p, durable)
			}
			f.closeAndUnmount(fmt.Sprintf("power cut %d (seed %d), workload", k, seed))
			where, rerr := srv.Reboot()
			if rerr != nil {
				t.Fatalf("power cut %d (seed %d): remount: %v", k, seed, rerr)
			}
			if where.Seq == 0 {
				if err != nil {
					t.Fatalf("the workload failed with no fault injected: %v", err)
				}
				f.closeAndUnmount("after the workload")
				return rounds, k - 1
			}
			rounds++
			when := fmt.Sprintf("power cut %d (seed %d) before %s #%d (%s)", k, seed, where.Op, where.N, where.Path)
			if f.w, err = open(ctx, dir); err != nil {
				t.Fatalf("%s: Open after the power loss: %v", when, err)
			}
			checkRecoveredWith(t, f.w, p, tornWorkloadRecords, when, tornPayload)
			f.closeAndUnmount(when + ", recovery")
		}
	}
	t.Fatalf("the workload issued more than %d fsyncs", maxCutPoints)
	return 0, 0
}
