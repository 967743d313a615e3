package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// The nautilus binary under test, built once per test run with failpoints.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// nautilusBinary builds `nautilus` with -tags failpoints, or skips the test
// when there is no go tool to build it with.
func nautilusBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() { binPath, binErr = goBuild(t, "nautilus", "-tags", "failpoints", ".") })
	require.NoError(t, binErr)
	return binPath
}

// goBuild builds a binary named name into binDir (made on first use and
// removed by TestMain) with `go build args...`; it skips the test when there
// is no go tool.
func goBuild(t *testing.T, name string, args ...string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH, so " + name + " cannot be built for a child process")
	}
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "nautilus-bin-"); err != nil {
			return "", err
		}
	}
	path := filepath.Join(binDir, name)
	out, err := exec.Command(goTool, append([]string{"build", "-o", path}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return path, nil
}

// server is a `nautilus serve` child process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer runs serve on a free loopback port and waits until /readyz
// says ready. env adds to the environment (NAUTILUS_FAILPOINT=...).
func startServer(t *testing.T, config string, env []string, args ...string) *server {
	t.Helper()
	s := launch(t, config, env, args...)
	addr := make(chan string, 1)
	go s.readLog(addr)
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.exited:
		t.Fatalf("serve exited before listening: %v\n%s", s.err, s.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not report its address\n%s", s.output())
	}
	s.waitReady()
	return s
}

func launch(t *testing.T, config string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(nautilusBinary(t), append([]string{"serve", "--config", config, "--bind", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), authEnv...), env...)
	s := &server{t: t, cmd: cmd, exited: make(chan struct{})}
	return s
}

// readLog copies the child's stderr into s.log and sends the listen address.
func (s *server) readLog(addr chan<- string) {
	stderr, err := s.cmd.StderrPipe()
	require.NoError(s.t, err)
	require.NoError(s.t, s.cmd.Start())
	s.t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) waitReady() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.t.Fatalf("serve exited before ready: %v\n%s", s.err, s.output())
		default:
		}
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline-bounded wait
	}
	s.t.Fatalf("serve not ready in time\n%s", s.output())
}

// stop sends SIGTERM and requires a clean exit.
func (s *server) stop() {
	s.t.Helper()
	require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGTERM))
	s.wait()
	require.NoError(s.t, s.err, "serve exit after SIGTERM\n%s", s.output())
}

func (s *server) wait() {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.t.Fatalf("serve did not exit\n%s", s.output())
	}
}

// killedBySIGKILL reports whether the child died of SIGKILL.
func (s *server) killedBySIGKILL() bool {
	var ee *exec.ExitError
	if !errors.As(s.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// request posts one broker request; ok is false when no answer came back.
func (s *server) request(agent, session, intent string) (status int, body map[string]any, ok bool) {
	req, _ := json.Marshal(map[string]any{"agent_id": agent, "intent": intent,
		"context": map[string]any{"session_id": session, "clearance": "secret"}})
	hreq, err := http.NewRequest(http.MethodPost, s.url+"/v1/request", bytes.NewReader(req))
	require.NoError(s.t, err)
	hreq.Header.Set("Authorization", "Bearer "+testKeys[agent]) // ignored with no api.keys
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, false
	}
	json.Unmarshal(data, &body)
	return resp.StatusCode, body, true
}

// sessionState fetches a session's state (nil for an unknown session).
func (s *server) sessionState(id string) map[string]any {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/v1/sessions/"+id, nil)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+testKeys["admin"])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
	var st map[string]any
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func strs(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			out = append(out, e.(string))
		}
	}
	return out
}

const registryA = `
sources:
  - {id: hr, type: static, classification: cui, data_types: [pii, employee], rows: [{name: Ada}]}
  - {id: fin, type: static, classification: cui, data_types: [financial, budget], rows: [{q: Q1}]}
  - {id: nvd, type: static, classification: unclassified, data_types: [cve, vulnerability], rows: []}
`

// authYAML puts registry A behind API keys: one per agent the tests use
// and an admin key, their secrets in the environment every child gets.
const authYAML = `
agents:
  agent-a: {clearance: secret}
  agent-b: {clearance: secret}
api:
  keys:
    - {id: a, agent: agent-a, secret_env: NAUTILUS_TEST_KEY_A}
    - {id: b, agent: agent-b, secret_env: NAUTILUS_TEST_KEY_B}
    - {id: ops, role: admin, secret_env: NAUTILUS_TEST_KEY_ADMIN}
`

// testKeys are the secrets of authYAML's keys, by agent ("admin": the
// admin key).
var testKeys = map[string]string{
	"agent-a": "test-key-of-agent-a-7f3c9e1b",
	"agent-b": "test-key-of-agent-b-2d8a4f60",
	"admin":   "test-key-of-the-admin-5b1e7c3a",
}

var authEnv = []string{
	"NAUTILUS_TEST_KEY_A=" + testKeys["agent-a"],
	"NAUTILUS_TEST_KEY_B=" + testKeys["agent-b"],
	"NAUTILUS_TEST_KEY_ADMIN=" + testKeys["admin"],
}

// requireNoSecret fails if the server's log shows any test key.
func (s *server) requireNoSecret() {
	s.t.Helper()
	for who, secret := range testKeys {
		require.NotContains(s.t, s.output(), secret, "the log shows the key of %s", who)
	}
}

// writeConfig writes a config into dir and returns its path.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "nautilus.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.TrimLeft(text, "\n")), 0o644))
	return path
}

func persistenceYAML(mode string, wal bool, backendName string) string {
	return fmt.Sprintf(`
session_store: {backend: sqlite, sqlite_path: ./state/sessions.db}
persistence: {mode: %s, wal_enabled: %t, wal_path: ./state/wal, wal_backend: %s}
`, mode, wal, backendName)
}
