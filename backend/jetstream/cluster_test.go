package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jetstream"
	"github.com/nautilus-go/nautilus/backend/jetstream/jstest"
)

// electionTimeout bounds every wait on an election or a failover: generous,
// since a loaded 2-core machine can take seconds to elect a leader.
const electionTimeout = 2 * time.Minute

// startCluster starts an n-node cluster stopped at the end of the test.
func startCluster(t *testing.T, n int) *jstest.Cluster {
	t.Helper()
	c, err := jstest.Start(n, jstest.Options{Dir: t.TempDir(), ReadyTimeout: electionTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// openRemote opens a WAL on stream in cluster c with the given replicas and
// append_timeout; the local dir holds only the lock.
func openRemote(t *testing.T, c *jstest.Cluster, dir, stream string, replicas int, timeout time.Duration) backend.WAL {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), electionTimeout)
	defer cancel()
	w, err := backend.Open(ctx, backend.Config{Backend: jetstream.Name, Dir: dir, Params: map[string]string{
		jetstream.ParamURL:           c.URL(),
		jetstream.ParamStream:        stream,
		jetstream.ParamReplicas:      fmt.Sprint(replicas),
		jetstream.ParamAppendTimeout: timeout.String(),
	}})
	if err != nil {
		t.Fatalf("Open on stream %s: %v", stream, err)
	}
	return w
}

// readAll returns every record of w by index.
func readAll(t *testing.T, w backend.WAL) (first uint64, records []string) {
	t.Helper()
	first, last, err := w.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = w.Replay(t.Context(), first, func(index uint64, data []byte) error {
		if want := first + uint64(len(records)); index != want {
			return fmt.Errorf("replay gave index %d, want %d", index, want)
		}
		records = append(records, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := uint64(len(records)); got != last-first+1 {
		t.Fatalf("replay gave %d records, bounds [%d, %d] say %d", got, first, last, last-first+1)
	}
	return first, records
}

// acked is a record some appender had acknowledged at index.
type acked struct {
	index uint64
	data  string
}

// TestLeaderStoppedMidAppend stops the stream's leader while appenders
// run: their Appends carry on after the failover, and every acknowledged
// record is in the log at its index, once, in each appender's order.
func TestLeaderStoppedMidAppend(t *testing.T) {
	const (
		stream    = "failover"
		appenders = 4
		before    = 40 // acknowledged records before the leader stops
		after     = 40 // and after, to show Append resumed
	)
	c := startCluster(t, 3)
	dir := t.TempDir()
	w := openRemote(t, c, dir, stream, 3, electionTimeout)
	defer w.Close()

	var (
		mu      sync.Mutex
		acks    []acked
		counted = make(chan struct{}, 1<<16)
		stop    = make(chan struct{})
		errs    = make(chan error, appenders)
		wg      sync.WaitGroup
	)
	for a := range appenders {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				data := fmt.Sprintf("appender %d record %d", a, n)
				last, err := w.Append(t.Context(), []byte(data))
				if err != nil {
					errs <- fmt.Errorf("appender %d record %d: %w", a, n, err)
					return
				}
				mu.Lock()
				acks = append(acks, acked{last, data})
				mu.Unlock()
				counted <- struct{}{}
			}
		})
	}
	waitAcks := func(n int) {
		t.Helper()
		timeout := time.After(electionTimeout)
		for range n {
			select {
			case <-counted:
			case err := <-errs:
				close(stop)
				wg.Wait()
				t.Fatal(err)
			case <-timeout:
				t.Fatalf("fewer than %d records acknowledged within %s", n, electionTimeout)
			}
		}
	}
	waitAcks(before)
	leader := c.StreamLeader(stream)
	if leader < 0 {
		t.Fatal("no node leads the stream while it acknowledges appends")
	}
	c.Stop(leader)
	waitAcks(after)
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if got := c.StreamLeader(stream); got == leader || got < 0 {
		t.Fatalf("stream leader after stopping node %d: %d", leader, got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitStreamLeader(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	w = openRemote(t, c, dir, stream, 3, electionTimeout)
	first, records := readAll(t, w)
	if first != 1 {
		t.Fatalf("first index %d, want 1", first)
	}
	checkAcked(t, acks, first, records)
	seen := map[string]bool{}
	for _, r := range records {
		if seen[r] {
			t.Fatalf("record %q is in the log twice", r)
		}
		seen[r] = true
	}
	// Each appender's records are in the order it appended them.
	next := map[int]int{}
	for i, r := range records {
		var a, n int
		if _, err := fmt.Sscanf(r, "appender %d record %d", &a, &n); err != nil {
			t.Fatalf("record %d is %q: %v", first+uint64(i), r, err)
		}
		if n != next[a] {
			t.Fatalf("record %d is %q, want appender %d's record %d next", first+uint64(i), r, a, next[a])
		}
		next[a]++
	}
	if last, err := w.Append(t.Context(), []byte("after reopen")); err != nil || last != first+uint64(len(records)) {
		t.Fatalf("Append after reopen = %d, %v; want %d", last, err, first+uint64(len(records)))
	}
}

// checkAcked fails unless every acknowledged record is at its index.
func checkAcked(t *testing.T, acks []acked, first uint64, records []string) {
	t.Helper()
	for _, a := range acks {
		if a.index < first || a.index-first >= uint64(len(records)) {
			t.Fatalf("acknowledged record %d (%q) is missing: the log holds [%d, %d]", a.index, a.data, first, first+uint64(len(records))-1)
		}
		if got := records[a.index-first]; got != a.data {
			t.Fatalf("record %d is %q, acknowledged as %q", a.index, got, a.data)
		}
	}
}

// TestQuorumLost stops two of three nodes: Append fails within its time
// and acknowledges nothing. Once the nodes are back, a reopened WAL holds
// every acknowledged record, with at most the failed one after them, and
// appends again.
func TestQuorumLost(t *testing.T) {
	const stream = "quorum"
	const appendTimeout = 3 * time.Second
	c := startCluster(t, 3)
	dir := t.TempDir()
	w := openRemote(t, c, dir, stream, 3, appendTimeout)
	defer w.Close()
	var acks []acked
	for i := range 10 {
		data := fmt.Sprintf("record %d", i)
		last, err := w.Append(t.Context(), []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, acked{last, data})
	}

	leader := c.StreamLeader(stream)
	if leader < 0 {
		t.Fatal("no node leads the stream while it acknowledges appends")
	}
	other := (leader + 1) % 3
	c.Stop(leader)
	c.Stop(other)

	ctx, cancel := context.WithTimeout(t.Context(), electionTimeout)
	defer cancel()
	start := time.Now()
	last, err := w.Append(ctx, []byte("without quorum"))
	if err == nil {
		t.Fatalf("Append without quorum acknowledged index %d", last)
	}
	if ctx.Err() != nil {
		t.Fatalf("Append without quorum outlived its context (%s): %v", time.Since(start), err)
	}
	t.Logf("Append without quorum failed after %s: %v", time.Since(start), err)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for _, i := range []int{leader, other} {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitHealthy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitStreamLeader(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	w = openRemote(t, c, dir, stream, 3, electionTimeout)
	first, records := readAll(t, w)
	checkAcked(t, acks, first, records)
	switch extra := records[len(acks):]; {
	case len(extra) == 0:
	case len(extra) == 1 && extra[0] == "without quorum":
		// The failed publish reached the leader's log and was committed
		// once the quorum was back: an unacknowledged record, as a crash
		// between a write and its fsync leaves one.
	default:
		t.Fatalf("after the acknowledged records the log holds %q", extra)
	}
	want := first + uint64(len(records))
	if last, err := w.Append(t.Context(), []byte("after quorum")); err != nil || last != want {
		t.Fatalf("Append after the quorum is back = %d, %v; want %d", last, err, want)
	}
}

// TestSecondWriterLocked has two WALs, in different directories, on one
// stream: the one whose view of the log is stale gets ErrLocked, and the
// log holds the first writer's records only.
func TestSecondWriterLocked(t *testing.T) {
	const stream = "shared"
	c := startCluster(t, 1)
	w1 := openRemote(t, c, t.TempDir(), stream, 1, electionTimeout)
	defer w1.Close()
	if _, err := w1.Append(t.Context(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	w2 := openRemote(t, c, t.TempDir(), stream, 1, electionTimeout)
	defer w2.Close()
	if _, err := w1.Append(t.Context(), []byte("two")); err != nil {
		t.Fatal(err)
	}
	if last, err := w2.Append(t.Context(), []byte("interloper")); !errors.Is(err, backend.ErrLocked) {
		t.Fatalf("second writer's Append = %d, %v; want ErrLocked", last, err)
	}
	if _, err := w1.Append(t.Context(), []byte("three")); err != nil {
		t.Fatal(err)
	}
	_, records := readAll(t, w1)
	if fmt.Sprint(records) != "[one two three]" {
		t.Fatalf("log holds %q, want the first writer's records only", records)
	}
}
