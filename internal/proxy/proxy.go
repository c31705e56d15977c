// Package proxy serves proxy-cache projects: a project created with a
// registry_id mirrors that registry, fetching what is pulled from it and
// keeping it in the normal metadata and blob stores (so garbage
// collection, quotas and retention see it as any other content).
//
// Harbor's semantics (src/server/middleware/repoproxy, src/controller/proxy)
// are kept: a pull by tag asks the upstream (HEAD) for the tag's current
// digest, a pull by digest is served locally when cached, a repository not
// matching the project's filter is 404, pushes are refused. Where Harbor
// fails, berth does not:
//   - an index is stored with its original bytes, so its digest is the
//     upstream's; its children are fetched on their first pull;
//   - any upstream failure (down, 429, 5xx, auth, timeout) serves the cached
//     copy when there is one (stale-if-error); only an upstream 404 for a
//     tag is passed on (unless proxy_cache_local_on_not_found);
//   - a first blob pull streams to the client while it is stored, with its
//     digest verified before anything is committed;
//   - concurrent pulls of one blob fetch it from the upstream once;
//   - an uncached reference with the upstream down fails within a bound
//     (Options.Timeout) with an OCI error saying so.
//
// Cached content counts against the project's quota, as in Harbor: it is
// linked like pushed content. Past the quota the content is still served,
// only not kept.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
)

// Project metadata keys read by the proxy (Harbor's).
const (
	KeySpeedKB         = "proxy_speed_kb"
	KeyMaxConn         = "max_upstream_conn"
	KeyLocalOnNotFound = "proxy_cache_local_on_not_found"
	KeyFilterPattern   = "proxy_cache_filter_pattern"
	KeyFilterKind      = "proxy_cache_filter_kind"
)

// Upstream is where a proxy-cache project pulls from, with its
// credentials.
type Upstream struct {
	// URL is the registry's base URL (https://host[:port] or http://...).
	URL string
	// Insecure skips TLS verification (and allows plain HTTP).
	Insecure bool
	// Auth authenticates to the upstream (authn.Anonymous when none).
	Auth authn.Authenticator
	// Transport, if set, carries the requests to this registry (the
	// registry's own: TLS settings, rate limit); nil: one made from
	// Insecure.
	Transport http.RoundTripper
	// DockerHub applies Docker Hub's rules: its registry is
	// index.docker.io, and a one-segment repository name is
	// library/<name> there.
	DockerHub bool
}

// Registries looks up a registry endpoint by id (internal/replication).
type Registries interface {
	Upstream(ctx context.Context, id int64) (*Upstream, error)
}

// Store is what the proxy needs of the metadata store.
type Store interface {
	meta.Store
	meta.ProxyStore
}

// Options configure an Engine.
type Options struct {
	Meta       Store
	Blobs      blob.Store
	Registries Registries
	// Timeout bounds every upstream request before its first byte: a
	// manifest HEAD or GET, a blob's response headers (default 10s). The
	// HEAD of a tag that is cached gets a quarter of it (at least 250ms)
	// before the cached copy is served.
	Timeout time.Duration
	// Refresh is how often the list of proxy-cache projects is read again,
	// so projects created or deleted through another replica are seen
	// (default 30s). Changes through this one are seen at once (Reload).
	Refresh time.Duration
	// TagTTL: a tag checked against the upstream less than this long ago
	// is served from the cache without asking again (0: every pull by tag
	// asks, as Harbor does). Bursts of pulls of one tag (a fleet rolling
	// out) then cost the upstream one HEAD.
	TagTTL time.Duration
	// Transport, if set, carries upstream requests (tests).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Engine answers the registry's requests on proxy-cache projects.
type Engine struct {
	opt Options
	log *slog.Logger

	projects atomic.Pointer[map[string]*project] // by project name
	reloadMu sync.Mutex

	flight singleflight.Group

	freshMu sync.Mutex
	fresh   map[string]time.Time // "repo:tag" -> when the upstream confirmed it
}

// maxFresh bounds the tags remembered as recently checked; past it the
// memory starts over (they are then checked again).
const maxFresh = 10000

// recent reports whether tag of repo was confirmed by the upstream less
// than TagTTL ago.
func (e *Engine) recent(repo, tag string) bool {
	if e.opt.TagTTL <= 0 {
		return false
	}
	e.freshMu.Lock()
	defer e.freshMu.Unlock()
	t, ok := e.fresh[repo+":"+tag]
	return ok && time.Since(t) < e.opt.TagTTL
}

// confirmed records that the upstream just confirmed tag of repo.
func (e *Engine) confirmed(repo, tag string) {
	if e.opt.TagTTL <= 0 {
		return
	}
	e.freshMu.Lock()
	defer e.freshMu.Unlock()
	if e.fresh == nil || len(e.fresh) >= maxFresh {
		e.fresh = map[string]time.Time{}
	}
	e.fresh[repo+":"+tag] = time.Now()
}

// project is a proxy-cache project as the engine uses it.
type project struct {
	meta.ProxyProject
	filter          string // doublestar pattern on the repository name inside the project ("" = all)
	speedKB         int64  // upstream bandwidth per transfer, KB/s (<= 0: unlimited)
	localOnNotFound bool
	conns           chan struct{} // nil: unlimited

	mu       sync.Mutex
	upstream *upstream // built on first use, again after Refresh (the registry may have changed)
	built    time.Time
}

// New returns an engine; call Reload (or Run) before serving.
func New(opt Options) *Engine {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Refresh <= 0 {
		opt.Refresh = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	e := &Engine{opt: opt, log: opt.Logger}
	e.projects.Store(&map[string]*project{})
	return e
}

// Run reloads the proxy-cache projects every Refresh until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(e.opt.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.Reload(ctx); err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "reloading proxy-cache projects", "err", err)
			}
		}
	}
}

