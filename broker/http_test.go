package broker

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

// httpBroker serves a broker over httptest and returns its URL.
func httpBroker(t *testing.T, cfg Config) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := NewHandler(&HandlerOptions{Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	h.Serve(newBroker(t, cfg, &Options{Registerer: reg}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/v1/request", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	return decodeBody(t, resp)
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	return decodeBody(t, resp)
}

func decodeBody(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func requestJSON(agent, intent, session string) string {
	b, _ := json.Marshal(Request{AgentID: agent, Intent: intent,
		Context: RequestContext{SessionID: session, Clearance: "secret"}})
	return string(b)
}

func list(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestHTTPScenarios(t *testing.T) {
	url := httpBroker(t, memoryConfig(registryA()))

	// S1
	code, r := post(t, url, requestJSON("agent-a", "employee pii", "s1"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"hr"}, list(r["sources_queried"]))
	require.Len(t, r["data"].(map[string]any)["hr"], 1)
	post(t, url, requestJSON("agent-a", "cve", "s1"))
	code, st := get(t, url+"/v1/sessions/s1")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"cve", "employee", "pii"}, list(st["data_types_seen"]))
	require.Equal(t, float64(1), st["pii_sources_accessed"])

	// S2
	post(t, url, requestJSON("agent-a", "employee pii", "s2"))
	post(t, url, requestJSON("agent-a", "budget financial", "s2"))
	code, r = post(t, url, requestJSON("agent-a", "employee pii", "s2"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"hr"}, list(r["sources_denied"]))
	denial := r["denials"].([]any)[0].(map[string]any)
	require.Equal(t, ruleBlockEscalated, denial["rule_name"])
	require.Equal(t, "confidential", r["exposure"].(map[string]any)["cumulative_classification"])

	// S5
	post(t, url, requestJSON("agent-a", "employee pii", "s5"))
	_, r = post(t, url, requestJSON("agent-b", "cve", "s5"))
	require.Equal(t, []string{"nvd"}, list(r["sources_queried"]))
	require.Equal(t, []string{flagCrossAgent}, list(r["exposure"].(map[string]any)["exposure_flags"]))

	code, _ = get(t, url+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, url+"/readyz")
	require.Equal(t, http.StatusOK, code)
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), `nautilus_broker_request_duration_seconds_count{outcome="ok"} 7`)
}

func TestHTTPS4AndEscalation(t *testing.T) {
	url := httpBroker(t, memoryConfig(piiRegistry()))
	for _, id := range []string{"crm", "payroll", "badge"} {
		post(t, url, requestJSON("a", id+" record", "s4"))
	}
	_, r := post(t, url, requestJSON("a", "hr record", "s4"))
	require.Equal(t, []string{"hr"}, list(r["sources_denied"]))
	require.Equal(t, rulePIILimit, r["denials"].([]any)[0].(map[string]any)["rule_name"])

	url = httpBroker(t, escalationConfig())
	for i, typ := range []string{"dob", "ssn", "email", "phone"} {
		code, r := post(t, url, requestJSON("a", typ, "esc"))
		require.Equal(t, http.StatusOK, code)
		require.Empty(t, r["sources_denied"])
		flags := r["exposure"].(map[string]any)["exposure_flags"].([]any)
		if i < 3 {
			require.Empty(t, flags)
		} else {
			require.Equal(t, []any{"pii-aggregation-confidential"}, flags)
			require.Equal(t, "confidential", r["exposure"].(map[string]any)["cumulative_classification"])
		}
	}
}

func TestHTTPBadInput(t *testing.T) {
	url := httpBroker(t, memoryConfig(registryA()))
	huge := `{"agent_id":"a","intent":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, tc := range []struct {
		name, body string
		status     int
		errPart    string
	}{
		{"malformed JSON", `{"agent_id": "a",`, http.StatusBadRequest, "not a valid request"},
		{"not an object", `[1,2]`, http.StatusBadRequest, "not a valid request"},
		{"missing agent_id", `{"intent":"cve"}`, http.StatusBadRequest, "agent_id: missing"},
		{"unknown field", `{"agent_id":"a","intent":"cve","colour":"red"}`, http.StatusBadRequest, `unknown field "colour"`},
		{"unknown context field", `{"agent_id":"a","context":{"sesion_id":"x"}}`, http.StatusBadRequest, `unknown field "sesion_id"`},
		{"trailing data", `{"agent_id":"a"} {"agent_id":"b"}`, http.StatusBadRequest, "data after the JSON object"},
		{"2 MiB body", huge, http.StatusRequestEntityTooLarge, "over 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, url, tc.body)
			require.Equal(t, tc.status, code)
			require.Contains(t, body["error"], tc.errPart)
		})
	}
	code, body := get(t, url+"/v1/sessions/nobody")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body["error"], `unknown session "nobody"`)
}

func TestHTTPNotReadyUntilServe(t *testing.T) {
	h := NewHandler(nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, _ := get(t, srv.URL+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body["error"], "replaying")
	code, _ = post(t, srv.URL, requestJSON("a", "cve", ""))
	require.Equal(t, http.StatusServiceUnavailable, code)

	h.Serve(newBroker(t, memoryConfig(registryA()), nil))
	code, _ = get(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusOK, code)
	resp, err := http.Post(srv.URL+"/v1/request", "application/json", bytes.NewReader([]byte(requestJSON("a", "cve", ""))))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
