package broker

import (
	"fmt"
	"sort"
)

// Slots are a fact's named values. A value is a string, a float64 (every
// number is normalised to float64, as JSON decodes it), a bool or a []string,
// so a fact asserted in-process and the same fact decoded from a WAL record
// compare equal.
type Slots map[string]any

// Fact is one element of working memory: a template name and its slots.
type Fact struct {
	Template string `json:"template"`
	Slots    Slots  `json:"slots"`
}

// Memory is the working memory the rules run on: a set of facts addressed by
// template. Asserting a fact that is already present changes nothing, which
// is what makes replaying a WAL record twice harmless. Memory is not safe for
// concurrent use; the session lock guards a session's memory.
type Memory struct {
	facts map[string]Fact // keyed by the fact's canonical encoding
}

// NewMemory returns an empty working memory.
func NewMemory() *Memory { return &Memory{facts: map[string]Fact{}} }

// Len returns the number of facts.
func (m *Memory) Len() int { return len(m.facts) }

// Assert adds f unless an identical fact is present, and reports whether it
// was added.
func (m *Memory) Assert(f Fact) (bool, error) {
	f, key, err := canonical(f)
	if err != nil {
		return false, err
	}
	return m.add(f, key), nil
}

// add inserts f, normalised, under its key unless present, and reports
// whether it was added.
func (m *Memory) add(f Fact, key string) bool {
	if _, ok := m.facts[key]; ok {
		return false
	}
	m.facts[key] = f
	return true
}

// Retract removes every fact of template whose slots include match, and
// returns how many it removed.
func (m *Memory) Retract(template string, match Slots) (int, error) {
	match, err := normalizeSlots(match)
	if err != nil {
		return 0, err
	}
	n := 0
	for key, f := range m.facts {
		if f.Template == template && matches(f.Slots, match) {
			delete(m.facts, key)
			n++
		}
	}
	return n, nil
}

// Modify overwrites slots in every fact of template whose slots include
// match. When none matches it asserts match plus slots, so a modify replayed
// onto a store that never saw the fact still leaves it in place. It returns
// how many facts it changed or created.
func (m *Memory) Modify(template string, match, slots Slots) (int, error) {
	match, err := normalizeSlots(match)
	if err != nil {
		return 0, err
	}
	var hit []string
	for key, f := range m.facts {
		if f.Template == template && matches(f.Slots, match) {
			hit = append(hit, key)
		}
	}
	if len(hit) == 0 {
		_, err := m.Assert(Fact{Template: template, Slots: merge(match, slots)})
		return 1, err
	}
	for _, key := range hit {
		f := m.facts[key]
		delete(m.facts, key)
		if _, err := m.Assert(Fact{Template: template, Slots: merge(f.Slots, slots)}); err != nil {
			return 0, err
		}
	}
	return len(hit), nil
}

// merge returns base with over's slots written over it.
func merge(base, over Slots) Slots {
	out := make(Slots, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Query returns the facts of template whose slots include match, in a stable
// order.
func (m *Memory) Query(template string, match Slots) []Fact {
	match, err := normalizeSlots(match)
	if err != nil {
		return nil
	}
	var keys []string
	for key, f := range m.facts {
		if f.Template == template && matches(f.Slots, match) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	out := make([]Fact, len(keys))
	for i, key := range keys {
		out[i] = m.facts[key]
	}
	return out
}

// Clone returns an independent copy. Facts are immutable once asserted, so
// the copy shares them.
func (m *Memory) Clone() *Memory {
	c := &Memory{facts: make(map[string]Fact, len(m.facts))}
	for k, f := range m.facts {
		c.facts[k] = f
	}
	return c
}

func matches(slots, match Slots) bool {
	for k, want := range match {
		got, ok := slots[k]
		if !ok || !equalValue(got, want) {
			return false
		}
	}
	return true
}

func equalValue(a, b any) bool {
	switch a := a.(type) {
	case []string:
		b, ok := b.([]string)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// canonical normalises f and returns it with its set key.
func canonical(f Fact) (Fact, string, error) {
	if f.Template == "" {
		return f, "", fmt.Errorf("broker: fact has no template")
	}
	slots, err := normalizeSlots(f.Slots)
	if err != nil {
		return f, "", fmt.Errorf("broker: fact %s: %w", f.Template, err)
	}
	f.Slots = slots
	key, err := factKey(f.Template, slots) // keys sorted, so equal slots encode equally
	if err != nil {
		return f, "", fmt.Errorf("broker: fact %s: %w", f.Template, err)
	}
	return f, key, nil
}

func normalizeSlots(s Slots) (Slots, error) {
	out := make(Slots, len(s))
	for k, v := range s {
		n, err := normalizeValue(v)
		if err != nil {
			return nil, fmt.Errorf("slot %s: %w", k, err)
		}
		out[k] = n
	}
	return out, nil
}

func normalizeValue(v any) (any, error) {
	switch v := v.(type) {
	case string, bool, float64:
		return v, nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	case []string:
		return append([]string{}, v...), nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list element %d is %T, want string", i, e)
			}
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, fmt.Errorf("null value")
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}
