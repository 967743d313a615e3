package conformance

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

func init() {
	addCases(orderCrash, testCase{
		name:  "kill_9",
		rule:  "Every Append acknowledged before kill -9 is present and byte-identical after reopen, indexes stay dense, records past the last acknowledgement are valid, and Append continues at last+1.",
		skip:  Capabilities.crashReason,
		run:   testKill9,
		child: childKill9,
	})
}

const (
	// envCrashRounds sets the number of kill -9 rounds.
	envCrashRounds     = "NAUTILUS_CRASH_ROUNDS"
	defaultCrashRounds = 50
	// envCrashSeed repeats a run's random choices.
	envCrashSeed = "NAUTILUS_CRASH_SEED"
	// truncateEvery is how often, in rounds, the parent truncates the log, so
	// the directory stays small however many rounds run.
	truncateEvery = 8
	// maxChildBatches bounds a child that is never killed.
	maxChildBatches = 1 << 16
)

func crashRounds(t *testing.T) int {
	s := os.Getenv(envCrashRounds)
	if s == "" {
		return defaultCrashRounds
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("conformance: %s=%q: want a positive number of rounds", envCrashRounds, s)
	}
	return n
}

func crashSeed(t *testing.T) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv(envCrashSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("conformance: %s=%q: want an unsigned integer", envCrashSeed, s)
		}
	}
	t.Logf("%s=%d", envCrashSeed, seed)
	return seed
}

func testKill9(t *testing.T, h Harness) {
	rounds, seed := crashRounds(t), crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	first, last := uint64(1), uint64(0) // the bounds the parent left
	for round := range rounds {
		acked := killChild(t, dir, rng, last)

		w := openWAL(t, h, dir)
		f, l, err := w.Bounds(t.Context())
		if err != nil {
			t.Fatalf("round %d: Bounds after kill -9: %v", round, err)
		}
		if f != first || l < acked || l < last {
			t.Fatalf("round %d: Bounds after kill -9 = (%d, %d), want first %d and last at least %d (acknowledged by the child) and %d (left by the parent)",
				round, f, l, first, acked, last)
		}
		// Everything present, acknowledged or not, must be the child's record.
		wantRecords(t, w, f, payloads(f, l))
		appendWant(t, w, l+1, payload(l+1))
		last = l + 1
		if round%truncateEvery == truncateEvery-1 {
			// Alternately empty the log and keep a short tail.
			before := last + 1
			if round%(2*truncateEvery) == truncateEvery-1 {
				before = max(first, last-uint64(rng.IntN(4)))
			}
			truncate(t, w, before)
			first = before
		}
		closeWAL(t, w)
	}
	t.Logf("%d rounds, last index %d", rounds, last)
}

// killChild starts a child appending to dir, whose WAL ends at last, kills it
// at a random point and returns the highest index it acknowledged (0: none).
func killChild(t *testing.T, dir string, rng *rand.Rand, last uint64) uint64 {
	t.Helper()
	// Where to kill: while it opens (possibly mid-recovery), once it has
	// opened, or after some acknowledgements.
	var waitFor string
	acksWanted := 0
	switch rng.IntN(10) {
	case 0:
		waitFor = "opening"
	case 1:
		waitFor = "opened"
	default:
		acksWanted = 1 + rng.IntN(24)
	}

	c := startChild(t, childCommand(t, dir, strconv.FormatUint(rng.Uint64(), 10)))
	defer c.stop()
	acked, acks := uint64(0), 0
	for {
		msg, ok := c.next()
		if !ok {
			break
		}
		switch {
		case strings.HasPrefix(msg, "ack "):
			var lo, hi uint64
			want := max(acked, last) + 1
			if _, err := fmt.Sscanf(msg, "ack %d %d", &lo, &hi); err != nil || lo != want || hi < lo {
				t.Fatalf("child acknowledged %q, want a range starting at %d", msg, want)
			}
			acked = hi
			acks++
			if acks == acksWanted {
				c.kill()
			}
		case msg == waitFor:
			c.kill()
		}
	}
	state := c.wait()
	if !c.killed || state.ExitCode() != -1 {
		t.Fatalf("child on %s ended by itself (%v) after %d acknowledgements; output:\n%s",
			dir, state, acks, c.output())
	}
	return acked
}

// childKill9 appends to the WAL until killed, reporting each acknowledged
// range. Its records are payload(index), so the parent can check them.
func childKill9(t *testing.T, h Harness) {
	dir, arg := childEnv(t)
	seed, err := strconv.ParseUint(arg, 10, 64)
	if err != nil {
		t.Fatalf("conformance: child seed %q: %v", arg, err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	childSays(t, "opening")
	w, err := h.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("child Open(%s): %v", dir, err)
	}
	_, last, err := w.Bounds(t.Context())
	if err != nil {
		t.Fatalf("child Bounds: %v", err)
	}
	childSays(t, "opened")
	for range maxChildBatches {
		n := uint64(1)
		if rng.IntN(3) == 0 {
			n = 2 + rng.Uint64N(7)
		}
		appendWant(t, w, last+n, payloads(last+1, last+n)...)
		childSays(t, fmt.Sprintf("ack %d %d", last+1, last+n))
		last += n
	}
	t.Fatalf("child appended %d batches and was never killed", maxChildBatches)
}
