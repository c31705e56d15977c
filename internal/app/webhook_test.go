package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/rbac"
)

// webhookServer runs berth with project "hooks" and its maintainer and
// developer.
func webhookServer(t *testing.T) string {
	return authServer(t, func(ctx context.Context, s *sqlstore.Store) {
		p := &meta.Project{Name: "hooks", OwnerID: 1}
		if err := s.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		hash, _ := auth.HashPassword("user-password-1")
		for name, role := range map[string]rbac.Role{"maint": rbac.RoleMaintainer, "dev": rbac.RoleDeveloper} {
			u := &meta.User{Username: name, PasswordHash: hash}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := s.SetMember(ctx, p.ID, u.ID, int(role)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// createHook creates a policy in "hooks" and returns its id and secret.
func createHook(t *testing.T, base, body string) (int64, string) {
	t.Helper()
	st, h, b := call(t, "POST", base+"/api/v2.0/projects/hooks/webhook/policies", &creds{"admin", adminPassword}, "", []byte(body),
		"Content-Type", "application/json")
	var p struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	if st != 201 || json.Unmarshal(b, &p) != nil || p.Secret == "" || !strings.HasSuffix(h.Get("Location"), fmt.Sprintf("/policies/%d", p.ID)) {
		t.Fatalf("create policy: %d %v %s", st, h, b)
	}
	return p.ID, p.Secret
}

// pushUnique pushes an image with a layer of its own to repo:tag and
// returns how long the push took.
func pushUnique(t *testing.T, base, repo, tag string) time.Duration {
	t.Helper()
	admin := &creds{"admin", adminPassword}
	start := time.Now()
	cfg, layer := []byte(`{"os":"linux"}`), []byte("layer "+tag+" "+time.Now().String())
	for _, b := range [][]byte{cfg, layer} {
		if st, _, body := call(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), admin, "", b); st != 201 {
			t.Fatalf("blob: %d %s", st, body)
		}
	}
	man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		manifestType, digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer)))
	if st, _, body := call(t, "PUT", base+"/v2/"+repo+"/manifests/"+tag, admin, "", man, "Content-Type", manifestType); st != 201 {
		t.Fatalf("manifest: %d %s", st, body)
	}
	return time.Since(start)
}

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestWebhookSlowReceiverKeepsPushesFast: a receiver that takes 2 s per
// request, subscribed to pushes and pulls, does not slow pushes: their
// median latency stays that of pushes without any policy.
func TestWebhookSlowReceiverKeepsPushesFast(t *testing.T) {
	base := webhookServer(t)
	var received atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()

	const n = 40
	admin := &creds{"admin", adminPassword}
	measure := func(prefix string) []time.Duration {
		var ds []time.Duration
		for i := range n {
			ds = append(ds, pushUnique(t, base, "hooks/app", fmt.Sprintf("%s%d", prefix, i)))
			if st, _, _ := call(t, "GET", base+"/v2/hooks/app/manifests/"+fmt.Sprintf("%s%d", prefix, i), admin, "", nil,
				"Accept", manifestType); st != 200 {
				t.Fatalf("pull: %d", st)
			}
		}
		return ds
	}
	pushUnique(t, base, "hooks/app", "warm-up")
	// Rounds without a policy before and after the one with it, so that
	// a machine busier at one moment or a larger database does not
	// decide the comparison.
	before := measure("a")
	id, _ := createHook(t, base, `{"name":"slow","enabled":true,"event_types":["PUSH_ARTIFACT","PULL_ARTIFACT"],
		"targets":[{"type":"http","address":"`+slow.URL+`"}]}`)
	with := p50(measure("b"))
	// Every push and pull of that round became an execution (and the last
	// pushes of the first, if still buffered when the policy was made),
	// while the receiver is still busy with the first few.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, h, _ := call(t, "GET", fmt.Sprintf("%s/api/v2.0/projects/hooks/webhook/policies/%d/executions?page_size=1", base, id), admin, "", nil)
		if total, _ := strconv.Atoi(h.Get("X-Total-Count")); total >= 2*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("executions: %s, want %d", h.Get("X-Total-Count"), 2*n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := received.Load(); r == 0 || r >= 2*n {
		t.Errorf("the slow receiver got %d requests", r)
	}
	if st, _, b := call(t, "DELETE", fmt.Sprintf("%s/api/v2.0/projects/hooks/webhook/policies/%d", base, id), admin, "", nil); st != 200 {
		t.Fatalf("delete: %d %s", st, b)
	}
	after := measure("c")
	without := p50(append(before, after...))
	t.Logf("push p50 over %d pushes: %s without a policy (%s before, %s after), %s with a 2 s receiver of pushes and pulls",
		n, without, p50(before), p50(after), with)
	if with > 2*without+10*time.Millisecond {
		t.Errorf("push p50 %s with a slow receiver, %s without", with, without)
	}
}

// TestWebhookAPI: create answers the secret once, deliveries are signed
// with it, the test operation reports each target's answer, and the
// permissions are Harbor's (maintainers read, developers nothing).
func TestWebhookAPI(t *testing.T) {
	base := webhookServer(t)
	var mu sync.Mutex
	var sigs []string
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sigs, bodies = append(sigs, r.Header.Get("X-Berth-Signature")), append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()
	id, secret := createHook(t, base, `{"name":"ci","enabled":true,"event_types":["PUSH_ARTIFACT"],
		"targets":[{"type":"slack","address":"`+rcv.URL+`"}]}`)
	admin := &creds{"admin", adminPassword}
	pol := fmt.Sprintf("%s/api/v2.0/projects/hooks/webhook/policies/%d", base, id)
	if st, _, b := call(t, "GET", pol, admin, "", nil); st != 200 || strings.Contains(string(b), secret) {
		t.Fatalf("get: %d %s", st, b)
	}
	st, h, b := call(t, "POST", pol+"/test", admin, "", nil)
	if st != 201 || !strings.Contains(h.Get("Location"), "/executions/") {
		t.Fatalf("test: %d %v %s", st, h, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, b := call(t, "GET", base+h.Get("Location")+"/tasks", admin, "", nil)
		var tasks []struct {
			Status     string         `json:"status"`
			ExtraAttrs map[string]any `json:"extra_attrs"`
		}
		if st != 200 || json.Unmarshal(b, &tasks) != nil || len(tasks) != 1 {
			t.Fatalf("tasks: %d %s", st, b)
		}
		if tasks[0].Status == meta.JobSuccess && tasks[0].ExtraAttrs["status_code"] == float64(200) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("test delivery: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), "berth-webhook-test") {
		t.Errorf("test deliveries: %q", bodies)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(bodies[0])
	if sigs[0] != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("signature %s does not verify with the secret returned at creation", sigs[0])
	}
	mu.Unlock()

	maint, dev := &creds{"maint", "user-password-1"}, &creds{"dev", "user-password-1"}
	for _, c := range []struct {
		who          *creds
		method, path string
		want         int
	}{
		{maint, "GET", "/api/v2.0/projects/hooks/webhook/policies", 200},
		{maint, "GET", pol + "/executions", 200},
		{maint, "DELETE", pol, 403},
		{maint, "POST", pol + "/test", 403},
		{dev, "GET", "/api/v2.0/projects/hooks/webhook/policies", 403},
		{dev, "GET", "/api/v2.0/projects/hooks/webhook/events", 403},
		{nil, "GET", "/api/v2.0/projects/hooks/webhook/policies", 404},
	} {
		u := c.path
		if !strings.HasPrefix(u, "http") {
			u = base + u
		}
		if st, _, b := call(t, c.method, u, c.who, "", nil); st != c.want {
			t.Errorf("%v %s %s: %d %s, want %d", c.who, c.method, c.path, st, b, c.want)
		}
	}
	if st, _, b := call(t, "POST", base+"/api/v2.0/projects/hooks/webhook/policies", admin, "",
		[]byte(`{"name":"bad","event_types":["PUSH_ARTIFACT"],"targets":[{"type":"slack","address":"`+rcv.URL+`","payload_format":"Default"}]}`),
		"Content-Type", "application/json"); st != 400 {
		t.Errorf("a slack target with a payload format: %d %s", st, b)
	}
}

// TestWebhookDeliveriesSurviveRestart: a delivery that failed while its
// receiver was down is made by the next berth started on the data
// directory, once the receiver is back.
func TestWebhookDeliveriesSurviveRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: every attempt is refused
	dir := t.TempDir()
	setup := func(ctx context.Context, s *sqlstore.Store) {
		if err := s.CreateProject(ctx, &meta.Project{Name: "hooks", OwnerID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("first", func(t *testing.T) {
		base := authServerWith(t, setup, func(c *config.Config) { c.DataDir = dir })
		id, _ := createHook(t, base, `{"name":"later","enabled":true,"event_types":["PUSH_ARTIFACT"],
			"targets":[{"type":"http","address":"http://`+addr+`/hook"}]}`)
		pushUnique(t, base, "hooks/app", "v1")
		deadline := time.Now().Add(10 * time.Second)
		for { // until the first attempt has failed
			_, _, b := call(t, "GET", fmt.Sprintf("%s/api/v2.0/projects/hooks/webhook/policies/%d/executions/1/tasks", base, id),
				&creds{"admin", adminPassword}, "", nil)
			if strings.Contains(string(b), `"run_count":1`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed attempt: %s", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}) // berth stops here
	got := make(chan []byte, 4)
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rcv := &httptest.Server{Listener: back, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	})}}
	rcv.Start()
	defer rcv.Close()
	authServerWith(t, nil, func(c *config.Config) { c.DataDir = dir })
	select {
	case b := <-got:
		if !strings.Contains(string(b), `"tag":"v1"`) {
			t.Errorf("delivery %s", b)
		}
	case <-time.After(20 * time.Second): // the retry backs off 5 s ± 25 %
		t.Fatal("the pending delivery was not made after the restart")
	}
}
