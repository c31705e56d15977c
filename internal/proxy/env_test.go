package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/proxy"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/test/distserver"
)

// upstreamEnv is the reference registry (distribution v3.1.2) behind a
// reverse proxy that counts the requests it forwards.
type upstreamEnv struct {
	t     testing.TB
	dist  *distserver.Server
	front *httptest.Server
	host  string // the front's host:port: what berth and the tests push to

	mu     sync.Mutex
	counts map[string]int // "METHOD path" -> requests
	// fail: 0 forwards; hang holds every request until the client gives
	// up; any other value is answered with that status.
	fail    int
	corrupt bool // flip the last byte of blob bodies
	stall   bool // send blob headers and 1 KiB, then nothing
}

const hang = -1

func (u *upstreamEnv) setFail(status int) {
	u.mu.Lock()
	u.fail = status
	u.mu.Unlock()
}

// The upstream's credentials (htpasswd basic auth).
const upUser, upPassword = "puller", "pull-secret"

var upAuth = &authn.Basic{Username: upUser, Password: upPassword}

func startUpstream(t testing.TB) *upstreamEnv {
	t.Helper()
	srv := distserver.Start(t, distserver.Options{User: upUser, Password: upPassword})
	u := &upstreamEnv{t: t, counts: map[string]int{}, dist: srv}
	t.Cleanup(u.stop)
	addr := srv.Addr()
	target := &url.URL{Scheme: "http", Host: addr}
	rp := httputil.NewSingleHostReverseProxy(target)
	u.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.counts[r.Method+" "+r.URL.Path]++
		fail, corrupt, stall := u.fail, u.corrupt, u.stall
		u.mu.Unlock()
		switch {
		case stall && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/"):
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes()[:min(1024, rec.Body.Len())])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		case fail == hang:
			<-r.Context().Done()
			return
		case fail != 0:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"failing on purpose"}]}`, fail)
			return
		case corrupt && strings.Contains(r.URL.Path, "/blobs/"):
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)-1] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	u.host = strings.TrimPrefix(u.front.URL, "http://")
	return u
}

// count is the number of requests forwarded for method and path.
func (u *upstreamEnv) count(method, path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[method+" "+path]
}

// stop kills the registry and closes the front: the upstream is down
// (connections refused).
func (u *upstreamEnv) stop() {
	if u.front != nil {
		u.front.Close()
		u.front = nil
	}
	if u.dist != nil {
		u.dist.Kill()
		u.dist = nil
	}
}

// registries maps registry id 1 to the upstream.
type registries struct{ url string }

func (r registries) Upstream(_ context.Context, id int64) (*proxy.Upstream, error) {
	if id != 1 {
		return nil, meta.ErrNotFound
	}
	return &proxy.Upstream{URL: r.url, Auth: upAuth}, nil
}

// berthEnv is berth's registry with the proxy engine on embedded stores,
// with project "hub" a proxy cache of the upstream and "direct" a normal
// project.
type berthEnv struct {
	meta   *sqlstore.Store
	engine *proxy.Engine
	srv    *httptest.Server
	host   string
}

func startBerth(t testing.TB, up *upstreamEnv, timeout time.Duration, hubMeta map[string]string) *berthEnv {
	t.Helper()
	return startBerthWith(t, up, proxy.Options{Timeout: timeout}, hubMeta)
}

// startBerthWith is startBerth with more of the engine's options (its
// stores, registries and logger are set here).
func startBerthWith(t testing.TB, up *upstreamEnv, opt proxy.Options, hubMeta map[string]string) *berthEnv {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	m, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	md := map[string]string{meta.ProxyRegistryKey: "1"}
	for k, v := range hubMeta {
		md[k] = v
	}
	if err := m.CreateProjectWith(ctx, &meta.Project{Name: "hub", OwnerID: 0}, meta.ProjectChange{Metadata: md}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateProjectWith(ctx, &meta.Project{Name: "direct", OwnerID: 0}, meta.ProjectChange{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opt.Meta, opt.Blobs, opt.Registries, opt.Logger = m, b, registries{up.front.URL}, log
	e := proxy.New(opt)
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(m, b, registry.Options{Logger: log, Proxy: e, DeleteEnabled: true})
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &berthEnv{meta: m, engine: e, srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}
