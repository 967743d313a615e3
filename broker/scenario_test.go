package broker

import (
	"context"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/stretchr/testify/require"
)

func TestS1Accumulation(t *testing.T) {
	b := newBroker(t, memoryConfig(registryA()), nil)

	r := ask(t, b, "s1", "agent-a", "employee pii")
	require.Equal(t, []string{"hr"}, r.SourcesQueried)
	require.Equal(t, []string{"fin", "nvd"}, r.SourcesSkipped)
	require.Contains(t, r.RuleTrace, "nautilus-routing::match-sources-by-data-type")
	require.Equal(t, registryA()[0].Rows, r.Data["hr"])
	st := stateOfSession(t, b, "s1")
	require.Equal(t, []string{"employee", "pii"}, st.DataTypesSeen)
	require.Equal(t, []string{"hr"}, st.SourcesVisited)
	require.Equal(t, 1, st.PIISourcesAccessed)
	require.Equal(t, st, r.Exposure)

	r = ask(t, b, "s1", "agent-a", "cve")
	require.Equal(t, []string{"nvd"}, r.SourcesQueried)
	st = stateOfSession(t, b, "s1")
	require.Equal(t, []string{"cve", "employee", "pii"}, st.DataTypesSeen)
	require.Equal(t, []string{"hr", "nvd"}, st.SourcesVisited)
	require.Equal(t, 1, st.PIISourcesAccessed)
	require.Equal(t, []string{"nvd"}, st.LastSourcesQueried)
	require.Equal(t, r.RequestID, st.LastRequestID)
}

func TestS1EmptySessionStoresNothing(t *testing.T) {
	store := &savesStore{Store: memory.New()}
	b := newBroker(t, memoryConfig(registryA()), &Options{Store: store})
	r := ask(t, b, "", "agent-a", "employee pii")
	require.Equal(t, []string{"hr"}, r.SourcesQueried)
	require.Empty(t, store.saved)
	require.Zero(t, b.activeSessions())
}

func TestS2Combination(t *testing.T) {
	b := newBroker(t, memoryConfig(registryA()), nil)

	ask(t, b, "s2", "agent-a", "employee pii")
	r := ask(t, b, "s2", "agent-a", "budget financial")
	require.Equal(t, []string{"fin"}, r.SourcesQueried, "the request that raises the flag is still served")
	st := stateOfSession(t, b, "s2")
	require.Equal(t, []string{flagPIIFinancial}, st.ExposureFlags)
	require.Equal(t, "confidential", st.CumulativeClassification)

	r = ask(t, b, "s2", "agent-a", "employee pii")
	require.Empty(t, r.SourcesQueried)
	require.Equal(t, []string{"hr"}, r.SourcesDenied)
	require.Equal(t, []Denial{{SourceID: "hr", RuleName: ruleBlockEscalated,
		Reason: "session is flagged pii-financial-combination; no additional PII"}}, r.Denials)
	require.Contains(t, r.RuleTrace, "nautilus-routing::"+ruleBlockEscalated)

	r = ask(t, b, "s2", "agent-a", "cve")
	require.Equal(t, []string{"nvd"}, r.SourcesQueried)

	r = ask(t, b, "other", "agent-a", "employee pii")
	require.Equal(t, []string{"hr"}, r.SourcesQueried, "another session is unaffected")
	require.Empty(t, stateOfSession(t, b, "other").ExposureFlags)
}

func TestS4PIILimit(t *testing.T) {
	b := newBroker(t, memoryConfig(piiRegistry()), nil)
	for _, id := range []string{"crm", "payroll", "badge"} {
		r := ask(t, b, "s4", "agent-a", id+" record")
		require.Equal(t, []string{id}, r.SourcesQueried)
	}
	require.Equal(t, 3, stateOfSession(t, b, "s4").PIISourcesAccessed)

	r := ask(t, b, "s4", "agent-a", "hr record")
	require.Empty(t, r.SourcesQueried)
	require.Equal(t, []string{"hr"}, r.SourcesDenied)
	require.Len(t, r.Denials, 1)
	require.Equal(t, rulePIILimit, r.Denials[0].RuleName)

	r = ask(t, b, "s4", "agent-a", "crm record")
	require.Equal(t, []string{"crm"}, r.SourcesQueried, "a revisit of a counted source is allowed")
	st := stateOfSession(t, b, "s4")
	require.Equal(t, 3, st.PIISourcesAccessed, "a revisit does not count again")
	require.Equal(t, []string{"badge", "crm", "payroll"}, st.PIISourcesAccessedList)
}

func TestS5CrossAgent(t *testing.T) {
	b := newBroker(t, memoryConfig(registryA()), nil)
	ask(t, b, "s5", "agent-a", "employee pii")
	require.Empty(t, stateOfSession(t, b, "s5").ExposureFlags)

	r := ask(t, b, "s5", "agent-b", "cve")
	require.Equal(t, []string{"nvd"}, r.SourcesQueried, "agent-b is served")
	st := stateOfSession(t, b, "s5")
	require.Equal(t, []string{flagCrossAgent}, st.ExposureFlags)
	require.Equal(t, []string{"agent-a", "agent-b"}, st.AgentsSeen)
	require.Equal(t, []string{"agent-a"}, st.PIIAgents)
}

