package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// upstream is a project's client of its registry: one go-containerregistry
// Puller, which keeps each repository's token between requests.
type upstream struct {
	host      string
	opts      []name.Option
	dockerHub bool
	puller    *remote.Puller
}

// client returns p's upstream client, building it on first use.
func (e *Engine) client(ctx context.Context, p *project) (*upstream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.upstream != nil && time.Since(p.built) < e.opt.Refresh {
		return p.upstream, nil
	}
	up, err := e.opt.Registries.Upstream(ctx, p.RegistryID)
	if err != nil {
		return nil, fmt.Errorf("registry %d of proxy project %s: %w", p.RegistryID, p.Name, err)
	}
	u, err := url.Parse(up.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("registry %d: bad URL %q", p.RegistryID, up.URL)
	}
	c := &upstream{host: u.Host, dockerHub: up.DockerHub}
	if u.Scheme == "http" || up.Insecure {
		c.opts = append(c.opts, name.Insecure)
	}
	if c.dockerHub || c.host == "docker.io" || c.host == "registry-1.docker.io" {
		c.host, c.dockerHub = name.DefaultRegistry, true
	}
	tr := e.opt.Transport
	if tr == nil {
		tr = up.Transport
	}
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = e.opt.Timeout
		if up.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the registry is configured insecure
		}
		tr = t
	}
	auth := up.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	// One quick retry at most: an upstream that is down must fail within
	// the bound, not after go-containerregistry's default backoff.
	c.puller, err = remote.NewPuller(remote.WithTransport(tr), remote.WithAuth(auth),
		remote.WithUserAgent("berth-proxy-cache"),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}))
	if err != nil {
		return nil, err
	}
	p.upstream, p.built = c, time.Now()
	return c, nil
}

// repo is the upstream repository of local repo (project/path...): the
// path without the project, library/<path> on Docker Hub for a one-segment
// path.
func (c *upstream) repo(p *project, repo string) (name.Repository, error) {
	path := repo[len(p.Name)+1:]
	if c.dockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return name.NewRepository(c.host+"/"+path, c.opts...)
}

// upstreamStatus is the HTTP status of an upstream error, 0 if none.
func upstreamStatus(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// throttle limits a reader to kbps KB/s (Harbor's proxy_speed_kb).
type throttle struct {
	r     io.Reader
	rate  float64 // bytes per second
	start time.Time
	n     int64
}

func throttled(r io.Reader, kbps int64) io.Reader {
	if kbps <= 0 {
		return r
	}
	return &throttle{r: r, rate: float64(kbps) * 1024, start: time.Now()}
}

func (t *throttle) Read(b []byte) (int, error) {
	if max := int(t.rate / 10); len(b) > max && max > 0 { // ~10 sleeps a second at most
		b = b[:max]
	}
	n, err := t.r.Read(b)
	t.n += int64(n)
	if due := time.Duration(float64(t.n) / t.rate * float64(time.Second)); due > time.Since(t.start) {
		time.Sleep(due - time.Since(t.start))
	}
	return n, err
}
