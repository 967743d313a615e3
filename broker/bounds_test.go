package broker

import (
	"context"
	"errors"
	"fmt"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// boundsConfig has eight sources of one data type each, two of them PII,
// a financial one,
// two escalation packs and room for four agents per session.
func boundsConfig() Config {
	cfg := memoryConfig(nil)
	for i := range 8 {
		src := Source{ID: fmt.Sprintf("src%d", i), Type: "static", Classification: "unclassified",
			DataTypes: []string{fmt.Sprintf("t%d", i)}}
		if i < 2 {
			src.DataTypes = append(src.DataTypes, "pii")
		}
		cfg.Sources = append(cfg.Sources, src)
	}
	cfg.Sources = append(cfg.Sources, Source{ID: "fin", Type: "static", Classification: "cui",
		DataTypes: []string{"financial"}})
	cfg.Escalation = []EscalationPack{
		{ID: "pack-a", Trigger: []string{"t2", "t3"}, ResultingLevel: "confidential"},
		{ID: "pack-b", Trigger: []string{"t4", "t5", "t6"}, ResultingLevel: "secret"},
	}
	cfg.Limits.AgentsPerSession = 4
	return cfg
}

// listBound is what bounds one list of a session's State: the values it may
// hold under the configuration, and how many at most.
type listBound struct {
	name    string
	list    func(State) []string
	allowed func(cfg Config, st State) []string
	max     func(cfg Config) int
}

func sourceIDs(cfg Config, pii bool) []string {
	var out []string
	for _, s := range cfg.Sources {
		if !pii || isPII(s) {
			out = append(out, s.ID)
		}
	}
	return out
}

// stateListBounds is the bound of every list in State.
var stateListBounds = []listBound{
	{"last_sources_queried", func(s State) []string { return s.LastSourcesQueried },
		func(cfg Config, _ State) []string { return sourceIDs(cfg, false) },
		func(cfg Config) int { return len(cfg.Sources) }},
	{"sources_visited", func(s State) []string { return s.SourcesVisited },
		func(cfg Config, _ State) []string { return sourceIDs(cfg, false) },
		func(cfg Config) int { return len(cfg.Sources) }},
	{"pii_sources_accessed_list", func(s State) []string { return s.PIISourcesAccessedList },
		func(cfg Config, _ State) []string { return sourceIDs(cfg, true) },
		func(cfg Config) int { return len(sourceIDs(cfg, true)) }},
	{"data_types_seen", func(s State) []string { return s.DataTypesSeen },
		func(cfg Config, _ State) []string {
			var types []string
			for _, s := range cfg.Sources {
				types = append(types, s.DataTypes...)
			}
			return sortedSet(types)
		},
		func(cfg Config) int {
			var types []string
			for _, s := range cfg.Sources {
				types = append(types, s.DataTypes...)
			}
			return len(sortedSet(types))
		}},
	{"agents_seen", func(s State) []string { return s.AgentsSeen },
		nil, // any agent id, up to the limit
		func(cfg Config) int { return cfg.Limits.AgentsPerSession }},
	{"pii_agents", func(s State) []string { return s.PIIAgents },
		func(_ Config, st State) []string { return st.AgentsSeen },
		func(cfg Config) int { return cfg.Limits.AgentsPerSession }},
	{"exposure_flags", func(s State) []string { return s.ExposureFlags },
		func(cfg Config, _ State) []string {
			flags := []string{flagPIIFinancial, flagCrossAgent}
			for _, p := range cfg.Escalation {
				flags = append(flags, p.ID)
			}
			return flags
		},
		func(cfg Config) int { return 2 + len(cfg.Escalation) }},
}

// Every list of a session's State stays within its bound from the
// configuration under requests that name more agents and data types than
// it allows. agents_seen is the one list callers could grow: at its bound
// a new agent is refused with an error naming the limit, the state is left
// as it was, and the agents already in the session go on being served.
// The other lists hold only configured ids, so they never refuse.
func TestStateListsAreBounded(t *testing.T) {
	var st State
	require.Len(t, stateListBounds, len(st.lists()), "every list of State has a bound here")

	cfg := boundsConfig()
	b := newBroker(t, cfg, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var states []State
	refused := 0
	for i := range 400 {
		session := fmt.Sprintf("s%d", i%5)
		agent := fmt.Sprintf("agent-%d", rng.IntN(8)) // twice the limit
		intent := fmt.Sprintf("need t%d t%d t%d unknown t99", rng.IntN(10), rng.IntN(10), rng.IntN(10))
		if i%7 == 0 {
			intent = "need everything: pii financial t0 t1 t2 t3 t4 t5 t6 t7 t8 t9"
		}
		before := stateOfSessionOrNew(t, b, session)
		_, err := b.Handle(context.Background(), Request{AgentID: agent, Intent: intent,
			Context: RequestContext{SessionID: session, Clearance: levelTopSecret}})
		after := stateOfSessionOrNew(t, b, session)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "%v", err)
			require.Equal(t, "agent_id", re.Field)
			require.Contains(t, re.Msg, "limits.agents_per_session")
			require.Len(t, before.AgentsSeen, cfg.Limits.AgentsPerSession, "refused only at the bound")
			require.NotContains(t, before.AgentsSeen, agent)
			require.Equal(t, before, after, "a refused request leaves the session as it was")
			refused++
			continue
		}
		require.Contains(t, after.AgentsSeen, agent, "an admitted agent is recorded, never dropped")
		states = append(states, after)
	}
	require.NotZero(t, refused, "the run reached the agents bound")

	for _, lb := range stateListBounds {
		t.Run(lb.name, func(t *testing.T) {
			longest := 0
			for _, st := range states {
				l := lb.list(st)
				require.LessOrEqual(t, len(l), lb.max(cfg))
				if lb.allowed != nil {
					require.Subset(t, lb.allowed(cfg, st), l)
				}
				longest = max(longest, len(l))
			}
			require.Equal(t, lb.max(cfg), longest, "the run filled %s to its bound; requests went on being answered", lb.name)
		})
	}
}