func escalationConfig() Config {
	var sources []Source
	for _, t := range []string{"email", "phone", "dob", "ssn"} {
		sources = append(sources, Source{ID: t + "_src", Type: "static", Classification: "unclassified", DataTypes: []string{t}})
	}
	cfg := memoryConfig(sources)
	cfg.Escalation = []EscalationPack{{ID: "pii-aggregation-confidential",
		Trigger: []string{"email", "phone", "dob", "ssn"}, ResultingLevel: "confidential"}}
	return cfg
}

func TestEscalationPack(t *testing.T) {
	orders := [][]string{
		{"email", "phone", "dob", "ssn"},
		{"ssn", "dob", "phone", "email"},
		{"phone", "ssn", "email", "dob"},
	}
	for i, order := range orders {
		b := newBroker(t, escalationConfig(), nil)
		sid := "esc"
		for j, typ := range order {
			r := ask(t, b, sid, "agent-a", "need "+typ)
			require.Equal(t, []string{typ + "_src"}, r.SourcesQueried, "order %d step %d: nothing denied", i, j)
			require.Empty(t, r.Denials)
			st := stateOfSession(t, b, sid)
			if j < 3 {
				require.Empty(t, st.ExposureFlags, "order %d: three of the four raise no flag", i)
				require.Equal(t, "unclassified", st.CumulativeClassification)
			} else {
				require.Equal(t, []string{"pii-aggregation-confidential"}, st.ExposureFlags)
				require.Equal(t, "confidential", st.CumulativeClassification)
			}
		}
	}
}

func TestPurposeAndClassificationRules(t *testing.T) {
	now := timeAt(1000)
	cfg := memoryConfig(append(registryA(), Source{ID: "ts", Type: "static", Classification: "top-secret",
		DataTypes: []string{"intel"}}, Source{ID: "audit", Type: "static", Classification: "unclassified",
		DataTypes: []string{"audit_log"}, AllowedPurposes: []string{"compliance"}}))
	b := newBroker(t, cfg, &Options{Now: now.get})
	ctx := context.Background()
	do := func(intent, purpose string, ttl float64) Response {
		r, err := b.Handle(ctx, Request{AgentID: "a", Intent: intent, Context: RequestContext{
			SessionID: "p", Clearance: "secret", Purpose: purpose, PurposeTTLSeconds: ttl}})
		require.NoError(t, err)
		return r
	}

	r := do("intel", "", 0)
	require.Equal(t, []string{"ts"}, r.SourcesDenied)
	require.Equal(t, ruleClassification, r.Denials[0].RuleName)

	r = do("audit log", "marketing", 0) // "audit_log" matches "audit log"
	require.Equal(t, []string{"audit"}, r.SourcesDenied)
	require.Equal(t, rulePurposeMismatch, r.Denials[0].RuleName)
	r = do("audit log", "compliance", 60)
	require.Equal(t, []string{"audit"}, r.SourcesQueried)

	now.advance(59)
	require.Equal(t, []string{"nvd"}, do("cve", "compliance", 0).SourcesQueried)
	now.advance(1)
	r = do("cve employee", "compliance", 0)
	require.Empty(t, r.SourcesQueried)
	require.Equal(t, []string{"hr", "nvd"}, r.SourcesDenied)
	require.Equal(t, []Denial{{SourceID: denyAll, RuleName: rulePurposeExpired, Reason: "session purpose expired (ttl 60s)"}}, r.Denials)
	require.Equal(t, "nautilus-routing::"+rulePurposeExpired, r.RuleTrace[0])
}

// A flagged session reaches no PII source by any word that routes to one:
// the block follows the source's data, not the intent's wording.
func TestBlockEscalatedFollowsTheData(t *testing.T) {
	sources := append(registryA(), Source{ID: "payroll", Type: "static", Classification: "pii",
		DataTypes: []string{"salary", "staff_records"}})
	sources[0].DataTypes = append(sources[0].DataTypes, "staff_records")
	b := newBroker(t, memoryConfig(sources), nil)
	ask(t, b, "flagged", "agent-a", "employee pii")
	ask(t, b, "flagged", "agent-a", "budget financial")
	require.Equal(t, []string{flagPIIFinancial}, stateOfSession(t, b, "flagged").ExposureFlags)

	intents := []string{"employee", "staff records", "staff_records", "EMPLOYEE roster", "salary"}
	for _, src := range sources {
		if isPII(src) {
			intents = append(intents, src.DataTypes...)
		}
	}
	for _, intent := range intents {
		r := ask(t, b, "flagged", "agent-a", intent)
		require.Empty(t, r.SourcesQueried, "intent %q", intent)
		require.NotEmpty(t, r.SourcesDenied, "intent %q", intent)
		for _, d := range r.Denials {
			require.Equal(t, ruleBlockEscalated, d.RuleName, "intent %q", intent)
		}
	}
	r := ask(t, b, "flagged", "agent-a", "employee cve")
	require.Equal(t, []string{"nvd"}, r.SourcesQueried, "non-PII sources are still served")
	require.Equal(t, []string{"hr"}, r.SourcesDenied)
	require.Equal(t, []string{"hr", "payroll"}, ask(t, b, "clean", "agent-a", "staff records").SourcesQueried,
		"an unflagged session is unaffected")
}

// savesStore records the states saved through it.
type savesStore struct {
	store.Store
	mu    sync.Mutex
	saved []store.Entry
}

func (s *savesStore) Save(ctx context.Context, states []store.Entry, cp uint64) error {
	s.mu.Lock()
	s.saved = append(s.saved, states...)
	s.mu.Unlock()
	return s.Store.Save(ctx, states, cp)
}
