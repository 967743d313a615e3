package broker

import (
	"fmt"
	"unicode/utf8"
)

// LimitsConfig bounds what one request may put into the broker, so that no
// caller can grow a session, the store or the WAL without bound. Zero values
// take the defaults. The HTTP API checks the field sizes as it decodes a
// request; Broker.Handle checks AgentsPerSession under the session lock.
type LimitsConfig struct {
	SessionIDBytes int `yaml:"session_id_bytes"` // context.session_id and the id in GET /v1/sessions/{id}
	AgentIDBytes   int `yaml:"agent_id_bytes"`
	IntentBytes    int `yaml:"intent_bytes"`
	// SessionTokenBytes bounds context.session_token; a token the broker
	// mints names a session id and an agent id, so it is longer than both.
	SessionTokenBytes int `yaml:"session_token_bytes"`
	// LabelBytes bounds every other string field (clearance, purpose).
	LabelBytes int `yaml:"label_bytes"`
	// AgentsPerSession bounds agents_seen, the one list of a session that
	// grows with what callers send; the other lists are bounded by the
	// configured sources, data types and escalation packs.
	AgentsPerSession int `yaml:"agents_per_session"`
}

// Defaults of the limits section.
const (
	DefaultSessionIDBytes    = 128
	DefaultAgentIDBytes      = 128
	DefaultIntentBytes       = 4 << 10
	DefaultSessionTokenBytes = 1 << 10
	DefaultLabelBytes        = 128
	DefaultAgentsPerSession  = 64
)

// settings lists the limits with their keys and defaults.
func (l *LimitsConfig) settings() []intSetting {
	return []intSetting{
		{"limits.session_id_bytes", &l.SessionIDBytes, DefaultSessionIDBytes},
		{"limits.agent_id_bytes", &l.AgentIDBytes, DefaultAgentIDBytes},
		{"limits.intent_bytes", &l.IntentBytes, DefaultIntentBytes},
		{"limits.session_token_bytes", &l.SessionTokenBytes, DefaultSessionTokenBytes},
		{"limits.label_bytes", &l.LabelBytes, DefaultLabelBytes},
		{"limits.agents_per_session", &l.AgentsPerSession, DefaultAgentsPerSession},
	}
}

func (l LimitsConfig) withDefaults() LimitsConfig {
	fillDefaults(l.settings())
	return l
}

func (l LimitsConfig) validate() error { return checkPositive(l.settings()) }

// intSetting is an integer setting whose zero value means its default.
type intSetting struct {
	key string
	v   *int
	def int
}

func fillDefaults(settings []intSetting) {
	for _, s := range settings {
		if *s.v == 0 {
			*s.v = s.def
		}
	}
}

func checkPositive(settings []intSetting) error {
	for _, s := range settings {
		if *s.v < 0 {
			return configErr(s.key, "%d: want a positive number (0 or unset: the default)", *s.v)
		}
	}
	return nil
}

// fieldLimit returns the byte limit of the request's string field at path
// ("context.session_id") and the setting that holds it.
func (l LimitsConfig) fieldLimit(path string) (int, string) {
	switch path {
	case "agent_id":
		return l.AgentIDBytes, "limits.agent_id_bytes"
	case "intent":
		return l.IntentBytes, "limits.intent_bytes"
	case "context.session_id":
		return l.SessionIDBytes, "limits.session_id_bytes"
	case "context.session_token":
		return l.SessionTokenBytes, "limits.session_token_bytes"
	}
	return l.LabelBytes, "limits.label_bytes"
}

// checkString refuses a string field over its limit.
func (l LimitsConfig) checkString(path, field, v string) error {
	limit, key := l.fieldLimit(path)
	if len(v) > limit {
		return &RequestError{Field: field, Msg: fmt.Sprintf("%d bytes, over the limit of %d (%s)", len(v), limit, key)}
	}
	return nil
}

// checkSessionID refuses a session id taken from a URL path that a request
// body could not carry.
func (l LimitsConfig) checkSessionID(field, id string) error {
	if !utf8.ValidString(id) {
		return &RequestError{Field: field, Msg: "not valid UTF-8"}
	}
	return l.checkString("context.session_id", field, id)
}

// checkAgents refuses a request that would add one agent too many to a
// session's agents_seen.
func (l LimitsConfig) checkAgents(st State, agent string) error {
	if len(st.AgentsSeen) >= l.AgentsPerSession && !contains(st.AgentsSeen, agent) {
		return &RequestError{Field: "agent_id", Msg: fmt.Sprintf(
			"the session already holds %d agents, the limit (limits.agents_per_session)", len(st.AgentsSeen))}
	}
	return nil
}
