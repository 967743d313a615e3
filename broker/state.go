package broker

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Templates of the facts a session's working memory holds.
const (
	tmplSession  = "session"
	tmplExposure = "session_exposure"
	tmplFlag     = "exposure_flag"
)

// Exposure categories: the session_exposure facts' category slot, each a
// sorted set in State.
const (
	catDataTypes  = "data_types_seen"
	catSources    = "sources_visited"
	catPIISources = "pii_sources_accessed_list"
	catAgents     = "agents_seen"
	catPIIAgents  = "pii_agents"
)

// State is a session's cumulative exposure, one JSON object per session with
// the keys Nautilus uses. Lists are sorted sets and never null.
type State struct {
	LastRequestID string `json:"last_request_id"`
	// LastRequestTS is when the last request was decided (RFC 3339); the
	// merge keeps the last_* fields of the latest request, whatever order
	// records arrive in.
	LastRequestTS            string   `json:"last_request_ts,omitempty"`
	LastSourcesQueried       []string `json:"last_sources_queried"`
	DataTypesSeen            []string `json:"data_types_seen"`
	SourcesVisited           []string `json:"sources_visited"`
	PIISourcesAccessedList   []string `json:"pii_sources_accessed_list"`
	PIISourcesAccessed       int      `json:"pii_sources_accessed"`
	PurposeStartTS           float64  `json:"purpose_start_ts"`
	PurposeTTLSeconds        float64  `json:"purpose_ttl_seconds"`
	AgentsSeen               []string `json:"agents_seen"`
	PIIAgents                []string `json:"pii_agents"`
	ExposureFlags            []string `json:"exposure_flags"`
	CumulativeClassification string   `json:"cumulative_classification"`
	// Owner is the agent whose request opened the session, with an agent
	// registry configured; only it (and those it shares with) may use it.
	Owner string `json:"owner,omitempty"`
}

// newState returns the state of a session nothing has happened in yet.
func newState() State {
	s := State{CumulativeClassification: levelUnclassified}
	s.normalize()
	return s
}

// normalize sorts and de-duplicates the lists, replaces nil with empty, and
// derives pii_sources_accessed from its list.
func (s *State) normalize() {
	for _, l := range s.lists() {
		*l = sortedSet(*l)
	}
	s.PIISourcesAccessed = len(s.PIISourcesAccessedList)
	if s.CumulativeClassification == "" {
		s.CumulativeClassification = levelUnclassified
	}
}

// Clone returns a deep copy.
func (s State) Clone() State {
	c := s
	for _, l := range c.lists() {
		*l = append([]string{}, *l...)
	}
	return c
}

// lists returns pointers to every list in s.
func (s *State) lists() []*[]string {
	return []*[]string{&s.LastSourcesQueried, &s.DataTypesSeen, &s.SourcesVisited,
		&s.PIISourcesAccessedList, &s.AgentsSeen, &s.PIIAgents, &s.ExposureFlags}
}

// exposureLists maps each exposure category to its list in s.
func (s *State) exposureLists() map[string]*[]string {
	return map[string]*[]string{
		catDataTypes:  &s.DataTypesSeen,
		catSources:    &s.SourcesVisited,
		catPIISources: &s.PIISourcesAccessedList,
		catAgents:     &s.AgentsSeen,
		catPIIAgents:  &s.PIIAgents,
	}
}

// decodeState parses a stored state, naming the session when it is damaged.
func decodeState(sessionID string, data []byte) (State, error) {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("broker: stored state of session %q does not decode: %w", sessionID, err)
	}
	s.normalize()
	return s, nil
}

// memoryOf builds the working memory that holds a session's state as facts.
func memoryOf(sessionID string, s State) *Memory {
	m := &Memory{facts: make(map[string]Fact, 1+len(s.DataTypesSeen)+len(s.SourcesVisited)+
		len(s.PIISourcesAccessedList)+len(s.AgentsSeen)+len(s.PIIAgents)+len(s.ExposureFlags))}
	m.assertNormal(Fact{Template: tmplSession, Slots: Slots{
		"session_id":                sessionID,
		"last_request_id":           s.LastRequestID,
		"last_request_ts":           s.LastRequestTS,
		"last_sources_queried":      append([]string{}, s.LastSourcesQueried...),
		"pii_sources_accessed":      float64(s.PIISourcesAccessed),
		"purpose_start_ts":          s.PurposeStartTS,
		"purpose_ttl_seconds":       s.PurposeTTLSeconds,
		"cumulative_classification": s.CumulativeClassification,
		"owner":                     s.Owner,
	}})
	for cat, values := range s.exposureLists() {
		for _, v := range *values {
			m.assertNormal(exposureFact(sessionID, cat, v))
		}
	}
	for _, flag := range s.ExposureFlags {
		m.assertNormal(flagFact(sessionID, flag))
	}
	return m
}

// assertNormal asserts a fact whose slots hold only normalised values
// (strings, float64s and lists of their own), as memoryOf builds them: it
// skips the copy Assert makes of the slots. A request builds its session's
// facts afresh, so this is on every request's path.
func (m *Memory) assertNormal(f Fact) {
	key, err := factKey(f.Template, f.Slots)
	if err != nil {
		panic(err) // memoryOf builds only encodable values
	}
	m.add(f, key)
}

func exposureFact(sessionID, category, value string) Fact {
	return Fact{Template: tmplExposure, Slots: Slots{"session_id": sessionID, "category": category, "value": value}}
}

func flagFact(sessionID, flag string) Fact {
	return Fact{Template: tmplFlag, Slots: Slots{"session_id": sessionID, "flag": flag}}
}

// mustAssert asserts a fact built by this package from well-typed values.
func (m *Memory) mustAssert(f Fact) {
	if _, err := m.Assert(f); err != nil {
		panic(err)
	}
}

// stateOf reads a session's state back from working memory.
func stateOf(m *Memory, sessionID string) State {
	s := State{}
	for _, f := range m.Query(tmplSession, Slots{"session_id": sessionID}) {
		s.LastRequestID = slotString(f, "last_request_id")
		s.LastRequestTS = slotString(f, "last_request_ts")
		s.LastSourcesQueried = slotStrings(f, "last_sources_queried")
		s.PurposeStartTS = slotNumber(f, "purpose_start_ts")
		s.PurposeTTLSeconds = slotNumber(f, "purpose_ttl_seconds")
		s.CumulativeClassification = slotString(f, "cumulative_classification")
		s.Owner = slotString(f, "owner")
	}
	lists := s.exposureLists()
	for _, f := range m.Query(tmplExposure, Slots{"session_id": sessionID}) {
		if l, ok := lists[slotString(f, "category")]; ok {
			*l = append(*l, slotString(f, "value"))
		}
	}
	for _, f := range m.Query(tmplFlag, Slots{"session_id": sessionID}) {
		s.ExposureFlags = append(s.ExposureFlags, slotString(f, "flag"))
	}
	s.normalize() // pii_sources_accessed is derived here, never incremented
	return s
}

func slotString(f Fact, key string) string { return slotStr(f.Slots, key) }

func slotNumber(f Fact, key string) float64 {
	n, _ := f.Slots[key].(float64)
	return n
}

func slotStrings(f Fact, key string) []string {
	l, _ := f.Slots[key].([]string)
	return l
}

func sortedSet(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}
