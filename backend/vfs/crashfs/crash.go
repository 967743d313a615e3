package crashfs

import (
	"bytes"
	"math/rand"
)

// BlockSize is the unit in which CrashImage lets unsynced writes survive.
const BlockSize = 4096

// CrashOptions says what, beyond the synced state, survives a crash.
type CrashOptions struct {
	// UnsyncedBlocks is the probability (0 to 1) that each 4 KiB block of a
	// file written or truncated since its last Sync reaches the image anyway.
	// Blocks that do not, inside a file that grew, read as zeros. 0: nothing
	// unsynced survives.
	UnsyncedBlocks float64
	// Seed makes the choice of blocks repeatable.
	Seed int64
}

// CrashImage returns a new FS holding what a power loss at this moment would
// leave: the directories and files reachable through entries made durable by
// SyncDir, each file with its contents as of its last Sync (plus unsynced
// blocks, as opts says; nil keeps nothing unsynced). The image is durable
// throughout, has no locks held, and shares nothing with fs.
func (fs *FS) CrashImage(opts *CrashOptions) *FS {
	if opts == nil {
		opts = &CrashOptions{}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	img := &FS{locks: map[string]bool{}, nextIno: fs.nextIno}
	c := crash{rng: rand.New(rand.NewSource(opts.Seed)), p: opts.UnsyncedBlocks, copies: map[*node]*node{}}
	img.root = c.copy(fs.root)
	return img
}

type crash struct {
	rng    *rand.Rand
	p      float64
	copies map[*node]*node // a node reachable twice stays one node
}

func (c *crash) copy(n *node) *node {
	if cp, ok := c.copies[n]; ok {
		return cp
	}
	cp := &node{ino: n.ino, dir: n.dir, mode: n.mode, mtime: n.mtime}
	c.copies[n] = cp
	if n.dir {
		cp.kids = make(map[string]*node, len(n.syncedKids))
		for _, name := range sortedNames(n.syncedKids) { // sorted: the seed decides, not map order
			cp.kids[name] = c.copy(n.syncedKids[name])
		}
		cp.syncDir()
		return cp
	}
	cp.data = c.contents(n)
	cp.synced = append([]byte(nil), cp.data...)
	return cp
}

// contents returns the synced bytes of n with a random choice of the blocks
// changed since, taken from the current bytes.
func (c *crash) contents(n *node) []byte {
	out := append([]byte(nil), n.synced...)
	if c.p <= 0 {
		return out
	}
	cur := n.data
	if len(cur) < len(out) && c.rng.Float64() < c.p {
		out = out[:len(cur)] // the truncation reached the disk
	}
	for off := 0; off < len(cur); off += BlockSize {
		end := min(off+BlockSize, len(cur))
		if end <= len(out) && bytes.Equal(cur[off:end], out[off:end]) {
			continue
		}
		if c.rng.Float64() >= c.p {
			continue
		}
		if len(out) < end {
			out = append(out, make([]byte, end-len(out))...)
		}
		copy(out[off:end], cur[off:end])
	}
	return out
}
