package replication

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/settings"
)

// Adapter types (Harbor's registry types that berth speaks).
const (
	TypeDockerRegistry = "docker-registry"
	TypeHarbor         = "harbor"
	TypeDockerHub      = "docker-hub"
)

// Credential types (Harbor's).
const (
	CredentialBasic  = "basic"
	CredentialOAuth  = "oauth"
	CredentialSecret = "secret"
)

// Health statuses of a registry.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// Redacted is what the API shows instead of a secret.
const Redacted = "*****"

// ErrInvalid wraps the reasons a registry or policy is refused (the API
// answers 400 with the message).
var ErrInvalid = errors.New("invalid")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Credential is how berth signs in to a registry.
type Credential struct {
	Type         string // CredentialBasic, CredentialOAuth, CredentialSecret
	AccessKey    string
	AccessSecret string
}

// Registry is a remote registry endpoint with its credential in clear
// (Registries.Get opens it; it is sealed at rest and never shown).
type Registry struct {
	ID          int64
	Name        string
	Description string
	Type        string
	URL         string
	// Credential is nil for anonymous access.
	Credential    *Credential
	Insecure      bool
	CACertificate string
	Status        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Registries keeps the registry endpoints: credentials sealed at rest
// with the Sealer, health checked on demand and every HealthEvery, and
// reached through Remote, whose requests are rate limited per registry
// and back off on 429 and 503 as Retry-After says.
type Registries struct {
	Store  meta.RegistryStore
	Sealer *settings.Sealer
	Log    *slog.Logger
	// UserAgent is sent with every outbound request.
	UserAgent string
	// Rate and Burst bound the requests per second to one registry, over
	// all of berth's work with it (0: DefaultRate, DefaultBurst).
	Rate  float64
	Burst int
	// MaxRetries bounds the retries of one request answered 429 or 503
	// (0: DefaultMaxRetries); MaxBackoff bounds one wait (0:
	// DefaultMaxBackoff).
	MaxRetries int
	MaxBackoff time.Duration
	// Timeout bounds a health check (0: 10s).
	Timeout time.Duration

	mu        sync.Mutex
	endpoints map[int64]*endpoint
}

// Defaults of the zero fields of Registries.
const (
	DefaultRate       = 200
	DefaultBurst      = 100
	DefaultMaxRetries = 5
	DefaultMaxBackoff = time.Minute
	// HealthEvery is Harbor's health check period.
	HealthEvery = 5 * time.Minute
)

// New returns the registries kept in store.
func New(store meta.RegistryStore, sealer *settings.Sealer, log *slog.Logger) *Registries {
	if log == nil {
		log = slog.Default()
	}
	return &Registries{Store: store, Sealer: sealer, Log: log, UserAgent: "berth"}
}

// validate checks r and normalizes its URL (no trailing slash; Docker
// Hub's registry for its web address).
func validate(r *Registry) error {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len(r.Name) > 255 {
		return invalid("name must be 1 to 255 characters")
	}
	if _, ok := adapters[r.Type]; !ok {
		return invalid("type %q is not supported (supported: %s)", r.Type, strings.Join(AdapterTypes(), ", "))
	}
	if r.Type == TypeDockerHub && r.URL == "" {
		r.URL = dockerHubURL
	}
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(r.URL), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return invalid("url must be an http:// or https:// address (got %q)", r.URL)
	}
	if u.Path != "" {
		return invalid("url must not have a path (got %q)", r.URL)
	}
	r.URL = u.String()
	if c := r.Credential; c != nil {
		switch c.Type {
		case "":
			c.Type = CredentialBasic
		case CredentialBasic, CredentialOAuth, CredentialSecret:
		default:
			return invalid("credential type %q is not supported (basic, oauth, secret)", c.Type)
		}
		if c.AccessKey == "" && c.AccessSecret == "" {
			r.Credential = nil
		}
	}
	if r.CACertificate != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(r.CACertificate)) {
		return invalid("ca_certificate holds no PEM certificate")
	}
	return nil
}

