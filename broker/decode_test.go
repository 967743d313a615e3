package broker

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// Each body is what an unfriendly client sends; each is refused with a 400
// naming the field, and the server goes on answering.
func TestHTTPStrictDecoding(t *testing.T) {
	u := httpBroker(t, memoryConfig(registryA()))
	id128, id129 := strings.Repeat("s", 128), strings.Repeat("s", 129)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"key in upper case", `{"AGENT_ID":"a","intent":"cve"}`, `AGENT_ID: unknown field "AGENT_ID": keys are case-sensitive, this one is spelled "agent_id"`},
		{"context key in mixed case", `{"agent_id":"a","context":{"Session_Id":"x"}}`, `context.Session_Id: unknown field "Session_Id": keys are case-sensitive`},
		{"case variant after the real key", `{"agent_id":"a","Agent_id":"b"}`, `Agent_id: unknown field`},
		{"duplicate key", `{"agent_id":"a","agent_id":"b"}`, "agent_id: duplicate key"},
		{"duplicate context key", `{"agent_id":"a","context":{"session_id":"x","session_id":"y"}}`, "context.session_id: duplicate key"},
		{"duplicate context", `{"agent_id":"a","context":{},"context":{}}`, "context: duplicate key"},
		{"invalid UTF-8 in session id", "{\"agent_id\":\"a\",\"context\":{\"session_id\":\"raw\xff\"}}", "context.session_id: not valid UTF-8"},
		{"other invalid UTF-8 in session id", "{\"agent_id\":\"a\",\"context\":{\"session_id\":\"raw\xfe\"}}", "context.session_id: not valid UTF-8"},
		{"lone high surrogate", `{"agent_id":"a","context":{"session_id":"raw\ud800"}}`, `context.session_id: escapes a lone UTF-16 surrogate (\ud800)`},
		{"lone low surrogate", `{"agent_id":"a","context":{"session_id":"raw\udfff"}}`, `context.session_id: escapes a lone UTF-16 surrogate (\udfff)`},
		{"reversed surrogates", `{"agent_id":"a","intent":"\udc00\ud800"}`, "intent: escapes a lone UTF-16 surrogate"},
		{"invalid UTF-8 in intent", "{\"agent_id\":\"a\",\"intent\":\"cve \xc3\"}", "intent: not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"agent_id\":\"a\",\"int\xffent\":\"cve\"}", "key not valid UTF-8"},
		{"null agent", `{"agent_id":null}`, "agent_id: want a string, got null"},
		{"number agent", `{"agent_id":7}`, "agent_id: want a string, got number"},
		{"context a string", `{"agent_id":"a","context":"s1"}`, "context: want an object, got a string"},
		{"ttl a string", `{"agent_id":"a","context":{"purpose_ttl_seconds":"5"}}`, "context.purpose_ttl_seconds: want a number, got string"},
		{"ttl out of range", `{"agent_id":"a","context":{"purpose_ttl_seconds":1e400}}`, "context.purpose_ttl_seconds: want a number"},
		{"trailing object", `{"agent_id":"a"}{"agent_id":"b"}`, "data after the JSON object"},
		{"trailing garbage", `{"agent_id":"a"} x`, "data after the JSON object"},
		{"empty body", ``, "not a valid request: unexpected EOF"},
		{"unterminated", `{"agent_id":"a"`, "not a valid request: unexpected EOF"},
		{"session id over the limit", `{"agent_id":"a","context":{"session_id":"` + id129 + `"}}`, "context.session_id: 129 bytes, over the limit of 128 (limits.session_id_bytes)"},
		{"agent id over the limit", `{"agent_id":"` + strings.Repeat("a", 900_000) + `"}`, "agent_id: 900000 bytes, over the limit of 128 (limits.agent_id_bytes)"},
		{"intent over the limit", `{"agent_id":"a","intent":"` + strings.Repeat("x", 4097) + `"}`, "intent: 4097 bytes, over the limit of 4096 (limits.intent_bytes)"},
		{"session token over the limit", `{"agent_id":"a","context":{"session_token":"` + strings.Repeat("t", 1025) + `"}}`, "context.session_token: 1025 bytes, over the limit of 1024 (limits.session_token_bytes)"},
		{"clearance over the limit", `{"agent_id":"a","context":{"clearance":"` + strings.Repeat("c", 129) + `"}}`, "context.clearance: 129 bytes, over the limit of 128 (limits.label_bytes)"},
		{"escaped bytes count once decoded", `{"agent_id":"a","context":{"session_id":"` + strings.Repeat(`\u00e9`, 65) + `"}}`, "context.session_id: 130 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, u, tc.body)
			require.Equal(t, http.StatusBadRequest, code, body)
			require.Contains(t, body["error"], tc.want)
		})
	}

	// Refused ids left nothing behind: "raw\xff" and "raw\xfe" did not
	// become one session "raw\ufffd".
	code, _ := get(t, u+"/v1/sessions/"+url.PathEscape("raw\ufffd"))
	require.Equal(t, http.StatusNotFound, code)

	// At the limits, and with a valid surrogate pair, requests are served.
	for _, session := range []string{id128, "emoji \U0001F600", `\ud83d\ude00`} {
		body := `{"agent_id":"a","intent":"cve","context":{"session_id":"` + session + `"}}`
		code, r := post(t, u, body)
		require.Equal(t, http.StatusOK, code, r)
	}
	code, st := get(t, u+"/v1/sessions/"+url.PathEscape("\U0001F600"))
	require.Equal(t, http.StatusOK, code, "the escaped pair and the raw character are one id")
	require.Equal(t, []string{"a"}, list(st["agents_seen"]))
	code, _ = get(t, u+"/v1/sessions/"+id128)
	require.Equal(t, http.StatusOK, code)
}

