package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/broker/identity"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/stretchr/testify/require"
)

// Test secrets, one per key of authConfig.
const (
	secretA     = "key-of-agent-a-0123456789"
	secretB     = "key-of-agent-b-0123456789"
	secretC     = "key-of-agent-c-0123456789"
	secretLow   = "key-of-agent-low-0123456789"
	secretAdmin = "key-of-the-admin-0123456789"
	signingKey1 = "signing-key-one-0123456789abcdef"
	signingKey2 = "signing-key-two-0123456789abcdef"
)

// authConfig is registry A behind keys: agent-a (secret) shares its
// sessions with agent-c; agent-b (secret) shares nothing; agent-low holds
// unclassified only.
func authConfig(sources []Source) Config {
	cfg := memoryConfig(sources)
	cfg.Agents = map[string]Agent{
		"agent-a":   {Clearance: "secret", DefaultPurpose: "ops", ShareSessionsWith: []string{"agent-c"}},
		"agent-b":   {Clearance: "secret"},
		"agent-c":   {Clearance: "secret"},
		"agent-low": {Clearance: "unclassified"},
	}
	key := func(id, agent, role, secret string) APIKey {
		return APIKey{ID: id, Agent: agent, Role: role, SHA256: identity.HashSecret([]byte(secret)).String()}
	}
	cfg.API.Keys = []APIKey{key("a", "agent-a", "", secretA), key("b", "agent-b", "", secretB),
		key("c", "agent-c", "", secretC), key("low", "agent-low", "", secretLow), key("ops", "", RoleAdmin, secretAdmin)}
	return cfg
}

// withTokens turns session tokens on, signing with the secret in
// NAUTILUS_TEST_SIGNING_1 (and verifying with NAUTILUS_TEST_SIGNING_2 too
// when rotated).
func withTokens(t *testing.T, cfg Config, required, rotated bool) Config {
	t.Setenv("NAUTILUS_TEST_SIGNING_1", signingKey1)
	t.Setenv("NAUTILUS_TEST_SIGNING_2", signingKey2)
	cfg.SessionTokens = SessionTokensConfig{Enabled: true, Required: required,
		SigningKeys: []SigningKeyConfig{{ID: "k1", SecretEnv: "NAUTILUS_TEST_SIGNING_1"}}}
	if rotated {
		cfg.SessionTokens.SigningKeys = append([]SigningKeyConfig{{ID: "k2", SecretEnv: "NAUTILUS_TEST_SIGNING_2"}},
			cfg.SessionTokens.SigningKeys...)
	}
	return cfg
}

// client is an HTTP caller holding one key ("" for none).
type client struct {
	t   *testing.T
	url string
	key string
	hc  *http.Client
}

// servers returns two brokers of cfg, one served over plain HTTP and one
// over TLS.
func servers(t *testing.T, cfg Config, opts *Options) map[string]*httptest.Server {
	t.Helper()
	handler := func() *Handler {
		h := NewHandler(nil)
		h.Serve(newBroker(t, cfg, opts))
		return h
	}
	out := map[string]*httptest.Server{"http": httptest.NewServer(handler()), "tls": httptest.NewTLSServer(handler())}
	for _, s := range out {
		t.Cleanup(s.Close)
	}
	return out
}

func (c client) as(key string) client { c.key = key; return c }

func (c client) do(method, path, body string) (int, map[string]any, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	require.NoError(c.t, err)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	code, out := decodeBody(c.t, resp)
	return code, out, resp.Header
}

// ask posts a request; ctx is its context object.
func (c client) ask(agent, intent string, ctx map[string]any) (int, map[string]any) {
	c.t.Helper()
	body := map[string]any{"intent": intent}
	if ctx != nil { // the strict decoder refuses "context": null
		body["context"] = ctx
	}
	if agent != "" {
		body["agent_id"] = agent
	}
	b, _ := json.Marshal(body)
	code, out, _ := c.do(http.MethodPost, "/v1/request", string(b))
	return code, out
}

func (c client) session(id string) (int, map[string]any) {
	c.t.Helper()
	code, out, _ := c.do(http.MethodGet, "/v1/sessions/"+id, "")
	return code, out
}

// eachServer runs fn against cfg's handler over HTTP and over TLS.
func eachServer(t *testing.T, cfg Config, opts *Options, fn func(t *testing.T, c client)) {
	for name, s := range servers(t, cfg, opts) {
		t.Run(name, func(t *testing.T) { fn(t, client{t: t, url: s.URL, hc: s.Client()}) })
	}
}

