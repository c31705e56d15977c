package ui_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/settings"
	"github.com/berth-registry/berth/internal/sign"
	"github.com/berth-registry/berth/internal/ui"
	"github.com/berth-registry/berth/internal/webhook"
)

func TestMain(m *testing.M) {
	auth.BcryptCost = 4
	code := m.Run()
	if big.dir != "" {
		os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// env is berth's API and UI on a real SQLite store, mounted as the
// application mounts them.
type env struct {
	t     testing.TB
	ctx   context.Context
	store *sqlstore.Store
	path  string // of the SQLite file
	srv   *httptest.Server
	ui    http.Handler
}

// newEnv is an env on a new database with the user admin; with adds to
// the API's options (services only some tests need).
func newEnv(t testing.TB, with ...envOption) *env {
	t.Helper()
	e := newEnvAt(t, filepath.Join(t.TempDir(), "meta.db"), with...)
	e.user("admin", true)
	return e
}

// envOption adds to the API's options over the env's store.
type envOption func(o *api.Options, store *sqlstore.Store, sealer *settings.Sealer, log *slog.Logger)

// newEnvAt is an env on the database file path (which may hold data).
func newEnvAt(t testing.TB, path string, with ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	authn := &auth.Authenticator{Store: store, Limiter: auth.NewLimiter(auth.DefaultLimiterConfig)}
	discardLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := settings.New(store, discardLog)
	if err := st.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	sealer, err := settings.NewSealer(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	opt := api.Options{Access: store, Store: store, Catalog: store, Auth: authn, Version: "test",
		System:     api.SystemOptions{Settings: st},
		Signing:    sign.New(sign.Options{Store: store}),
		Webhooks:   webhook.New(webhook.Options{Store: store, Projects: store, Sealer: sealer, Log: discardLog}),
		SessionKey: bytes.Repeat([]byte("k"), 32),
		Audit: func(rec meta.AuditRecord) {
			rec.At = time.Now()
			_ = store.AppendAudit(ctx, []meta.AuditRecord{rec})
		}}
	for _, w := range with {
		w(&opt, store, sealer, discardLog)
	}
	h := api.New(opt)
	u := ui.New(ui.Options{API: h, Version: "test", Manifest: func(ctx context.Context, repo, d string) ([]byte, error) {
		m, err := store.GetManifest(ctx, repo, d, true)
		if err != nil {
			return nil, err
		}
		return m.Body, nil
	}})
	mux := http.NewServeMux()
	mux.Handle(api.Prefix+"/", h)
	mux.Handle("/c/", h)
	mux.Handle("/", u)
	e := &env{t: t, ctx: ctx, store: store, ui: u, path: path}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func password(name string) string { return "Pw-" + name + "-12345" }

func (e *env) user(name string, admin bool) int64 {
	e.t.Helper()
	hash, err := auth.HashPassword(password(name))
	if err != nil {
		e.t.Fatal(err)
	}
	u := &meta.User{Username: name, PasswordHash: hash, SysAdmin: admin, Email: name + "@example.org"}
	if err := e.store.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	got, err := e.store.GetUserByName(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return got.ID
}

// project creates a project with members (user name → role id).
func (e *env) project(name string, public bool, members map[string]int) *meta.Project {
	e.t.Helper()
	admin, err := e.store.GetUserByName(e.ctx, "admin")
	if err != nil {
		e.t.Fatal(err)
	}
	p := &meta.Project{Name: name, Public: public, OwnerID: admin.ID}
	if err := e.store.CreateProject(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	for n, role := range members {
		u, err := e.store.GetUserByName(e.ctx, n)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.SetMember(e.ctx, p.ID, u.ID, role); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

// push stores a small image in repo with tags and annotations.
func (e *env) push(repo string, annotations map[string]string, tags ...string) digest.Digest {
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
	ann, _ := json.Marshal(annotations)
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}],"annotations":%s}`,
		oci.MediaTypeImageManifest, cfg.Digest, cfg.Size, layer.Digest, layer.Size, ann)
	sum := sha256.Sum256([]byte(body))
	m := &meta.Manifest{Repo: repo, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:]), MediaType: oci.MediaTypeImageManifest,
		Size: int64(len(body)), Body: []byte(body), ArtifactType: "application/vnd.oci.image.config.v1+json",
		Refs: []oci.Ref{{Digest: cfg.Digest, Size: cfg.Size}, {Digest: layer.Digest, Size: layer.Size}}}
	if err := e.store.PutManifest(e.ctx, m, tags); err != nil {
		e.t.Fatal(err)
	}
	return m.Digest
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser(user string) *browser {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	if user != "" {
		resp, _ := b.post("/login", url.Values{"principal": {user}, "password": {password(user)}, "next": {"/projects"}})
		if resp.StatusCode != http.StatusSeeOther {
			e.t.Fatalf("sign in as %s: status %d", user, resp.StatusCode)
		}
	}
	return b
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(r)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (b *browser) get(path string, hdr ...string) (*http.Response, string) {
	return b.do(http.MethodGet, path, nil, hdr...)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	return b.do(http.MethodPost, path, form)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf is the token in the forms of page path.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	_, body := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token in %s", path)
	}
	return m[1]
}

// submit posts a form with the CSRF token of page from.
func (b *browser) submit(from, action string, form url.Values) (*http.Response, string) {
	form.Set("csrf", b.csrf(from))
	return b.post(action, form)
}

// big is a database with a private project "secret" whose repository
// "secret/app" holds 10,000 artifacts (tags t00000…t09999), users admin
// and dev, and the store indexes: built once, copied by each test that
// wants it.
var big struct {
	once   sync.Once
	dir    string
	newest digest.Digest
	err    error
}

// bigArtifacts is 10,000, or 1,000 under the race detector (make test),
// where a 10,000-artifact page takes tens of seconds: plain go test and
// make bench-ui run the 10,000.
var bigArtifacts = map[bool]int{false: 10_000, true: 1_000}[raceDetector]

// bigEnv is a copy of the big database, with more API options.
func bigEnv(t *testing.T, with ...envOption) (*env, digest.Digest) {
	t.Helper()
	big.once.Do(func() {
		big.dir, big.err = os.MkdirTemp("", "berth-ui-big")
		if big.err != nil {
			return
		}
		ctx := context.Background()
		path := filepath.Join(big.dir, "meta.db")
		store, err := sqlstore.OpenSQLite(ctx, path)
		if err != nil {
			big.err = err
			return
		}
		defer store.Close()
		e := &env{t: t, ctx: ctx, store: store, path: path}
		e.user("admin", true)
		e.user("dev", false)
		e.project("secret", false, nil)
		start := time.Now()
		big.newest = e.seedMany("secret/app", bigArtifacts)
		t.Logf("seeded %d artifacts in %v", bigArtifacts, time.Since(start).Round(time.Millisecond))
	})
	if big.err != nil {
		t.Fatal(big.err)
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(big.dir, "meta.db"+suffix))
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return newEnvAt(t, path, with...), big.newest
}
