package broker

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The classification ladder, low to high.
const (
	levelUnclassified = "unclassified"
	levelCUI          = "cui"
	levelConfidential = "confidential"
	levelSecret       = "secret"
	levelTopSecret    = "top-secret"
)

var ladder = []string{levelUnclassified, levelCUI, levelConfidential, levelSecret, levelTopSecret}

// rank returns a level's place on the ladder, or -1 for an unknown level.
func rank(level string) int {
	for i, l := range ladder {
		if l == level {
			return i
		}
	}
	return -1
}

// denyAll is the source id of a denial that covers every source.
const denyAll = "*"

// Rule names, as the trace and denials carry them.
const (
	rulePurposeExpired  = "purpose-expired-deny"
	ruleBlockEscalated  = "block-escalated-session-from-additional-pii"
	rulePurposeMismatch = "deny-purpose-mismatch"
	rulePIILimit        = "cumulative-pii-limit"
	ruleClassification  = "default-classification-deny"
	ruleMatchDataType   = "match-sources-by-data-type"
	traceModule         = "nautilus-routing::"
)

// Flags the broker raises itself; escalation packs add their own ids.
const (
	flagPIIFinancial = "pii-financial-combination"
	flagCrossAgent   = "cross-agent-pii-propagation"
)

// piiLimit is how many distinct PII sources a session may access.
const piiLimit = 3

// Templates of the facts a request asserts.
const (
	tmplAgent    = "agent"
	tmplIntent   = "intent"
	tmplSource   = "source"
	tmplDecision = "routing_decision"
)

// rule is one production: when it matches working memory it yields
// decisions, which the engine asserts as routing_decision facts.
type rule struct {
	name     string
	salience int
	fire     func(m *Memory, now time.Time) []decision
}

type decision struct {
	sourceID string
	action   string // "route" or "deny"
	reason   string
}

// rules, highest salience first.
var rules = []rule{
	{rulePurposeExpired, 60, firePurposeExpired},
	{ruleBlockEscalated, 50, fireBlockEscalated},
	{rulePurposeMismatch, 40, firePurposeMismatch},
	{rulePIILimit, 30, firePIILimit},
	{ruleClassification, 20, fireClassification},
	{ruleMatchDataType, 10, fireMatchDataType},
}

// analyzeIntent returns the known data types the intent text needs: those
// it contains, lower-cased, with "_" also matching a space. Sorted, unique.
func analyzeIntent(intent string, known []string) []string {
	text := strings.ToLower(intent)
	var out []string
	for _, t := range known {
		lt := strings.ToLower(t)
		if strings.Contains(text, lt) || strings.Contains(text, strings.ReplaceAll(lt, "_", " ")) {
			out = append(out, t)
		}
	}
	return sortedSet(out)
}

// isPII reports whether a source holds personal data.
func isPII(s Source) bool {
	return s.Classification == "pii" || contains(s.DataTypes, "pii")
}

func sourceFact(s Source) Fact {
	return Fact{Template: tmplSource, Slots: Slots{
		"source_id":        s.ID,
		"classification":   s.Classification,
		"data_types":       sortedSet(s.DataTypes),
		"allowed_purposes": sortedSet(s.AllowedPurposes),
		"compartments":     sortedSet(s.Compartments),
		"pii":              isPII(s),
	}}
}

// the single facts of a request's memory.
func theAgent(m *Memory) Fact   { return first(m.Query(tmplAgent, nil)) }
func theIntent(m *Memory) Fact  { return first(m.Query(tmplIntent, nil)) }
func theSession(m *Memory) Fact { return first(m.Query(tmplSession, nil)) }

func first(fs []Fact) Fact {
	if len(fs) == 0 {
		return Fact{Slots: Slots{}}
	}
	return fs[0]
}