func sid(id string) map[string]any { return map[string]any{"session_id": id} }

func TestAuthBearerRequired(t *testing.T) {
	eachServer(t, authConfig(registryA()), nil, func(t *testing.T, c client) {
		for _, key := range []string{"", "wrong-key-0123456789", secretA + "x", strings.ToUpper(secretA),
			identity.HashSecret([]byte(secretA)).String()} {
			code, body, hdr := c.as(key).do(http.MethodPost, "/v1/request", requestJSON("agent-a", "cve", "s"))
			require.Equal(t, http.StatusUnauthorized, code, "key %q", key)
			require.Contains(t, body["error"], "API key")
			require.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
			code, body = c.as(key).session("s")
			require.Equal(t, http.StatusUnauthorized, code)
			require.NotContains(t, body["error"], secretA, "the answer never echoes a secret")
		}
		// A key in another scheme or without the scheme is no bearer key.
		for _, hdr := range []string{secretA, "Basic " + secretA, "Bearer" + secretA, "Bearer  " + secretA} {
			req, _ := http.NewRequest(http.MethodGet, c.url+"/v1/sessions/s", nil)
			req.Header.Set("Authorization", hdr)
			resp, err := c.hc.Do(req)
			require.NoError(t, err)
			code, _ := decodeBody(t, resp)
			require.Equal(t, http.StatusUnauthorized, code, "Authorization %q", hdr)
		}
		req, _ := http.NewRequest(http.MethodGet, c.url+"/v1/sessions/s", nil)
		req.Header.Set("Authorization", "bEARER "+secretA)
		resp, err := c.hc.Do(req)
		require.NoError(t, err)
		code, _ := decodeBody(t, resp)
		require.Equal(t, http.StatusNotFound, code, "the scheme is case-insensitive")
		code, _, _ = c.do(http.MethodGet, "/healthz", "")
		require.Equal(t, http.StatusOK, code, "health needs no key")
		code, r := c.as(secretA).ask("agent-a", "cve", sid("s"))
		require.Equal(t, http.StatusOK, code, "%v", r)
	})
}

func TestAuthAgentComesFromKey(t *testing.T) {
	eachServer(t, authConfig(registryA()), nil, func(t *testing.T, c client) {
		a := c.as(secretA)
		code, r := a.ask("", "employee pii", sid("mine"))
		require.Equal(t, http.StatusOK, code, "agent_id left out is the key's: %v", r)
		require.Equal(t, []any{"agent-a"}, r["exposure"].(map[string]any)["agents_seen"])
		require.Equal(t, "agent-a", r["exposure"].(map[string]any)["owner"])

		code, r = a.ask("agent-b", "cve", sid("theirs"))
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], `agent_id: "agent-b" is not the agent of key "a"`)

		// An admin key acts as any registry agent, but only a registry one.
		code, _ = c.as(secretAdmin).ask("agent-b", "cve", sid("by-admin"))
		require.Equal(t, http.StatusOK, code)
		code, r = c.as(secretAdmin).ask("mallory", "cve", sid("by-admin"))
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], `unknown agent "mallory"`)
		code, r = c.as(secretAdmin).ask("", "cve", nil)
		require.Equal(t, http.StatusBadRequest, code)
		require.Contains(t, r["error"], "agent_id: missing")
	})
}

func TestClearanceAndPurposeFromRegistry(t *testing.T) {
	sources := append(registryA(), Source{ID: "ops-log", Type: "static", Classification: "unclassified",
		DataTypes: []string{"ops_log"}, AllowedPurposes: []string{"ops"}})
	eachServer(t, authConfig(sources), nil, func(t *testing.T, c client) {
		a, low := c.as(secretA), c.as(secretLow)
		for _, tc := range []struct {
			c         client
			clearance string
			status    int
			errPart   string
		}{
			{a, "top-secret", http.StatusForbidden, `"top-secret" is above agent "agent-a"'s clearance "secret"`},
			{low, "cui", http.StatusForbidden, `clearance "unclassified"`},
			{a, "ultra", http.StatusBadRequest, `context.clearance: unknown level "ultra"`},
			{a, "SECRET", http.StatusBadRequest, `unknown level "SECRET"`},
		} {
			code, r := tc.c.ask("", "employee", map[string]any{"clearance": tc.clearance})
			require.Equal(t, tc.status, code, "%s: %v", tc.clearance, r)
			require.Contains(t, r["error"], tc.errPart)
		}
		// Less than the registry's is allowed, and binds.
		code, r := a.ask("", "employee", map[string]any{"clearance": "unclassified"})
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, []any{"hr"}, r["sources_denied"])
		// None given: the registry's.
		_, r = a.ask("", "employee", nil)
		require.Equal(t, []any{"hr"}, r["sources_queried"])
		_, r = low.ask("", "employee", nil)
		require.Equal(t, []any{"hr"}, r["sources_denied"])
		require.Equal(t, ruleClassification, r["denials"].([]any)[0].(map[string]any)["rule_name"])
		// No purpose given: the registry's default purpose.
		_, r = a.ask("", "ops log", nil)
		require.Equal(t, []any{"ops-log"}, r["sources_queried"])
		_, r = a.ask("", "ops log", map[string]any{"purpose": "marketing"})
		require.Equal(t, []any{"ops-log"}, r["sources_denied"])
	})
}