// row is r as stored: the secret sealed.
func (rs *Registries) row(r *Registry) (*meta.Registry, error) {
	m := &meta.Registry{ID: r.ID, Name: r.Name, Description: r.Description, Type: r.Type, URL: r.URL,
		Insecure: r.Insecure, CACertificate: r.CACertificate, Status: r.Status}
	if c := r.Credential; c != nil {
		m.CredentialType, m.AccessKey = c.Type, c.AccessKey
		if c.AccessSecret != "" {
			if rs.Sealer == nil {
				return nil, errors.New("replication: no sealing key for registry credentials")
			}
			m.AccessSecret = rs.Sealer.Seal(c.AccessSecret)
		}
	}
	return m, nil
}

// registryOf is m with its secret opened (open) or redacted.
func (rs *Registries) registryOf(m *meta.Registry, open bool) (*Registry, error) {
	r := &Registry{ID: m.ID, Name: m.Name, Description: m.Description, Type: m.Type, URL: m.URL, Insecure: m.Insecure,
		CACertificate: m.CACertificate, Status: m.Status, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if m.CredentialType == "" && m.AccessKey == "" && m.AccessSecret == "" {
		return r, nil
	}
	r.Credential = &Credential{Type: m.CredentialType, AccessKey: m.AccessKey}
	switch {
	case m.AccessSecret == "":
	case !open:
		r.Credential.AccessSecret = Redacted
	case rs.Sealer == nil:
		return nil, errors.New("replication: no sealing key to open registry credentials")
	default:
		s, err := rs.Sealer.Open(m.AccessSecret)
		if err != nil {
			return nil, err
		}
		r.Credential.AccessSecret = s
	}
	return r, nil
}

// Create validates and adds r (Status is set by a first health check,
// run in the background); ErrInvalid, meta.ErrConflict (name taken).
func (rs *Registries) Create(ctx context.Context, r *Registry) error {
	if err := validate(r); err != nil {
		return err
	}
	m, err := rs.row(r)
	if err != nil {
		return err
	}
	if err := rs.Store.CreateRegistry(ctx, m); err != nil {
		return err
	}
	r.ID, r.CreatedAt, r.UpdatedAt = m.ID, m.CreatedAt, m.UpdatedAt
	rs.checkLater(r.ID)
	return nil
}

// Get returns registry id with its credential in clear; meta.ErrNotFound
// if there is none.
func (rs *Registries) Get(ctx context.Context, id int64) (*Registry, error) {
	m, err := rs.Store.Registry(ctx, id)
	if err != nil {
		return nil, err
	}
	return rs.registryOf(m, true)
}

// Shown returns registry id with its secret redacted.
func (rs *Registries) Shown(ctx context.Context, id int64) (*Registry, error) {
	m, err := rs.Store.Registry(ctx, id)
	if err != nil {
		return nil, err
	}
	return rs.registryOf(m, false)
}

// List lists registries with their secrets redacted (keys: see
// meta.RegistryStore.ListRegistries).
func (rs *Registries) List(ctx context.Context, q meta.ListQuery) ([]Registry, int64, error) {
	rows, total, err := rs.Store.ListRegistries(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Registry, 0, len(rows))
	for i := range rows {
		r, err := rs.registryOf(&rows[i], false)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	return out, total, nil
}

// Update validates and saves r (as Get returned it, changed); a
// Credential.AccessSecret equal to Redacted keeps the stored secret.
func (rs *Registries) Update(ctx context.Context, r *Registry) error {
	if err := validate(r); err != nil {
		return err
	}
	old, err := rs.Store.Registry(ctx, r.ID)
	if err != nil {
		return err
	}
	keep := r.Credential != nil && r.Credential.AccessSecret == Redacted
	if keep {
		r.Credential.AccessSecret = ""
	}
	m, err := rs.row(r)
	if err != nil {
		return err
	}
	if keep {
		m.AccessSecret = old.AccessSecret
	}
	if err := rs.Store.UpdateRegistry(ctx, m); err != nil {
		return err
	}
	r.UpdatedAt = m.UpdatedAt
	rs.checkLater(r.ID)
	return nil
}

// Delete removes registry id; meta.ErrInUse while a policy uses it.
func (rs *Registries) Delete(ctx context.Context, id int64) error {
	if err := rs.Store.DeleteRegistry(ctx, id); err != nil {
		return err
	}
	rs.forget(id)
	return nil
}

// Ping checks that r answers as a registry of its type and accepts its
// credential; the error says why not.
func (rs *Registries) Ping(ctx context.Context, r *Registry) error {
	if err := validate(r); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, rs.timeout())
	defer cancel()
	rm, err := rs.remoteOf(r, false)
	if err != nil {
		return err
	}
	return rm.Ping(ctx)
}

// Check pings registry id and records its status.
func (rs *Registries) Check(ctx context.Context, id int64) (string, error) {
	r, err := rs.Get(ctx, id)
	if err != nil {
		return "", err
	}
	status, perr := Healthy, rs.Ping(ctx, r)
	if perr != nil {
		status = Unhealthy
		rs.Log.Warn("registry health check failed", "registry", r.Name, "id", r.ID, "err", perr)
	}
	if status != r.Status {
		if err := rs.Store.SetRegistryStatus(ctx, id, status); err != nil {
			return "", err
		}
	}
	return status, perr
}

// CheckAll refreshes the status of every registry (up to
// meta.MaxListSize): the periodic health check.
func (rs *Registries) CheckAll(ctx context.Context) error {
	rows, _, err := rs.Store.ListRegistries(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: meta.MaxListSize}})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := rs.Check(ctx, r.ID); err != nil && !errors.Is(err, meta.ErrNotFound) && ctx.Err() == nil {
			continue // recorded as unhealthy and logged
		}
	}
	return nil
}