func stateOfSessionOrNew(t *testing.T, b *Broker, id string) State {
	t.Helper()
	st, ok, err := b.Session(context.Background(), id)
	require.NoError(t, err)
	if !ok {
		return newState()
	}
	return st
}

// A session stored with more agents than a lowered limit keeps them all and
// serves them; it admits no new one.
func TestLoweredAgentLimitKeepsStoredAgents(t *testing.T) {
	cfg := boundsConfig()
	store := memory.New()
	b := newBroker(t, cfg, &Options{Store: store})
	for _, a := range []string{"a1", "a2", "a3"} {
		ask(t, b, "s", a, "need t7")
	}
	require.NoError(t, b.Close())

	cfg.Limits.AgentsPerSession = 2
	b = newBroker(t, cfg, &Options{Store: store})
	ask(t, b, "s", "a3", "need t6")
	_, err := b.Handle(context.Background(), Request{AgentID: "a4", Intent: "need t6",
		Context: RequestContext{SessionID: "s", Clearance: "secret"}})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, []string{"a1", "a2", "a3"}, stateOfSession(t, b, "s").AgentsSeen)
}

// Sessions nobody uses leave memory after the default idle timeout of five
// minutes, not before, and only once the store holds them; they come back
// from the store as they were.
func TestIdleSessionsLeaveMemoryAfterFiveMinutes(t *testing.T) {
	for _, m := range []struct {
		name string
		mode string
	}{{"synchronous", ModeSynchronous}, {"async", ModeAsync}} {
		t.Run(m.name, func(t *testing.T) {
			clock := timeAt(1000)
			cfg := boundsConfig()
			cfg.Persistence = PersistenceConfig{Mode: m.mode, WALEnabled: true, WALBackend: "memory", WALPath: t.TempDir()}
			b := newBroker(t, cfg, &Options{Now: clock.get})
			require.Equal(t, 5*time.Minute, b.opts.IdleTimeout, "the default idle timeout")
			for i := range 50 {
				ask(t, b, fmt.Sprintf("s%d", i), "a", "need t1 t2")
			}
			want := stateOfSession(t, b, "s7")
			clock.advance(60)
			ask(t, b, "s7", "a", "need t3") // s7 was used a minute later
			want7 := stateOfSession(t, b, "s7")
			require.NoError(t, b.Flush(context.Background()))
			require.Equal(t, 50, b.activeSessions())

			clock.advance(4*60 - 1) // 4m59s after the first 49
			require.Zero(t, b.evictIdle(clock.get()), "idle for less than IdleTimeout")
			clock.advance(1)
			require.Equal(t, 49, b.evictIdle(clock.get()), "idle for IdleTimeout (5 minutes)")
			require.Equal(t, 1, b.activeSessions(), "s7 is idle for 4 minutes only")
			clock.advance(60)
			require.Equal(t, 1, b.evictIdle(clock.get()))
			require.Zero(t, b.activeSessions())

			require.Equal(t, want7, stateOfSession(t, b, "s7"), "back from the store")
			require.NotEqual(t, want, want7)
			ask(t, b, "s8", "a", "need t4")
			require.Equal(t, []string{"t1", "t2", "t4"}, stateOfSession(t, b, "s8").DataTypesSeen, "s8 loaded back and updated")
		})
	}
}
