package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

func TestMain(m *testing.M) {
	auth.BcryptCost = 4 // the minimum: the tests log in many times
	os.Exit(m.Run())
}

// cred is a caller; the zero value is anonymous.
type cred struct{ user, pass string }

// env is a real API server on a real SQLite store.
type env struct {
	api   *Server
	t     *testing.T
	ctx   context.Context
	store *sqlstore.Store
	path  string // of the store's database file
	authn *auth.Authenticator
	srv   *httptest.Server
	admin cred

	mu        sync.Mutex
	responses []recorded // every response body, for the no-secrets checks
}

type recorded struct {
	method, path string
	body         string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, sqlstore.SQLiteOptions{})
}

func newEnvWith(t *testing.T, opt sqlstore.SQLiteOptions) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	store, err := sqlstore.OpenSQLiteWith(ctx, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, ctx: ctx, store: store, path: path,
		authn: &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig)}}
	e.admin = e.user("admin", true)
	s := New(Options{Access: store, Store: store, Catalog: store, Auth: e.authn, Version: "test",
		SessionKey: bytes.Repeat([]byte("k"), 32),
		Audit: func(rec meta.AuditRecord) {
			rec.At = time.Now()
			if err := store.AppendAudit(ctx, []meta.AuditRecord{rec}); err != nil {
				t.Error(err)
			}
		}})
	e.api = s
	e.srv = httptest.NewServer(s)
	t.Cleanup(e.srv.Close)
	return e
}

// user creates a user whose password is derived from the name.
func (e *env) user(name string, sysadmin bool) cred {
	e.t.Helper()
	c := cred{name, "Pw-" + name + "-12345"}
	hash, err := auth.HashPassword(c.pass)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(e.ctx, &meta.User{Username: name, PasswordHash: hash, SysAdmin: sysadmin}); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) userID(name string) int64 {
	u, err := e.store.GetUserByName(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

func (e *env) project(name string, public bool, members map[cred]int) *meta.Project {
	e.t.Helper()
	p := &meta.Project{Name: name, Public: public, OwnerID: e.userID("admin")}
	if err := e.store.CreateProject(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	for c, role := range members {
		if err := e.store.SetMember(e.ctx, p.ID, e.userID(c.user), role); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

// push stores a small image (config and layer blobs, manifest) in repo
// with tags and returns its digest.
func (e *env) push(repo string, tags ...string) digest.Digest {
	e.t.Helper()
	blob := func(s string) oci.Descriptor {
		d := digest.FromString(s)
		if err := e.store.CommitBlob(e.ctx, repo, d, int64(len(s)), ""); err != nil {
			e.t.Fatal(err)
		}
		return oci.Descriptor{Digest: d, Size: int64(len(s))}
	}
	seed := fmt.Sprintf("%s-%v-%d", repo, tags, time.Now().UnixNano())
	cfg, layer := blob("config "+seed), blob("layer "+seed)
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, cfg.Digest, cfg.Size, layer.Digest, layer.Size)
	sum := sha256.Sum256([]byte(body))
	m := &meta.Manifest{Repo: repo, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:]), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: []byte(body), ArtifactType: "application/vnd.oci.image.config.v1+json",
		Refs: []oci.Ref{{Digest: cfg.Digest, Size: cfg.Size}, {Digest: layer.Digest, Size: layer.Size}}}
	if err := e.store.PutManifest(e.ctx, m, tags); err != nil {
		e.t.Fatal(err)
	}
	return m.Digest
}

// req sends a request as c with an optional JSON body and headers.
func (e *env) req(c cred, method, path string, body any, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.user != "" {
		r.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.send(r)
}

func (e *env) send(r *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.responses = append(e.responses, recorded{r.Method, r.URL.Path, string(b)})
	e.mu.Unlock()
	return resp, string(b)
}

// expect sends a request and checks the status.
func (e *env) expect(status int, c cred, method, path string, body any, hdr ...string) string {
	e.t.Helper()
	resp, b := e.req(c, method, path, body, hdr...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s as %q: status %d, want %d: %s", method, path, c.user, resp.StatusCode, status, b)
	}
	return b
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

// checkNoSecrets fails if any response so far carried a password hash, or
// a robot secret outside the answer that created or refreshed it.
func (e *env) checkNoSecrets(secrets map[string]bool) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.responses {
		if strings.Contains(r.body, "password_hash") || strings.Contains(r.body, "$2a$") {
			e.t.Errorf("%s %s returned a password hash: %s", r.method, r.path, r.body)
		}
		for s := range secrets {
			shown := r.method == http.MethodPost && r.path == Prefix+"/robots" || r.method == http.MethodPatch
			if strings.Contains(r.body, s) && !shown {
				e.t.Errorf("%s %s returned a robot secret: %s", r.method, r.path, r.body)
			}
		}
	}
}