func TestPurposeTTLBoundedAndOwnerOnly(t *testing.T) {
	cfg := authConfig(registryA())
	cfg.PurposeTTL = PurposeTTLConfig{MinSeconds: 60, MaxSeconds: 3600}
	eachServer(t, cfg, nil, func(t *testing.T, c client) {
		a, shared := c.as(secretA), c.as(secretC)
		for _, ttl := range []float64{0.000001, 59, 3601, -5, 1e300} {
			code, r := a.ask("", "cve", map[string]any{"session_id": "ttl", "purpose_ttl_seconds": ttl})
			require.Equal(t, http.StatusBadRequest, code, "ttl %g", ttl)
			require.Contains(t, r["error"], "context.purpose_ttl_seconds")
			require.Contains(t, r["error"], "outside [60, 3600]")
		}
		code, st := a.session("ttl")
		require.Equal(t, http.StatusNotFound, code, "a refused request leaves no session: %v", st)

		// agent-c may use agent-a's session but not set its clock first.
		code, _ = a.ask("", "cve", sid("ttl"))
		require.Equal(t, http.StatusOK, code)
		code, r := shared.ask("", "cve", map[string]any{"session_id": "ttl", "purpose_ttl_seconds": 60})
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], "only the session's owner sets its purpose clock")
		code, _ = shared.ask("", "cve", sid("ttl"))
		require.Equal(t, http.StatusOK, code, "sharing allows the request itself")
		code, r = a.ask("", "cve", map[string]any{"session_id": "ttl", "purpose_ttl_seconds": 60})
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, float64(60), r["exposure"].(map[string]any)["purpose_ttl_seconds"])
	})
}

// Another agent can neither read a session nor poison it: pii and
// financial requests that would flag it are refused before anything runs.
func TestSessionsBelongToTheirAgent(t *testing.T) {
	eachServer(t, authConfig(registryA()), nil, func(t *testing.T, c client) {
		a, b, shared, admin := c.as(secretA), c.as(secretB), c.as(secretC), c.as(secretAdmin)
		code, _ := a.ask("", "cve", sid("victim"))
		require.Equal(t, http.StatusOK, code)

		for _, intent := range []string{"employee pii", "budget financial"} {
			code, r := b.ask("", intent, sid("victim"))
			require.Equal(t, http.StatusForbidden, code)
			require.Contains(t, r["error"], "context.session_id: the session belongs to another agent")
		}
		code, r := b.session("victim")
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], "belongs to another agent")

		code, st := a.session("victim")
		require.Equal(t, http.StatusOK, code)
		require.Empty(t, st["exposure_flags"], "the refused requests left nothing")
		require.Equal(t, []any{"agent-a"}, st["agents_seen"])
		code, _ = admin.session("victim")
		require.Equal(t, http.StatusOK, code, "admin keys read every session")
		code, _ = shared.session("victim")
		require.Equal(t, http.StatusOK, code, "agent-a shares with agent-c")
		code, r = b.session("nobody")
		require.Equal(t, http.StatusNotFound, code, "%v", r)
	})
}