// requestedSources returns the sources whose data types meet the intent's:
// the sources the request is about, which the per-source rules consider.
func requestedSources(m *Memory) []Fact {
	need := slotStrings(theIntent(m), "data_types")
	var out []Fact
	for _, s := range m.Query(tmplSource, nil) {
		if len(intersect(need, slotStrings(s, "data_types"))) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func exposureValues(m *Memory, category string) []string {
	var out []string
	for _, f := range m.Query(tmplExposure, Slots{"category": category}) {
		out = append(out, slotString(f, "value"))
	}
	return sortedSet(out)
}

func hasFlag(m *Memory, flag string) bool {
	return len(m.Query(tmplFlag, Slots{"flag": flag})) > 0
}

func firePurposeExpired(m *Memory, now time.Time) []decision {
	s := theSession(m)
	ttl, start := slotNumber(s, "purpose_ttl_seconds"), slotNumber(s, "purpose_start_ts")
	if ttl <= 0 || unixSeconds(now)-start < ttl {
		return nil
	}
	return []decision{{denyAll, "deny", fmt.Sprintf("session purpose expired (ttl %gs)", ttl)}}
}

// fireBlockEscalated denies every PII source the request would reach, by
// the source's data, not by the intent's wording: "employee" reaches hr as
// surely as "pii" does.
func fireBlockEscalated(m *Memory, _ time.Time) []decision {
	if !hasFlag(m, flagPIIFinancial) {
		return nil
	}
	var out []decision
	for _, s := range requestedSources(m) {
		if s.Slots["pii"] == true {
			out = append(out, decision{slotString(s, "source_id"), "deny",
				"session is flagged " + flagPIIFinancial + "; no additional PII"})
		}
	}
	return out
}

func firePurposeMismatch(m *Memory, _ time.Time) []decision {
	purpose := slotString(theAgent(m), "purpose")
	var out []decision
	for _, s := range requestedSources(m) {
		allowed := slotStrings(s, "allowed_purposes")
		if len(allowed) > 0 && !contains(allowed, purpose) {
			out = append(out, decision{slotString(s, "source_id"), "deny",
				fmt.Sprintf("purpose %q not in allowed purposes %v", purpose, allowed)})
		}
	}
	return out
}

func firePIILimit(m *Memory, _ time.Time) []decision {
	accessed := exposureValues(m, catPIISources)
	if len(accessed) < piiLimit {
		return nil
	}
	var out []decision
	for _, s := range requestedSources(m) {
		id := slotString(s, "source_id")
		if s.Slots["pii"] == true && !contains(accessed, id) {
			out = append(out, decision{id, "deny",
				fmt.Sprintf("session already accessed %d PII sources (limit %d)", len(accessed), piiLimit)})
		}
	}
	return out
}

func fireClassification(m *Memory, _ time.Time) []decision {
	agent := theAgent(m)
	clearance, held := slotString(agent, "clearance"), slotStrings(agent, "compartments")
	var out []decision
	for _, s := range requestedSources(m) {
		level, need := slotString(s, "classification"), slotStrings(s, "compartments")
		switch missing := minus(need, held); {
		case rank(clearance) < rank(level):
			out = append(out, decision{slotString(s, "source_id"), "deny",
				fmt.Sprintf("clearance %q below classification %q", clearance, level)})
		case len(missing) > 0:
			out = append(out, decision{slotString(s, "source_id"), "deny",
				fmt.Sprintf("agent lacks compartments %v", missing)})
		}
	}
	return out
}

// minus returns the elements of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func fireMatchDataType(m *Memory, _ time.Time) []decision {
	var out []decision
	for _, s := range requestedSources(m) {
		out = append(out, decision{slotString(s, "source_id"), "route", "intent data types match the source"})
	}
	return out
}

// routing is what the rules decided for one request.
type routing struct {
	routed  []string // sorted; routed and not denied
	denied  []string // sorted; requested and denied
	skipped []string // sorted; not requested
	denials []Denial
	trace   []string
}

// runRules fires every rule in salience order over m, asserting each
// decision as a routing_decision fact, and reads the routing back from them:
// deny beats route for the same source, and a "*" denial denies all.
func runRules(m *Memory, now time.Time) routing {
	var trace []string
	for _, r := range rules {
		ds := r.fire(m, now)
		if len(ds) == 0 {
			continue
		}
		trace = append(trace, traceModule+r.name)
		for _, d := range ds {
			m.mustAssert(Fact{Template: tmplDecision, Slots: Slots{
				"source_id": d.sourceID, "action": d.action, "reason": d.reason,
				"rule_name": r.name, "salience": float64(r.salience),
			}})
		}
	}

	var res routing
	res.trace = trace
	if res.trace == nil {
		res.trace = []string{}
	}
	denials := m.Query(tmplDecision, Slots{"action": "deny"})
	sort.SliceStable(denials, func(i, j int) bool {
		return slotNumber(denials[i], "salience") > slotNumber(denials[j], "salience")
	})
	denyFirst := map[string]Fact{} // source -> its highest-salience denial
	for _, d := range denials {
		id := slotString(d, "source_id")
		if _, ok := denyFirst[id]; !ok {
			denyFirst[id] = d
		}
	}
	requested := map[string]bool{}
	for _, d := range m.Query(tmplDecision, Slots{"action": "route"}) {
		requested[slotString(d, "source_id")] = true
	}
	for _, d := range denials {
		if id := slotString(d, "source_id"); id != denyAll {
			requested[id] = true
		}
	}
	all, hasAll := denyFirst[denyAll]
	if hasAll {
		res.denials = append(res.denials, denialOf(all))
	}
	for _, s := range m.Query(tmplSource, nil) {
		id := slotString(s, "source_id")
		switch d, denied := denyFirst[id]; {
		case !requested[id]:
			res.skipped = append(res.skipped, id)
		case hasAll:
			res.denied = append(res.denied, id)
		case denied:
			res.denied = append(res.denied, id)
			res.denials = append(res.denials, denialOf(d))
		default:
			res.routed = append(res.routed, id)
		}
	}
	res.routed, res.denied, res.skipped = sortedSet(res.routed), sortedSet(res.denied), sortedSet(res.skipped)
	if res.denials == nil {
		res.denials = []Denial{}
	}
	return res
}

func denialOf(d Fact) Denial {
	return Denial{SourceID: slotString(d, "source_id"), Reason: slotString(d, "reason"), RuleName: slotString(d, "rule_name")}
}

func intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		if contains(b, v) {
			out = append(out, v)
		}
	}
	return sortedSet(out)
}

// unixSeconds is a timestamp as session state stores it.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