// Reload reads the proxy-cache projects again. A project whose settings
// did not change keeps its upstream client (and its tokens).
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	list, err := e.opt.Meta.ProxyProjects(ctx)
	if err != nil {
		return err
	}
	old := *e.projects.Load()
	next := make(map[string]*project, len(list))
	for _, pp := range list {
		p := newProject(pp)
		if o := old[pp.Name]; o != nil && o.same(p) {
			p = o
		}
		next[pp.Name] = p
	}
	e.projects.Store(&next)
	return nil
}

func newProject(pp meta.ProxyProject) *project {
	p := &project{ProxyProject: pp, localOnNotFound: pp.Metadata[KeyLocalOnNotFound] == "true"}
	if pp.Metadata[KeyFilterKind] == "" || pp.Metadata[KeyFilterKind] == "doublestar" {
		p.filter = pp.Metadata[KeyFilterPattern]
	}
	if n, err := strconv.ParseInt(pp.Metadata[KeySpeedKB], 10, 64); err == nil {
		p.speedKB = n
	}
	if n, err := strconv.Atoi(pp.Metadata[KeyMaxConn]); err == nil && n > 0 {
		p.conns = make(chan struct{}, n)
	}
	return p
}

// same reports whether q has p's settings.
func (p *project) same(q *project) bool {
	if p.ID != q.ID || p.RegistryID != q.RegistryID || len(p.Metadata) != len(q.Metadata) {
		return false
	}
	for k, v := range p.Metadata {
		if q.Metadata[k] != v {
			return false
		}
	}
	return true
}

// Proxied reports whether repo is in a proxy-cache project. It is on the
// hot path of every pull and push: one atomic load and a map lookup, no
// allocation.
func (e *Engine) Proxied(repo string) bool {
	return e.lookup(repo) != nil
}

func (e *Engine) lookup(repo string) *project {
	i := strings.IndexByte(repo, '/')
	if i < 0 {
		return nil
	}
	return (*e.projects.Load())[repo[:i]]
}

// ValidFilter checks a proxy_cache_filter_pattern.
func ValidFilter(pattern string) bool { return doublestar.ValidatePattern(pattern) }

// match reports whether the project's filter admits repo (its full name).
func (p *project) match(repo string) bool {
	if p.filter == "" {
		return true
	}
	ok, _ := doublestar.Match(p.filter, repo[len(p.Name)+1:])
	return ok
}

// acquire takes one of the project's upstream connections; false when all
// max_upstream_conn are in use (Harbor answers 429).
func (p *project) acquire() (release func(), ok bool) {
	if p.conns == nil {
		return func() {}, true
	}
	select {
	case p.conns <- struct{}{}:
		return func() { <-p.conns }, true
	default:
		return nil, false
	}
}

// Error is an error answered to the client with an OCI code and status.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// OCIError gives the registry the code, status and message to answer.
func (e *Error) OCIError() (code string, status int, message string) {
	return e.Code, e.Status, e.Message
}

// errUpstream is the answer when the upstream could not give what is not
// cached: 429 passed on, anything else 503 naming the cause.
func errUpstream(what string, err error) error {
	var te interface{ Temporary() bool }
	if status := upstreamStatus(err); status == http.StatusTooManyRequests {
		return &Error{Code: "TOOMANYREQUESTS", Status: http.StatusTooManyRequests,
			Message: fmt.Sprintf("too many requests to upstream registry; %s is not cached", what)}
	}
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Temporary() {
		msg = "no answer in time"
	}
	return &Error{Code: "UNAVAILABLE", Status: http.StatusServiceUnavailable,
		Message: fmt.Sprintf("proxy cache: %s is not cached and the upstream registry is unavailable: %s", what, msg)}
}

var errTooManyConns = &Error{Code: "TOOMANYREQUESTS", Status: http.StatusTooManyRequests,
	Message: "proxy cache: max_upstream_conn reached for this project; try again later"}

// CheckRegistry says whether registry id can back a proxy-cache project:
// its endpoint can be looked up (meta.ErrNotFound if there is none).
func (e *Engine) CheckRegistry(ctx context.Context, id int64) error {
	_, err := e.opt.Registries.Upstream(ctx, id)
	return err
}

// RegistryInUse reports whether a proxy-cache project pulls from registry
// id (which then cannot be deleted, as in Harbor). It reads the store, not
// the engine's list, so a project just created elsewhere counts.
func (e *Engine) RegistryInUse(ctx context.Context, id int64) (bool, error) {
	list, err := e.opt.Meta.ProxyProjects(ctx)
	if err != nil {
		return false, err
	}
	for _, p := range list {
		if p.RegistryID == id {
			return true, nil
		}
	}
	return false, nil
}
