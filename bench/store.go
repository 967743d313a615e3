package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jetstream"
)

// store is what one row measures: a WAL opened through package backend, or a
// baseline that uses a file or a library directly.
type store interface {
	// append writes recs as one operation; under SyncAlways they are durable
	// when it returns. It is safe for concurrent use.
	append(ctx context.Context, recs [][]byte) error
	// replay calls fn for every record in order and returns how many it read.
	replay(ctx context.Context, fn func(data []byte)) (int64, error)
	// truncateFront drops the records with index < before (indexes from 1).
	truncateFront(ctx context.Context, before uint64) error
	// syncs returns the fsyncs counted since the store was opened.
	syncs() int64
	close() error
}

// storeOptions is what every store opener gets.
type storeOptions struct {
	dir  string           // a directory owned by the store
	sync backend.SyncMode // the durability of append
	size int              // the record size of the run, for stores without framing
}

// subject is a row's store kind: a registered backend or a baseline.
type subject struct {
	name     string
	baseline bool
	// encrypted: a backend opened with Config.Encryption (EncryptedSuffix).
	encrypted bool
	// cluster: a backend on a cluster the run starts, which a broker's
	// configuration cannot name.
	cluster bool
	open    func(ctx context.Context, o storeOptions) (store, error)
}

// errUnsupported marks a workload a baseline has no equivalent for.
var errUnsupported = errors.ErrUnsupported

// Baseline names, in display order.
const (
	Fdatasync = "fdatasync"
	// FdatasyncPrealloc is fdatasync into a file allocated before the timed
	// loop: the disk's limit, which the targets compare with.
	FdatasyncPrealloc = "fdatasync-prealloc"
	TidwallRaw        = "tidwall-raw"
	PebbleRaw         = "pebble-raw"
	BboltRaw          = "bbolt-raw"
)

var baselines = map[string]func(ctx context.Context, o storeOptions) (store, error){
	Fdatasync:         openFdatasync,
	FdatasyncPrealloc: openFdatasyncPrealloc,
	TidwallRaw:        openTidwallRaw,
	PebbleRaw:         openPebbleRaw,
	BboltRaw:          openBboltRaw,
}

// plainFile reports whether a subject is one of the fdatasync baselines: a
// file of records with no front to drop.
func plainFile(name string) bool { return name == Fdatasync || name == FdatasyncPrealloc }

// Subjects returns every name -backends accepts: the baselines and the
// registered backends, in the order rows are shown.
func Subjects() []string {
	names := append([]string{Fdatasync, FdatasyncPrealloc, TidwallRaw, PebbleRaw, BboltRaw}, backend.Drivers()...)
	for _, enc := range encryptedSubjects {
		if base, _ := encryptedBase(enc); slices.Contains(backend.Drivers(), base) {
			names = append(names, enc)
		}
	}
	if slices.Contains(backend.Drivers(), jetstream.Name) {
		names = append(names, JetStreamR3)
	}
	return orderSubjects(names)
}

// DefaultSubjects returns the subjects of the default run: every subject
// but those that run a server (serverSubjects), which -backends names.
func DefaultSubjects() []string {
	return slices.DeleteFunc(Subjects(), func(n string) bool { return slices.Contains(serverSubjects, n) })
}

