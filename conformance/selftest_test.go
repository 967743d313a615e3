package conformance_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
	"github.com/stretchr/testify/require"
)

// envMutant names the broken backend a re-executed self-test runs the suite on.
const envMutant = "NAUTILUS_CONFORMANCE_MUTANT"

// A mutant is a backend with one deliberate bug and the case that must catch it.
type mutant struct {
	name    string
	catches string // the case that must fail
	harness func() conformance.Harness
}

var mutants = []mutant{
	{"drops_last_record_on_reopen", "reopen_continues", onefileMutant(flaws{dropLastOnReopen: true})},
	{"reuses_indexes_after_truncation", "truncate_all_continues", onefileMutant(flaws{resetWhenEmpty: true})},
	{"keeps_caller_slices", "append_copies", onefileMutant(flaws{keepCallerSlices: true})},
	{"acknowledges_before_writing", "kill_9", onefileMutant(flaws{buffered: true})},
	{"opens_another_backends_log_as_empty", "other_backends_log", onefileMutant(flaws{ignoresForeignFiles: true})},
	{"creates_files_before_refusing", "foreign_files", onefileMutant(flaws{createsBeforeCheck: true})},
	{"creates_world_readable_file", "private_files", onefileMutant(flaws{worldReadable: true})},
	{"ignores_done_context", "cancelled_context", decorated(func(w backend.WAL) backend.WAL { return ignoresContext{w} })},
	{"swallows_callback_error", "replay_callback_error", decorated(func(w backend.WAL) backend.WAL { return swallowsCallbackError{w} })},
	{"clamps_replay_range", "replay_range", decorated(func(w backend.WAL) backend.WAL { return clampsReplay{w} })},
	{"clamps_truncate_range", "truncate_out_of_range", decorated(func(w backend.WAL) backend.WAL { return clampsTruncate{w} })},
	{"answers_after_close", "close", decorated(func(w backend.WAL) backend.WAL { return &answersAfterClose{WAL: w} })},
	{"returns_first_index_of_batch", "group_commit", decorated(func(w backend.WAL) backend.WAL { return returnsFirstIndex{w} })},
	{"shares_open_handle", "second_open_locked", sharesHandle},
	{"locks_per_process", "second_open_locked_other_process", locksPerProcess},
}

// TestSuiteCatchesBrokenBackends runs the suite on each mutant in a child
// process and requires the mutant's case to fail there: a case that is
// missing, renamed or toothless fails this test. The child runs only that
// case, so a mutant's other failures do not matter.
func TestSuiteCatchesBrokenBackends(t *testing.T) {
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			if os.Getenv(envMutant) == m.name {
				conformance.Run(t, m.harness())
				return
			}
			exe, err := os.Executable()
			require.NoError(t, err)
			cmd := exec.Command(exe, "-test.run=^"+t.Name()+"$/^"+m.catches+"$", "-test.count=1")
			cmd.Env = append(os.Environ(), envMutant+"="+m.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the suite passed a backend that %s; output:\n%s", m.name, out)
			require.Contains(t, string(out), "--- FAIL: "+t.Name()+"/"+m.catches+" ",
				"case %s did not fail on a backend that %s; output:\n%s", m.catches, m.name, out)
		})
	}
}

func onefileMutant(fl flaws) func() conformance.Harness {
	return func() conformance.Harness {
		return conformance.Harness{Open: openOnefile(backend.SyncAlways, fl)}
	}
}

// openMemory opens the memory backend through the shared wrapper.
func openMemory(ctx context.Context, dir string) (backend.WAL, error) {
	return backend.Open(ctx, backend.Config{Backend: "memory", Dir: dir})
}

// decorated returns a harness over the memory backend whose WALs are wrapped
// by bug, which overrides one method of a correct WAL.
func decorated(bug func(backend.WAL) backend.WAL) func() conformance.Harness {
	return func() conformance.Harness {
		return conformance.Harness{
			Open: func(ctx context.Context, dir string) (backend.WAL, error) {
				w, err := openMemory(ctx, dir)
				if err != nil {
					return nil, err
				}
				return bug(w), nil
			},
			Caps: conformance.Capabilities{NotPersistent: true},
		}
	}
}

type ignoresContext struct{ backend.WAL }

func (w ignoresContext) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	return w.WAL.Append(context.WithoutCancel(ctx), data...)
}

type swallowsCallbackError struct{ backend.WAL }

func (w swallowsCallbackError) Replay(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	return w.WAL.Replay(ctx, from, func(i uint64, d []byte) error { fn(i, d); return nil })
}

type clampsReplay struct{ backend.WAL }

func (w clampsReplay) Replay(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	first, last, err := w.Bounds(ctx)
	if err != nil {
		return err
	}
	return w.WAL.Replay(ctx, min(max(from, first), last+1), fn)
}

type clampsTruncate struct{ backend.WAL }

func (w clampsTruncate) TruncateFront(ctx context.Context, before uint64) error {
	first, last, err := w.Bounds(ctx)
	if err != nil {
		return err
	}
	return w.WAL.TruncateFront(ctx, min(max(before, first), last+1))
}

// answersAfterClose keeps answering Bounds from what it saw before Close.
type answersAfterClose struct {
	backend.WAL
	mu          sync.Mutex
	closed      bool
	first, last uint64
}

func (w *answersAfterClose) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.first, w.last, _ = w.WAL.Bounds(context.Background())
		w.closed = true
	}
	return w.WAL.Close()
}

func (w *answersAfterClose) Bounds(ctx context.Context) (uint64, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.first, w.last, nil
	}
	return w.WAL.Bounds(ctx)
}

type returnsFirstIndex struct{ backend.WAL }

func (w returnsFirstIndex) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	last, err := w.WAL.Append(ctx, data...)
	if err != nil || len(data) == 0 {
		return last, err
	}
	return last + 1 - uint64(len(data)), nil
}

// sharesHandle hands out the WAL already open on a directory instead of
// reporting ErrLocked, as a backend caching its handles would.
func sharesHandle() conformance.Harness {
	var mu sync.Mutex
	open := map[string]backend.WAL{}
	return conformance.Harness{
		Open: func(ctx context.Context, dir string) (backend.WAL, error) {
			mu.Lock()
			defer mu.Unlock()
			w, err := openMemory(ctx, dir)
			if errors.Is(err, backend.ErrLocked) && open[dir] != nil {
				return open[dir], nil
			}
			if err == nil {
				open[dir] = w
			}
			return w, err
		},
		Caps: conformance.Capabilities{NotPersistent: true},
	}
}

// locksPerProcess locks a directory of its own per process, so only a second
// Open in the same process is refused.
func locksPerProcess() conformance.Harness {
	return conformance.Harness{
		Open: func(ctx context.Context, dir string) (backend.WAL, error) {
			return openMemory(ctx, filepath.Join(dir, "pid-"+strconv.Itoa(os.Getpid())))
		},
		Caps: conformance.Capabilities{NotPersistent: true},
	}
}