// checkLater checks a new or changed registry off the request path.
func (rs *Registries) checkLater(id int64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), rs.timeout()+5*time.Second)
		defer cancel()
		_, _ = rs.Check(ctx, id)
	}()
}

func (rs *Registries) timeout() time.Duration {
	if rs.Timeout > 0 {
		return rs.Timeout
	}
	return 10 * time.Second
}

// endpoint is what berth keeps per registry between requests: its HTTP
// transport (TLS settings, idle connections) and its rate limiter.
type endpoint struct {
	updated time.Time
	base    *http.Transport
	limit   *limiter
}

// endpointOf returns r's endpoint, made anew when r changed; r.ID 0 (a
// ping of an unsaved registry) gets a fresh one every time.
func (rs *Registries) endpointOf(r *Registry) (*endpoint, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if e := rs.endpoints[r.ID]; r.ID != 0 && e != nil && e.updated.Equal(r.UpdatedAt) {
		return e, nil
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: r.Insecure}, //nolint:gosec // the registry's own setting (Harbor's insecure)
	}
	if r.CACertificate != "" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(r.CACertificate))
		tr.TLSClientConfig.RootCAs = pool
	}
	rate, burst := rs.Rate, rs.Burst
	if rate <= 0 {
		rate = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	e := &endpoint{updated: r.UpdatedAt, base: tr, limit: newLimiter(rate, burst)}
	if r.ID == 0 {
		return e, nil
	}
	if old := rs.endpoints[r.ID]; old != nil {
		old.base.CloseIdleConnections()
		e.limit = old.limit // the registry's budget outlives an edit
	}
	if rs.endpoints == nil {
		rs.endpoints = map[int64]*endpoint{}
	}
	rs.endpoints[r.ID] = e
	return e, nil
}

func (rs *Registries) forget(id int64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if e := rs.endpoints[id]; e != nil {
		e.base.CloseIdleConnections()
		delete(rs.endpoints, id)
	}
}