// orderSubjects puts fdatasync and fdatasync-prealloc first, then memory,
// then each backend followed by its raw library, so a backend's row sits
// next to its baseline.
func orderSubjects(names []string) []string {
	rank := func(n string) (int, string) {
		switch n {
		case Fdatasync:
			return 0, ""
		case FdatasyncPrealloc:
			return 1, ""
		case "memory":
			return 2, ""
		}
		if base, ok := rawOf(n); ok {
			return 3, base + "\x01"
		}
		return 3, n
	}
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int {
		ra, ka := rank(a)
		rb, kb := rank(b)
		if ra != rb {
			return ra - rb
		}
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return slices.Compact(out)
}

// rawOf returns the backend a raw baseline mirrors: "tidwall" for "tidwall-raw".
func rawOf(name string) (string, bool) {
	switch name {
	case TidwallRaw:
		return "tidwall", true
	case PebbleRaw:
		return "pebble", true
	case BboltRaw:
		return "bbolt", true
	}
	return "", false
}

// lookupSubject returns the subject name names; its JetStreamR3 rows open
// their streams in js, which is nil where nothing is opened.
func lookupSubject(name string, js *jsCluster) (subject, error) {
	if open, ok := baselines[name]; ok {
		return subject{name: name, baseline: true, open: open}, nil
	}
	if slices.Contains(backend.Drivers(), name) {
		return subject{name: name, open: func(ctx context.Context, o storeOptions) (store, error) {
			return openFramework(ctx, backend.Config{Backend: name, Dir: o.dir, Sync: o.sync})
		}}, nil
	}
	if name == JetStreamR3 && slices.Contains(backend.Drivers(), jetstream.Name) {
		return subject{name: name, cluster: true, open: func(ctx context.Context, o storeOptions) (store, error) {
			return openJSClusterRow(ctx, js, o)
		}}, nil
	}
	if base, ok := encryptedBase(name); ok && slices.Contains(backend.Drivers(), base) {
		return subject{name: name, encrypted: true, open: func(ctx context.Context, o storeOptions) (store, error) {
			return openFramework(ctx, backend.Config{Backend: base, Dir: o.dir, Sync: o.sync, Encryption: benchEncryption()})
		}}, nil
	}
	return subject{}, fmt.Errorf("unknown backend %q (known: %v)", name, Subjects())
}

// commitCounter counts the driver commits and Sync calls of a framework WAL.
type commitCounter struct {
	backend.NopObserver
	commits atomic.Int64
	synced  atomic.Int64
}

func (c *commitCounter) Committed(records, bytes, callers int, d time.Duration) { c.commits.Add(1) }
func (c *commitCounter) Synced(time.Duration)                                   { c.synced.Add(1) }

// commitsSync reports whether each driver commit of backend name fsyncs:
// under SyncAlways, except for the memory backend, which does no I/O.
func commitsSync(name string, mode backend.SyncMode) bool {
	return mode == backend.SyncAlways && name != "memory"
}

// framework is a WAL opened through backend.Open, with all the shared
// machinery (lock, group commit, fail-stop) a user gets.
type framework struct {
	wal     backend.WAL
	durable bool // every commit fsyncs under SyncAlways
	count   *commitCounter
}

// openFramework opens the WAL cfg configures, with an observer counting its
// commits.
func openFramework(ctx context.Context, cfg backend.Config) (store, error) {
	c := &commitCounter{}
	cfg.Observer = c
	w, err := backend.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &framework{wal: w, durable: commitsSync(cfg.Backend, cfg.Sync), count: c}, nil
}

func (f *framework) append(ctx context.Context, recs [][]byte) error {
	_, err := f.wal.Append(ctx, recs...)
	return err
}

func (f *framework) replay(ctx context.Context, fn func([]byte)) (int64, error) {
	first, _, err := f.wal.Bounds(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	err = f.wal.Replay(ctx, first, func(_ uint64, data []byte) error {
		n++
		fn(data)
		return nil
	})
	return n, err
}

func (f *framework) truncateFront(ctx context.Context, before uint64) error {
	return f.wal.TruncateFront(ctx, before)
}

// syncs counts one fsync per driver commit under SyncAlways (a group-commit
// batch shares one), plus explicit Sync calls.
func (f *framework) syncs() int64 {
	if !f.durable {
		return 0
	}
	return f.count.commits.Load() + f.count.synced.Load()
}

func (f *framework) close() error { return f.wal.Close() }

// release empties an in-memory log before it is dropped: the memory backend
// keeps each directory's records for the life of the process.
func releaseStore(ctx context.Context, name string, s store) {
	f, ok := s.(*framework)
	if !ok || name != "memory" {
		return
	}
	if _, last, err := f.wal.Bounds(ctx); err == nil {
		_ = f.wal.TruncateFront(ctx, last+1)
	}
}
