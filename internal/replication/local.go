package replication

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pullstats"
)

// localHost is the name berth's own registry goes by in the references
// replication makes: requests to it never leave the process.
const localHost = "berth.local"

// Local is berth's own registry as replication reaches it: its /v2
// handler, called in process (a push of a pull-mode copy publishes
// Internal events; a read of a push-mode copy is not counted as a pull),
// and its catalog for listing.
type Local struct {
	// Handler serves /v2.
	Handler http.Handler
	// Token, if set, is a bearer token granting pull, push and delete
	// on repos (nil: /v2 needs no credential).
	Token func(repos []string) (string, error)
	// Catalog lists repositories, artifacts and their labels.
	Catalog LocalCatalog
	// EnsureProject, if set, creates the project a pull-mode copy
	// writes into when it does not exist.
	EnsureProject func(ctx context.Context, name string) error

	mu     sync.Mutex
	tokens map[string]cachedToken
}

// LocalCatalog is what replication reads of berth's catalog.
type LocalCatalog interface {
	AllRepositories(ctx context.Context, q meta.RepoQuery) ([]meta.RepoInfo, int64, error)
	Artifacts(ctx context.Context, repo string, q meta.ListQuery) ([]meta.ArtifactInfo, int64, error)
	ArtifactLabels(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest][]meta.Label, error)
}

type cachedToken struct {
	token   string
	expires time.Time
}

// remote is berth itself as a Remote.
func (l *Local) remote() *Remote {
	reg, _ := name.NewRegistry(localHost, name.Insecure)
	return &Remote{Registry: &Registry{Name: "local", Type: TypeHarbor, URL: "http://" + localHost}, Host: reg,
		Auth: authn.Anonymous, Transport: &handlerTransport{l: l}, userAgent: "berth-replication"}
}

// tokenFor returns a token for the repositories of a request (cached a
// minute).
func (l *Local) tokenFor(repos []string) (string, error) {
	key := strings.Join(repos, " ")
	l.mu.Lock()
	c, ok := l.tokens[key]
	l.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.token, nil
	}
	tok, err := l.Token(repos)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokens == nil || len(l.tokens) > 1000 {
		l.tokens = map[string]cachedToken{}
	}
	l.tokens[key] = cachedToken{token: tok, expires: time.Now().Add(time.Minute)}
	return tok, nil
}

// requestRepos are the repositories a /v2 request acts on: the one in
// its path and a mount's source.
func requestRepos(r *http.Request) []string {
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	var repos []string
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, sep); i > 0 {
			repos = append(repos, p[:i])
			break
		}
	}
	if from := r.URL.Query().Get("from"); from != "" {
		repos = append(repos, from)
	}
	return repos
}

// handlerTransport answers requests with the local /v2 handler, the
// response body streamed through a pipe.
type handlerTransport struct{ l *Local }

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	in.URL.Scheme, in.URL.Host = "", ""
	if t.l.Token != nil {
		if repos := requestRepos(req); len(repos) > 0 || req.URL.Path == "/v2/" {
			tok, err := t.l.tokenFor(repos)
			if err != nil {
				return nil, err
			}
			in.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				pw.CloseWithError(errors.New("local registry handler panicked"))
			}
			w.WriteHeader(http.StatusOK)
			pw.Close()
		}()
		t.l.Handler.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	resp := &http.Response{StatusCode: w.status, Status: strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: w.sent, Body: pr, Request: req, ContentLength: -1}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	if req.Method == http.MethodHead {
		resp.Body = http.NoBody
		go func() { _, _ = io.Copy(io.Discard, pr) }()
	}
	return resp, nil
}

// pipeWriter is an http.ResponseWriter whose body goes into a pipe.
type pipeWriter struct {
	header http.Header
	sent   http.Header
	pw     *io.PipeWriter
	status int
	once   sync.Once
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) {
	w.once.Do(func() {
		w.status = status
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

func (w *pipeWriter) Flush() {}

// localContext marks ctx as replication's own work on berth: reads are
// not counted as pulls, writes publish Internal events.
func localContext(ctx context.Context) context.Context {
	return events.WithInternal(pullstats.Uncounted(ctx))
}