// S1–S5 through authenticated clients; S5 is a session agent-a shares.
func TestScenariosAuthenticated(t *testing.T) {
	eachServer(t, authConfig(registryA()), nil, func(t *testing.T, c client) {
		a := c.as(secretA)
		_, r := a.ask("", "employee pii", sid("s1"))
		require.Equal(t, []any{"hr"}, r["sources_queried"])
		a.ask("", "cve", sid("s1"))
		_, st := a.session("s1")
		require.Equal(t, []string{"cve", "employee", "pii"}, list(st["data_types_seen"]))
		require.Equal(t, float64(1), st["pii_sources_accessed"])

		a.ask("", "employee pii", sid("s2"))
		_, r = a.ask("", "budget financial", sid("s2"))
		require.Equal(t, []any{"fin"}, r["sources_queried"])
		_, r = a.ask("", "employee", sid("s2"))
		require.Equal(t, []any{"hr"}, r["sources_denied"], "flagged: no PII by any wording")
		require.Equal(t, ruleBlockEscalated, r["denials"].([]any)[0].(map[string]any)["rule_name"])

		a.ask("", "employee pii", sid("s5"))
		_, r = c.as(secretC).ask("", "cve", sid("s5"))
		require.Equal(t, []any{"nvd"}, r["sources_queried"])
		require.Equal(t, []string{flagCrossAgent}, list(r["exposure"].(map[string]any)["exposure_flags"]))
	})
	eachServer(t, authConfig(piiRegistry()), nil, func(t *testing.T, c client) {
		a := c.as(secretA)
		for _, id := range []string{"crm", "payroll", "badge"} {
			a.ask("", id+" record", sid("s4"))
		}
		_, r := a.ask("", "hr record", sid("s4"))
		require.Equal(t, []any{"hr"}, r["sources_denied"])
		require.Equal(t, rulePIILimit, r["denials"].([]any)[0].(map[string]any)["rule_name"])
	})
}

func TestSessionTokens(t *testing.T) {
	now := timeAt(1_000_000)
	cfg := withTokens(t, authConfig(registryA()), false, false)
	eachServer(t, cfg, &Options{Now: now.get}, func(t *testing.T, c client) {
		a, b := c.as(secretA), c.as(secretB)
		// No session named: tracked anyway, in a new session with a token.
		code, r := a.ask("", "employee pii", nil)
		require.Equal(t, http.StatusOK, code)
		session, token := r["session_id"].(string), r["session_token"].(string)
		require.True(t, strings.HasPrefix(session, "ses-"), session)
		require.NotEmpty(t, token)
		_, st := a.session(session)
		require.Equal(t, []string{"employee", "pii"}, list(st["data_types_seen"]))

		// The token's session beats the declared one.
		_, r = a.ask("", "budget financial", map[string]any{"session_id": "elsewhere", "session_token": token})
		require.Equal(t, session, r["session_id"])
		require.Equal(t, []any{flagPIIFinancial}, r["exposure"].(map[string]any)["exposure_flags"])
		code, _ = a.session("elsewhere")
		require.Equal(t, http.StatusNotFound, code)

		// Not another agent's token, and not a forged one.
		code, r = b.ask("", "cve", map[string]any{"session_token": token})
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], "session_token: issued to another agent")
		parts := strings.Split(token, ".")
		parts[2] = forgedClaims("victim")
		for _, bad := range []string{strings.Join(parts, "."), token[:len(token)-3], "v1.k9.e30.AAAA", "nonsense"} {
			code, r = a.ask("", "cve", map[string]any{"session_token": bad})
			require.Equal(t, http.StatusForbidden, code, "token %q", bad)
			require.Equal(t, "broker: forbidden: context.session_token: invalid", r["error"])
		}

		// A declared session without a token is allowed when not required, and
		// gets its token.
		code, r = a.ask("", "cve", sid("named"))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "named", r["session_id"])
		require.NotEmpty(t, r["session_token"])
	})
	now.advance(DefaultTokenTTLSeconds)
	eachServer(t, cfg, &Options{Now: now.get}, func(t *testing.T, c client) {
		_, r := c.as(secretA).ask("", "cve", nil)
		token := r["session_token"].(string)
		now.advance(DefaultTokenTTLSeconds)
		code, r := c.as(secretA).ask("", "cve", map[string]any{"session_token": token})
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], "expired")
	})
}

// forgedClaims is a token's claims part naming a session of the forger's
// choice, as an attacker without the signing key would build it.
func forgedClaims(session string) string {
	raw, _ := json.Marshal(identity.Claims{SessionID: session, Agent: "agent-a", Expires: 1 << 40})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestSessionTokensRequired(t *testing.T) {
	eachServer(t, withTokens(t, authConfig(registryA()), true, false), nil, func(t *testing.T, c client) {
		a := c.as(secretA)
		code, r := a.ask("", "cve", sid("chosen"))
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, r["error"], "context.session_id: a session is joined with its session_token")
		code, r = a.ask("", "employee pii", nil)
		require.Equal(t, http.StatusOK, code, "no session named: a new one, tracked")
		session := r["session_id"].(string)
		_, r = a.ask("", "budget financial", map[string]any{"session_token": r["session_token"]})
		require.Equal(t, session, r["session_id"])
		_, st := a.session(session)
		require.Equal(t, []any{flagPIIFinancial}, st["exposure_flags"])
	})
}

