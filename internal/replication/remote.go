package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Remote is a registry as berth's outbound clients reach it with
// go-containerregistry: Repository names a repository there (Docker
// Hub's library/ rule applied) and Options are the remote.Options of
// every call (credential, the registry's rate-limited transport, user
// agent). A Remote is cheap; make one per job with Registries.Remote.
type Remote struct {
	Registry *Registry
	// Host is the registry host go-containerregistry talks to (Docker
	// Hub's is index.docker.io, whatever its web URL).
	Host name.Registry
	// Auth signs requests in (authn.Anonymous without a credential).
	Auth authn.Authenticator
	// Transport is the registry's: rate limited, Retry-After honoured,
	// TLS as the registry says. Give it to remote.WithTransport (Options
	// does) or use it for the registry's own API (harbor).
	Transport http.RoundTripper
	userAgent string
}

// Remote returns registry id's Remote (meta.ErrNotFound if none).
func (rs *Registries) Remote(ctx context.Context, id int64) (*Remote, error) {
	r, err := rs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return rs.remoteOf(r, true)
}

// remoteOf builds r's Remote; shared: whether r's endpoint (limiter,
// connections) is kept for the next call.
func (rs *Registries) remoteOf(r *Registry, shared bool) (*Remote, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, invalid("url: %v", err)
	}
	host := u.Host
	if r.Type == TypeDockerHub {
		host = name.DefaultRegistry
	}
	opts := []name.Option{name.StrictValidation}
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return nil, invalid("url: %v", err)
	}
	key := *r
	if !shared {
		key.ID = 0
	}
	e, err := rs.endpointOf(&key)
	if err != nil {
		return nil, err
	}
	retries, backoff := rs.MaxRetries, rs.MaxBackoff
	if retries <= 0 {
		retries = DefaultMaxRetries
	}
	if backoff <= 0 {
		backoff = DefaultMaxBackoff
	}
	scheme := u.Scheme
	if r.Type == TypeDockerHub {
		scheme = "https"
	}
	tr := &limitedTransport{base: e.base, limit: e.limit, scheme: scheme, host: registryHost(reg), maxRetries: retries,
		maxBackoff: backoff, log: rs.Log, registry: r.Name}
	return &Remote{Registry: r, Host: reg, Auth: authOf(r.Credential), Transport: tr, userAgent: rs.UserAgent}, nil
}

// registryHost is the host go-containerregistry puts in its URLs.
func registryHost(reg name.Registry) string {
	if reg.RegistryStr() == name.DefaultRegistry {
		return "index.docker.io"
	}
	return reg.RegistryStr()
}

func authOf(c *Credential) authn.Authenticator {
	switch {
	case c == nil:
		return authn.Anonymous
	case c.Type == CredentialBasic:
		return &authn.Basic{Username: c.AccessKey, Password: c.AccessSecret}
	default: // oauth, secret: a bearer token
		return authn.FromConfig(authn.AuthConfig{RegistryToken: c.AccessSecret})
	}
}

// Options are the remote.Options of a call under ctx. Retries of 429
// and 503 are the transport's (with Retry-After), not
// go-containerregistry's.
func (r *Remote) Options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx), remote.WithAuth(r.Auth), remote.WithTransport(r.Transport),
		remote.WithUserAgent(r.userAgent),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusGatewayTimeout),
	}
}

// Repository names repo at the registry (Docker Hub: "nginx" is
// "library/nginx").
func (r *Remote) Repository(repo string) (name.Repository, error) {
	if r.Registry.Type == TypeDockerHub && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	return r.Host.Repo(repo), nil
}

// Ping checks the registry answers /v2/ and accepts the credential (a
// token service's too); a harbor registry must also answer its API.
func (r *Remote) Ping(ctx context.Context) error {
	rt, err := transport.NewWithContext(ctx, r.Host, r.Auth, r.Transport, nil)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+registryHost(r.Host)+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered /v2/ with %s", r.Registry.URL, resp.Status)
	}
	if r.Registry.Type == TypeHarbor {
		var info struct {
			AuthMode string `json:"auth_mode"`
		}
		return r.harborGet(ctx, "/api/v2.0/systeminfo", &info)
	}
	return nil
}

// harborGet reads a JSON document of a harbor registry's API (its own
// HTTP API, not the registry protocol).
func (r *Remote) harborGet(ctx context.Context, path string, v any) error {
	_, err := r.harborDo(ctx, http.MethodGet, path, nil, v)
	return err
}

// harborDo calls a harbor registry's API (path under its URL).
func (r *Remote) harborDo(ctx context.Context, method, path string, body io.Reader, v any) (*http.Response, error) {
	return r.do(ctx, method, strings.TrimRight(r.Registry.URL, "/")+path, body, v)
}

// do calls an HTTP API of the registry (Harbor's, Docker Hub's) with the
// registry's credential (basic) and reads its JSON answer into v (if not
// nil).
func (r *Remote) do(ctx context.Context, method, u string, body io.Reader, v any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", r.userAgent)
	if c := r.Registry.Credential; c != nil && c.Type == CredentialBasic {
		req.SetBasicAuth(c.AccessKey, c.AccessSecret)
	}
	resp, err := r.Transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp, &HTTPError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s %s", method, req.URL.Path, resp.Status,
			strings.TrimSpace(string(msg)))}
	}
	if v != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
			return resp, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
		}
	}
	return resp, nil
}

// HTTPError is a registry API's refusal.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return e.Message }
