package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/rbac"
)

// maxConfigSize bounds the config blob the API reads for extra_attrs and
// build_history: image configs are a few KiB, rarely a MiB. A larger one
// leaves extra_attrs out.
const maxConfigSize = 4 << 20

// configReaders bounds the configs one request reads at once.
const configReaders = 4

var (
	// errBlobAbsent: the blob is not linked into the repository, or the
	// blob store has no bytes for it (or the API was given no store).
	errBlobAbsent = errors.New("blob not available")
	// errBlobTooLarge: larger than the caller's bound.
	errBlobTooLarge = errors.New("blob too large")
)

// openBlob opens blob d of repo if it is linked there and at most limit
// bytes long; the reader stops at limit.
func (s *Server) openBlob(ctx context.Context, repo string, d digest.Digest, limit int64) (io.ReadCloser, error) {
	if s.opt.Blobs == nil {
		return nil, errBlobAbsent
	}
	size, err := s.opt.Store.BlobSize(ctx, repo, d)
	if errors.Is(err, meta.ErrBlobNotFound) {
		return nil, errBlobAbsent
	} else if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, errBlobTooLarge
	}
	rc, err := s.opt.Blobs.Open(ctx, d)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, errBlobAbsent
	} else if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, limit), rc}, nil
}

// readConfig reads an artifact's config blob (at most maxConfigSize).
func (s *Server) readConfig(ctx context.Context, repo string, cfg *oci.Descriptor) ([]byte, error) {
	if cfg == nil {
		return nil, errBlobAbsent
	}
	if cfg.Size > maxConfigSize {
		return nil, errBlobTooLarge
	}
	rc, err := s.openBlob(ctx, repo, cfg.Digest, maxConfigSize)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// imageConfigFile is the part of an OCI or Docker image config Harbor
// shows; config keeps only the OCI image-spec's fields, as Harbor's
// decoding into the image-spec's types does.
type imageConfigFile struct {
	Created      *time.Time     `json:"created,omitempty"`
	Author       string         `json:"author,omitempty"`
	Architecture string         `json:"architecture"`
	OS           string         `json:"os"`
	Config       imageConfig    `json:"config"`
	History      []imageHistory `json:"history,omitempty"`
}

type imageConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
}

// imageHistory is one entry of build_history.
type imageHistory struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// imageAttrs is Harbor's extra_attrs of an image: the author falls back to
// the labels that name one.
func imageAttrs(c *imageConfigFile) map[string]any {
	author := c.Author
	for _, l := range []string{"org.opencontainers.image.authors", "maintainer"} {
		if author == "" {
			author = c.Config.Labels[l]
		}
	}
	return map[string]any{"created": c.Created, "architecture": c.Architecture, "os": c.OS,
		"config": c.Config, "author": author}
}

// extraAttrs derives one artifact's extra_attrs.
func (s *Server) extraAttrs(ctx context.Context, repo string, doc *manifestDoc, k kind) (map[string]any, error) {
	switch k.attrs {
	case attrsWASM:
		attrs := map[string]any{"manifest.config.mediaType": mtWASMConfig}
		if len(doc.Layers) > 0 {
			attrs["manifest.layers.mediaType"] = doc.Layers[0].MediaType
			attrs["org.opencontainers.image.title"] = doc.Layers[0].Annotations["org.opencontainers.image.title"]
		}
		return attrs, nil
	case attrsImage, attrsConfigMap:
	default:
		return nil, nil
	}
	var b []byte
	if doc.Config != nil && doc.Config.Size > 0 { // Harbor reads no empty config
		var err error
		if b, err = s.readConfig(ctx, repo, doc.Config); err != nil {
			return nil, err
		}
	}
	if k.attrs == attrsConfigMap {
		if len(b) == 0 {
			return nil, nil
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		return m, nil
	}
	var c imageConfigFile
	if len(b) > 0 {
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, err
		}
	}
	return imageAttrs(&c), nil
}

// fillExtraAttrs sets out[i].ExtraAttrs, reading configs concurrently. A
// config that cannot be read or parsed leaves extra_attrs out (logged
// unless it is only absent or too large): the rest of the artifact is
// still worth answering.
func (s *Server) fillExtraAttrs(ctx context.Context, repo string, docs []manifestDoc, kinds []kind, out []artifact) {
	sem := make(chan struct{}, configReaders)
	var wg sync.WaitGroup
	for i := range out {
		if kinds[i].attrs == attrsNone {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			attrs, err := s.extraAttrs(ctx, repo, &docs[i], kinds[i])
			if err != nil && !errors.Is(err, errBlobAbsent) && !errors.Is(err, errBlobTooLarge) && ctx.Err() == nil {
				s.opt.Logger.Warn("reading an artifact's config", "repository", repo, "digest", out[i].Digest, "err", err)
			}
			if err == nil && len(attrs) > 0 {
				out[i].ExtraAttrs = attrs
			}
		}()
	}
	wg.Wait()
}

// getAddition: GET .../artifacts/{reference}/additions/{addition}. The
// additions an artifact has are those its addition_links name:
// build_history for images, values.yaml, readme.md and dependencies for
// Helm charts. Any other is 404 (Harbor answers 400 for an addition its
// processor of the artifact's type does not know).
func (s *Server) getAddition(w http.ResponseWriter, r *http.Request) error {
	_, repo, a, err := s.artifactFor(r, rbac.ListRepos)
	if err != nil {
		return err
	}
	addition := strings.ToLower(r.PathValue("addition"))
	details, err := s.opt.Catalog.ManifestDetails(r.Context(), repo, []digest.Digest{a.Digest}, true)
	if err != nil {
		return err
	}
	if len(details) == 0 { // deleted since artifactFor
		return errNotFound(fmt.Sprintf("artifact %s@%s not found", repo, a.Digest))
	}
	var doc manifestDoc
	_ = json.Unmarshal(details[0].Body, &doc)
	k := kindOf(&doc, a.MediaType, a.ArtifactType)
	if !slices.Contains(k.additions, addition) {
		return errNotFound(fmt.Sprintf("addition %s isn't supported for %s", r.PathValue("addition"), k.typ))
	}
	var body []byte
	var contentType string
	if addition == additionBuildHistory {
		body, err = s.buildHistory(r.Context(), repo, &doc)
		contentType = "application/json; charset=utf-8"
	} else {
		body, contentType, err = s.chartAddition(r.Context(), repo, &doc, addition)
	}
	switch {
	case errors.Is(err, errBlobAbsent):
		return errNotFound(fmt.Sprintf("the content of addition %s of %s@%s is not in the registry", addition, repo, a.Digest))
	case errors.Is(err, errBlobTooLarge):
		return errUnprocessable(fmt.Sprintf("the content of addition %s is larger than berth reads", addition))
	case err != nil:
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

func errUnprocessable(msg string) error {
	return &Error{http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", msg}
}

// buildHistory is an image's build_history: its config's history
// ([] rather than Harbor's null when it has none).
func (s *Server) buildHistory(ctx context.Context, repo string, doc *manifestDoc) ([]byte, error) {
	var c imageConfigFile
	if doc.Config != nil && doc.Config.Size > 0 {
		b, err := s.readConfig(ctx, repo, doc.Config)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, errUnprocessable("the image config is not valid JSON: " + err.Error())
		}
	}
	if c.History == nil {
		c.History = []imageHistory{}
	}
	return json.Marshal(c.History)
}
