package broker

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// randomRecords returns n records of session "s" as brokers would write them:
// each from a state that has seen some random subset of the records before
// it (a broker's stale view, so the merge must hold for any records, not only
// serialised ones), with random routes, agents, purpose clocks and times.
func randomRecords(t *testing.T, b *Broker, rng *rand.Rand, n int) []Record {
	t.Helper()
	sources := []string{"hr", "fin", "nvd", "crm", "payroll"}
	types := []string{"pii", "employee", "financial", "budget", "cve", "crm_record", "payroll_record"}
	agents := []string{"a", "b", "c"}
	var recs []Record
	for i := range n {
		view := newState()
		for _, r := range recs {
			if rng.IntN(2) == 0 {
				var err error
				view, err = applyRecord(view, r)
				require.NoError(t, err)
			}
		}
		routed := []string{}
		for _, s := range sources {
			if rng.IntN(3) == 0 {
				routed = append(routed, s)
			}
		}
		var intent []string
		for _, ty := range types {
			if rng.IntN(3) == 0 {
				intent = append(intent, ty)
			}
		}
		req := Request{AgentID: agents[rng.IntN(len(agents))]}
		if rng.IntN(4) == 0 {
			req.Context.PurposeTTLSeconds = float64(1 + rng.IntN(3))
		}
		// Times collide on purpose: ties are broken by request id.
		now := time.Unix(1_700_000_000+int64(rng.IntN(n)), int64(rng.IntN(2))*500_000_000)
		id := fmt.Sprintf("req-%03d", i)
		ops := b.exposureUpdate("s", id, view, req, routed, intent, now)
		rec := Record{V: recordVersion, RequestID: id, SessionID: "s", AgentID: req.AgentID, TS: timestamp(now), Ops: ops}
		data, err := EncodeRecord(rec)
		require.NoError(t, err)
		rec, err = DecodeRecord(data) // as replay sees it
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	return recs
}

func applyAll(t *testing.T, recs []Record) State {
	t.Helper()
	st := newState()
	for _, r := range recs {
		var err error
		st, err = applyRecord(st, r)
		require.NoError(t, err)
	}
	return st
}

// Several brokers' WALs replayed in any order, any number of times, reach
// one state: the exposure merge is commutative and idempotent.
func TestMergeConvergesInAnyOrder(t *testing.T) {
	cfg := memoryConfig(append(registryA(), piiRegistry()[:3]...))
	cfg.Escalation = []EscalationPack{{ID: "hr-and-budget", Trigger: []string{"employee", "budget"}, ResultingLevel: "secret"}}
	b := newBroker(t, cfg, nil)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		recs := randomRecords(t, b, rng, 2+rng.IntN(10))
		want := applyAll(t, recs)
		for range 5 {
			shuffled := append([]Record{}, recs...)
			// Some records twice, as when a crash between the store write
			// and the checkpoint replays them.
			for _, r := range recs {
				if rng.IntN(3) == 0 {
					shuffled = append(shuffled, r)
				}
			}
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			require.Equal(t, want, applyAll(t, shuffled), "seed %d", seed)
		}
		// Merging two partial replays (one broker's records into the state
		// the other left) gives the same too.
		cut := rng.IntN(len(recs) + 1)
		st := applyAll(t, recs[cut:])
		for _, r := range recs[:cut] {
			var err error
			st, err = applyRecord(st, r)
			require.NoError(t, err)
		}
		require.Equal(t, want, st, "seed %d, cut %d", seed, cut)
	}
}

// The merge keeps what each rule promises, not merely some fixed point.
func TestMergeSessionRules(t *testing.T) {
	cur := Slots{"cumulative_classification": "secret", "purpose_start_ts": 100.0, "purpose_ttl_seconds": 60.0,
		"owner": "a", "last_request_id": "req-2", "last_request_ts": "2026-01-01T00:00:02Z",
		"last_sources_queried": []string{"hr"}, "pii_sources_accessed": 2.0}
	older := Slots{"cumulative_classification": "cui", "purpose_start_ts": 200.0, "purpose_ttl_seconds": 10.0,
		"owner": "b", "last_request_id": "req-1", "last_request_ts": "2026-01-01T00:00:01.5Z",
		"last_sources_queried": []string{"fin"}, "pii_sources_accessed": 1.0}
	got := mergeSession(cur, older)
	require.Equal(t, "secret", got["cumulative_classification"], "the higher level")
	require.Equal(t, 100.0, got["purpose_start_ts"], "the earliest purpose clock")
	require.Equal(t, 60.0, got["purpose_ttl_seconds"], "with its own TTL")
	require.Equal(t, "a", got["owner"])
	require.Equal(t, "req-2", got["last_request_id"], "the later request's")
	require.Equal(t, []string{"hr"}, got["last_sources_queried"])
	require.Equal(t, 2.0, got["pii_sources_accessed"])

	newer := Slots{"cumulative_classification": "top-secret", "last_request_id": "req-3",
		"last_request_ts": "2026-01-01T00:00:02.25Z", "last_sources_queried": []string{"nvd"}}
	got = mergeSession(cur, newer)
	require.Equal(t, "top-secret", got["cumulative_classification"])
	require.Equal(t, "req-3", got["last_request_id"], "2.25 s is after 2 s, though it sorts before as text")
	require.Equal(t, []string{"nvd"}, got["last_sources_queried"])
	require.Equal(t, "a", got["owner"], "a request that sets no owner keeps it")

	// A record from before last_request_ts existed is taken as the latest.
	got = mergeSession(cur, Slots{"last_request_id": "req-old", "last_sources_queried": []string{}})
	require.Equal(t, "req-old", got["last_request_id"])
}
