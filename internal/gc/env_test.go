package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

// env is a SQLite store and a directory blob store, with helpers that push
// the way the registry does (bytes first, then the row).
type env struct {
	t     *testing.T
	meta  *sqlstore.Store
	blobs *fs.Store
	c     *Collector
	n     int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, meta: m, blobs: b, c: &Collector{Meta: m, Blobs: b}}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// blob stores content's bytes and links them into repo.
func (e *env) blob(repo, content string) oci.Ref {
	e.t.Helper()
	ctx := e.t.Context()
	d := digest.FromString(content)
	id := blob.NewUploadID()
	w, err := e.blobs.Append(ctx, id, 0)
	e.must(err)
	_, err = w.Write([]byte(content))
	e.must(err)
	e.must(w.Close())
	e.must(e.blobs.Commit(ctx, id, d, int64(len(content))))
	e.must(e.meta.CommitBlob(ctx, repo, d, int64(len(content)), ""))
	return oci.Ref{Digest: d, Size: int64(len(content)), Kind: oci.RefBlob}
}

func desc(mediaType string, d digest.Digest, size int64) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": d, "size": size}
}

// put stores the manifest v in repo with tags.
func (e *env) put(repo string, v any, tags ...string) *meta.Manifest {
	e.t.Helper()
	body, err := json.Marshal(v)
	e.must(err)
	p, err := oci.ParseManifest("", body)
	e.must(err)
	m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: p.MediaType, Size: int64(len(body)),
		Body: body, ArtifactType: p.ArtifactType, Refs: p.Refs}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	e.must(e.meta.PutManifest(e.t.Context(), m, tags))
	return m
}

// image pushes an image of the given layers (by content) and a config of
// its own.
func (e *env) image(repo string, layers []string, tags ...string) *meta.Manifest {
	e.t.Helper()
	return e.imageWith(repo, layers, nil, tags...)
}

func (e *env) imageWith(repo string, layers []string, extra map[string]any, tags ...string) *meta.Manifest {
	e.t.Helper()
	e.n++
	cfg := e.blob(repo, fmt.Sprintf(`{"config":%d,"repo":%q}`, e.n, repo))
	ls := []any{}
	for _, l := range layers {
		r := e.blob(repo, l)
		ls = append(ls, desc("application/vnd.oci.image.layer.v1.tar+gzip", r.Digest, r.Size))
	}
	v := map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": desc("application/vnd.oci.image.config.v1+json", cfg.Digest, cfg.Size), "layers": ls}
	for k, x := range extra {
		v[k] = x
	}
	return e.put(repo, v, tags...)
}

func (e *env) index(repo string, children []*meta.Manifest, tags ...string) *meta.Manifest {
	e.t.Helper()
	ms := []any{}
	for _, c := range children {
		ms = append(ms, desc(c.MediaType, c.Digest, c.Size))
	}
	return e.put(repo, map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageIndex, "manifests": ms}, tags...)
}

// accessory pushes a signature-like artifact whose subject is m.
func (e *env) accessory(repo string, m *meta.Manifest, tags ...string) *meta.Manifest {
	e.t.Helper()
	return e.imageWith(repo, []string{"signature of " + string(m.Digest)},
		map[string]any{"subject": desc(m.MediaType, m.Digest, m.Size)}, tags...)
}

func (e *env) hasBytes(d digest.Digest) bool {
	e.t.Helper()
	_, err := e.blobs.Stat(e.t.Context(), d)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// pullable asserts repo serves ref with every blob it references, bytes
// included.
func (e *env) pullable(repo string, m *meta.Manifest) {
	e.t.Helper()
	ctx := e.t.Context()
	got, err := e.meta.GetManifest(ctx, repo, string(m.Digest), false)
	if err != nil {
		e.t.Fatalf("%s@%s is gone: %v", repo, m.Digest, err)
	}
	_ = got
	for _, r := range m.Refs {
		if r.Kind != oci.RefBlob {
			continue
		}
		if _, err := e.meta.BlobSize(ctx, repo, r.Digest); err != nil {
			e.t.Fatalf("%s@%s: blob %s not linked: %v", repo, m.Digest, r.Digest, err)
		}
		if !e.hasBytes(r.Digest) {
			e.t.Fatalf("%s@%s: blob %s has no bytes", repo, m.Digest, r.Digest)
		}
	}
}

func (e *env) gone(repo string, m *meta.Manifest) {
	e.t.Helper()
	if _, err := e.meta.GetManifest(e.t.Context(), repo, string(m.Digest), false); !errors.Is(err, meta.ErrManifestNotFound) {
		e.t.Fatalf("%s@%s still there (%v)", repo, m.Digest, err)
	}
}

// run runs a collection and returns its result and log.
func (e *env) run(p Params) (Result, string) {
	e.t.Helper()
	return e.runCtx(e.t.Context(), p)
}

func (e *env) runCtx(ctx context.Context, p Params) (Result, string) {
	e.t.Helper()
	// The store keeps milliseconds, and content of the millisecond the
	// run starts in is young.
	time.Sleep(2 * time.Millisecond)
	var log strings.Builder
	res, err := e.c.Run(ctx, p, func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) })
	if err != nil {
		e.t.Fatalf("Run: %v\n%s", err, log.String())
	}
	return res, log.String()
}