func TestHTTPSessionPathBounded(t *testing.T) {
	u := httpBroker(t, memoryConfig(registryA()))
	code, body := get(t, u+"/v1/sessions/raw%FF")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body["error"], "session id: not valid UTF-8")
	code, body = get(t, u+"/v1/sessions/"+strings.Repeat("s", 129))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body["error"], "session id: 129 bytes, over the limit of 128 (limits.session_id_bytes)")
}

// New agent ids cannot grow one session's agents_seen past its limit; the
// agents already in it go on being served, and nothing answered is lost.
func TestHTTPAgentsPerSession(t *testing.T) {
	cfg := memoryConfig(registryA())
	cfg.Limits.AgentsPerSession = 3
	u := httpBroker(t, cfg)
	for _, a := range []string{"a1", "a2", "a3"} {
		code, r := post(t, u, requestJSON(a, "cve", "crowded"))
		require.Equal(t, http.StatusOK, code, r)
	}
	code, body := post(t, u, requestJSON("a4", "cve", "crowded"))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body["error"], "agent_id: the session already holds 3 agents, the limit (limits.agents_per_session)")
	code, _ = post(t, u, requestJSON("a2", "cve", "crowded"))
	require.Equal(t, http.StatusOK, code)
	code, _ = post(t, u, requestJSON("a4", "cve", "elsewhere"))
	require.Equal(t, http.StatusOK, code)
	_, st := get(t, u+"/v1/sessions/crowded")
	require.Equal(t, []string{"a1", "a2", "a3"}, list(st["agents_seen"]))
}

// 404 and 405 are JSON errors like every other; 405 keeps its Allow header.
func TestHTTPUnroutedErrorsAreJSON(t *testing.T) {
	u := httpBroker(t, memoryConfig(registryA()))
	for _, tc := range []struct {
		method, path string
		status       int
		allow, want  string
	}{
		{"GET", "/nope", http.StatusNotFound, "", "no route for GET /nope"},
		{"GET", "/v1/sessions/", http.StatusNotFound, "", "no route for GET /v1/sessions/"},
		{"POST", "/v1/sessions/x", http.StatusMethodNotAllowed, "GET, HEAD", "method POST not allowed on /v1/sessions/x (allowed: GET, HEAD)"},
		{"GET", "/v1/request", http.StatusMethodNotAllowed, "POST", "method GET not allowed on /v1/request (allowed: POST)"},
		{"DELETE", "/healthz", http.StatusMethodNotAllowed, "GET, HEAD", "method DELETE not allowed on /healthz (allowed: GET, HEAD)"},
	} {
		req, err := http.NewRequest(tc.method, u+tc.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		code, body := decodeBody(t, resp)
		require.Equal(t, tc.status, code, tc.path)
		require.Equal(t, tc.allow, resp.Header.Get("Allow"))
		require.Equal(t, tc.want, body["error"])
	}
	code, _ := post(t, u, requestJSON("a", "cve", "after"))
	require.Equal(t, http.StatusOK, code)
}

// FuzzDecodeRequest checks the decoder against encoding/json: whatever it
// accepts, the lenient decoder reads the same way, it re-encodes and decodes
// to the same request, and every string is valid UTF-8 within its limit.
// Whatever it refuses is a *RequestError. The seed corpus is in
// testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(requestJSON("agent-a", "employee pii", "s1")))
	lim := LimitsConfig{}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRequest(body, lim)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("refusal is %T, not a *RequestError: %v", err, err)
			}
			return
		}
		var lenient Request
		if err := json.Unmarshal(body, &lenient); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", body, err)
		}
		if lenient != req {
			t.Fatalf("%q: strict %+v, lenient %+v", body, req, lenient)
		}
		for path, v := range map[string]string{"agent_id": req.AgentID, "intent": req.Intent,
			"context.session_id": req.Context.SessionID, "context.clearance": req.Context.Clearance,
			"context.purpose": req.Context.Purpose} {
			limit, _ := lim.fieldLimit(path)
			if !utf8.ValidString(v) || len(v) > limit {
				t.Fatalf("%q: accepted %s %q (limit %d)", body, path, v, limit)
			}
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeRequest(again, lim)
		if err != nil || back != req {
			t.Fatalf("%q re-encoded as %s decodes to %+v, %v", body, again, back, err)
		}
	})
}
