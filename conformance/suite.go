package conformance

import (
	"slices"
	"sort"
	"testing"
)

// testCase is one rule of the contract and the test that checks it.
type testCase struct {
	// name is the subtest name: short, lower case, words joined by '_'.
	name string
	// rule is the sentence naming the rule the case checks; a failure quotes it.
	rule string
	// skip returns why the case cannot run against a backend with these
	// capabilities, or "" when it can. nil: the case always runs.
	skip func(Capabilities) string
	// run checks the rule.
	run func(t *testing.T, h Harness)
	// child, when set, is the body of the case in a re-executed child process
	// (see child.go); run starts the child.
	child func(t *testing.T, h Harness)
}

// Group orders: each file of the suite adds its cases from init under an
// order of its own, so a new file contributes cases without editing the others.
const (
	orderContract    = 100 // contract.go: indexes, bounds, replay, truncation
	orderLifecycle   = 110 // lifecycle.go: context, Close, the directory lock
	orderConcurrency = 120 // concurrency.go
	orderCrash       = 200 // crash.go: kill -9; killpoint.go: at named operations
	orderPowerLoss   = 300 // powerloss_cases.go
	orderFaults      = 400 // fault.go, fault_tmpfs.go
	orderForeign     = 500 // foreign.go: files the backend did not write
	orderModes       = 510 // modes.go: permission bits of what the backend leaves
)

type group struct {
	order int
	cases []testCase
}

var groups []group

// addCases adds cases to the suite, run after every group of lower order and
// in the order given. Files call it from init; a duplicate name panics, since
// the name is how a child process and a -run pattern find the case.
func addCases(order int, cases ...testCase) {
	for _, c := range cases {
		if c.name == "" || c.rule == "" || c.run == nil {
			panic("conformance: case " + c.name + " lacks a name, a rule or a run function")
		}
		for _, g := range groups {
			for _, other := range g.cases {
				if other.name == c.name {
					panic("conformance: duplicate case " + c.name)
				}
			}
		}
	}
	groups = append(groups, group{order: order, cases: cases})
}

// allCases returns every case in the order Run runs them.
func allCases() []testCase {
	sorted := append([]group(nil), groups...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].order < sorted[j].order })
	var cases []testCase
	for _, g := range sorted {
		cases = append(cases, g.cases...)
	}
	return cases
}

// Run checks h against every case of the suite, each in its own subtest named
// after the case, with its own directory from t.TempDir: the contract, kill -9
// (at random points and at named file-system operations), power loss, injected
// faults and foreign files in the directory. Cases that need a capability or
// a way of opening h lacks skip, saying which. Some cases re-execute the test
// binary to run a child process; see the package documentation.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("conformance: Harness.Open is nil")
	}
	cases := allCases()
	for name := range h.Caps.Skip {
		if !slices.ContainsFunc(cases, func(c testCase) bool { return c.name == name }) {
			t.Fatalf("conformance: Caps.Skip names %q, which is no case of the suite", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.child != nil && isChild(t) {
				c.child(t, h)
				return
			}
			if c.skip != nil {
				if reason := c.skip(h.Caps); reason != "" {
					t.Skip(reason)
				}
			}
			if reason, ok := h.Caps.Skip[c.name]; ok {
				t.Skip("Caps.Skip: " + reason)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("rule: %s", c.rule)
				}
			})
			c.run(t, h)
		})
	}
}