// A token signed before a rotation still verifies; a new one is signed by
// the new key; a key dropped from the list verifies nothing.
func TestSessionTokenRotation(t *testing.T) {
	store := memory.New()
	var token string
	eachServerOnce := func(cfg Config, fn func(c client)) {
		h := NewHandler(nil)
		h.Serve(newBroker(t, cfg, &Options{Store: store}))
		s := httptest.NewServer(h)
		defer s.Close()
		fn(client{t: t, url: s.URL, hc: s.Client(), key: secretA})
	}
	cfg := withTokens(t, authConfig(registryA()), false, false)
	eachServerOnce(cfg, func(c client) {
		_, r := c.ask("", "employee pii", nil)
		token = r["session_token"].(string)
		require.True(t, strings.HasPrefix(token, "v1.k1."))
	})
	eachServerOnce(withTokens(t, authConfig(registryA()), false, true), func(c client) {
		code, r := c.ask("", "cve", map[string]any{"session_token": token})
		require.Equal(t, http.StatusOK, code, "%v", r)
		require.True(t, strings.HasPrefix(r["session_token"].(string), "v1.k2."), "the new key signs")
	})
	cfg.SessionTokens.SigningKeys[0] = SigningKeyConfig{ID: "k2", SecretEnv: "NAUTILUS_TEST_SIGNING_2"}
	eachServerOnce(cfg, func(c client) {
		code, _ := c.ask("", "cve", map[string]any{"session_token": token})
		require.Equal(t, http.StatusForbidden, code)
	})
}

func TestHandleTrustsInProcessCallers(t *testing.T) {
	b := newBroker(t, authConfig(registryA()), nil)
	r, err := b.Handle(context.Background(), Request{AgentID: "agent-b", Intent: "cve", Context: RequestContext{SessionID: "x"}})
	require.NoError(t, err, "no caller on the context: the declared agent")
	require.Equal(t, []string{"nvd"}, r.SourcesQueried)
	_, err = b.Handle(WithCaller(context.Background(), Caller{KeyID: "a", Agent: "agent-a"}),
		Request{AgentID: "agent-b", Intent: "cve"})
	var fe *ForbiddenError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "agent_id", fe.Field)
	c, ok := CallerFrom(WithCaller(context.Background(), Caller{KeyID: "ops", Admin: true}))
	require.True(t, ok)
	require.Equal(t, Caller{KeyID: "ops", Admin: true}, c)
	_, ok = CallerFrom(context.Background())
	require.False(t, ok)
}

// Compartments come from the registry alone: a source needing one is
// denied to an agent lacking it, whatever the request says.
func TestCompartmentsFromRegistry(t *testing.T) {
	sources := append(registryA(), Source{ID: "sigint", Type: "static", Classification: "cui",
		DataTypes: []string{"intercepts"}, Compartments: []string{"si"}})
	cfg := authConfig(sources)
	a := cfg.Agents["agent-a"]
	a.Compartments = []string{"si", "tk"}
	cfg.Agents["agent-a"] = a
	eachServer(t, cfg, nil, func(t *testing.T, c client) {
		_, r := c.as(secretA).ask("", "intercepts", nil)
		require.Equal(t, []any{"sigint"}, r["sources_queried"])
		code, r := c.as(secretB).ask("", "intercepts", map[string]any{"compartments": []string{"si"}})
		require.Equal(t, http.StatusBadRequest, code, "a request cannot claim compartments: %v", r)
		_, r = c.as(secretB).ask("", "intercepts", nil)
		require.Equal(t, []any{"sigint"}, r["sources_denied"])
		d := r["denials"].([]any)[0].(map[string]any)
		require.Equal(t, ruleClassification, d["rule_name"])
		require.Equal(t, "agent lacks compartments [si]", d["reason"])
	})
	b := newBroker(t, memoryConfig(sources), nil)
	require.Equal(t, []string{"sigint"}, ask(t, b, "", "agent-a", "intercepts").SourcesDenied,
		"without a registry nobody holds a compartment")
}
