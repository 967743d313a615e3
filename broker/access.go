package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nautilus-go/nautilus/broker/identity"
)

// Caller is who an authenticated request comes from: the API key that
// opened it and the agent that key acts as.
type Caller struct {
	KeyID string // the key's id from api.keys (never its secret)
	Agent string // the registry agent the key acts as; empty for an admin key
	Admin bool   // the key has role admin
}

type callerKey struct{}

// WithCaller returns ctx carrying c, as the HTTP API does for a request
// whose bearer key it has checked. Handle holds a request with a Caller to
// that caller's agent; a request without one is trusted as declared.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the authenticated caller of a request, and false when
// there is none (no keys configured, or an in-process call).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// ForbiddenError is a well-formed request its caller may not make (HTTP 403).
type ForbiddenError struct {
	Field string
	Msg   string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("broker: forbidden: %s: %s", e.Field, e.Msg)
}

// authenticate returns the caller whose bearer secret this is; ok is false
// when keys are configured and the secret is none of them. With no keys
// every request passes, with no caller.
func (b *Broker) authenticate(secret string) (c Caller, authenticated, ok bool) {
	if len(b.ids.keys) == 0 {
		return Caller{}, false, true
	}
	k, found := b.ids.keys.Lookup(secret)
	if !found {
		return Caller{}, false, false
	}
	return Caller{KeyID: k.ID, Agent: k.Agent, Admin: k.Admin}, true, true
}

// admit checks a request against its caller and the registry and returns
// it as it will run: agent_id from the key, clearance and purpose from the
// registry, and the session a presented token names. It does not check
// the session's owner, which needs the session's state (mayUse).
func (b *Broker) admit(ctx context.Context, req Request) (Request, error) {
	caller, authed := CallerFrom(ctx)
	if authed && !caller.Admin {
		switch req.AgentID {
		case "":
			req.AgentID = caller.Agent
		case caller.Agent:
		default:
			return req, &ForbiddenError{Field: "agent_id", Msg: fmt.Sprintf("%q is not the agent of key %q", req.AgentID, caller.KeyID)}
		}
	}
	if strings.TrimSpace(req.AgentID) == "" {
		return req, &RequestError{Field: "agent_id", Msg: "missing"}
	}
	rc := &req.Context
	if rc.Clearance != "" && rank(rc.Clearance) < 0 {
		return req, &RequestError{Field: "context.clearance", Msg: fmt.Sprintf("unknown level %q", rc.Clearance)}
	}
	if len(b.cfg.Agents) > 0 {
		agent, ok := b.cfg.Agents[req.AgentID]
		if !ok {
			return req, &ForbiddenError{Field: "agent_id", Msg: fmt.Sprintf("unknown agent %q (not in the registry)", req.AgentID)}
		}
		switch {
		case rc.Clearance == "":
			rc.Clearance = agent.Clearance
		case rank(rc.Clearance) > rank(agent.Clearance):
			return req, &ForbiddenError{Field: "context.clearance", Msg: fmt.Sprintf("%q is above agent %q's clearance %q",
				rc.Clearance, req.AgentID, agent.Clearance)}
		}
		if rc.Purpose == "" {
			rc.Purpose = agent.DefaultPurpose
		}
	}
	if ttl, p := rc.PurposeTTLSeconds, b.cfg.PurposeTTL; ttl != 0 && (ttl < p.MinSeconds || ttl > p.MaxSeconds) {
		return req, &RequestError{Field: "context.purpose_ttl_seconds", Msg: fmt.Sprintf("%g is outside [%g, %g]", ttl, p.MinSeconds, p.MaxSeconds)}
	}

	switch {
	case rc.SessionToken != "":
		if b.tokens == nil {
			return req, &RequestError{Field: "context.session_token", Msg: "session tokens are not enabled"}
		}
		claims, err := b.tokens.Verify(rc.SessionToken)
		if err != nil {
			return req, &ForbiddenError{Field: "context.session_token", Msg: tokenProblem(err)}
		}
		if claims.Agent != req.AgentID {
			return req, &ForbiddenError{Field: "context.session_token", Msg: fmt.Sprintf("issued to another agent than %q", req.AgentID)}
		}
		rc.SessionID = claims.SessionID // the token's session beats the declared one
	case rc.SessionID != "":
		if b.cfg.SessionTokens.Required {
			return req, &ForbiddenError{Field: "context.session_id", Msg: "a session is joined with its session_token (session_tokens.required)"}
		}
	case b.tokens != nil:
		rc.SessionID = newSessionID() // tracked, in a session nobody else holds
	}
	return req, nil
}

// tokenProblem says why a token was refused without echoing it.
func tokenProblem(err error) string {
	if errors.Is(err, identity.ErrExpiredToken) {
		return "expired; start a new session"
	}
	return "invalid"
}

// mayUse reports whether agent may read or write a session in state st:
// its owner, the agents the owner shares with, or an admin key. A session
// from before the registry had owners is open to the agents already in it.
// With no registry every agent may.
func (b *Broker) mayUse(ctx context.Context, st State, agent string) bool {
	if c, ok := CallerFrom(ctx); ok && c.Admin {
		return true
	}
	if len(b.cfg.Agents) == 0 {
		return true
	}
	if st.Owner == "" {
		return len(st.AgentsSeen) == 0 || contains(st.AgentsSeen, agent)
	}
	return st.Owner == agent || contains(b.cfg.Agents[st.Owner].ShareSessionsWith, agent)
}

// checkSession refuses a request into a session its agent may not use, and
// a purpose clock set by anyone but the session's owner.
func (b *Broker) checkSession(ctx context.Context, st State, req Request) error {
	if !b.mayUse(ctx, st, req.AgentID) {
		return &ForbiddenError{Field: "context.session_id", Msg: fmt.Sprintf("the session belongs to another agent than %q", req.AgentID)}
	}
	if req.Context.PurposeTTLSeconds > 0 && len(b.cfg.Agents) > 0 && st.Owner != "" && st.Owner != req.AgentID {
		return &ForbiddenError{Field: "context.purpose_ttl_seconds", Msg: "only the session's owner sets its purpose clock"}
	}
	return nil
}

// SessionFor is Session for the caller on ctx: a session the caller may not
// read is refused with a *ForbiddenError.
func (b *Broker) SessionFor(ctx context.Context, sessionID string) (State, bool, error) {
	st, ok, err := b.Session(ctx, sessionID)
	if err != nil || !ok {
		return st, ok, err
	}
	if c, authed := CallerFrom(ctx); authed && !b.mayUse(ctx, st, c.Agent) {
		return State{}, false, &ForbiddenError{Field: "session", Msg: fmt.Sprintf("session %q belongs to another agent", sessionID)}
	}
	return st, true, nil
}

func newSessionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "ses-" + hex.EncodeToString(b[:])
}
