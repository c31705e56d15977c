package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/immutable"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

// newImmutableEnv is a registry whose tag writes go through
// immutable.Guard, as berth serve wires it.
func newImmutableEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{DeleteEnabled: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tags: immutable.NewGuard(m)}
	e := &testEnv{t: t, dir: dir, reg: New(m, b, opt), meta: m}
	e.srv = httptest.NewServer(e.reg)
	t.Cleanup(e.close)
	return e
}

// immutableRule creates, in a new project, a rule protecting tags matching
// tagPattern in repositories matching repoPattern.
func (e *testEnv) immutableRule(project, tagPattern, repoPattern string) *meta.ImmutableRule {
	e.t.Helper()
	p, err := e.meta.GetProjectByName(context.Background(), project)
	if err != nil {
		p = &meta.Project{Name: project}
		if err := e.meta.CreateProject(context.Background(), p); err != nil {
			e.t.Fatal(err)
		}
	}
	r := &meta.ImmutableRule{ProjectID: p.ID,
		TagSelectors:   []meta.ImmutableSelector{{Decoration: immutable.Matches, Pattern: tagPattern}},
		ScopeSelectors: map[string][]meta.ImmutableSelector{immutable.ScopeRepository: {{Decoration: immutable.RepoMatches, Pattern: repoPattern}}},
	}
	if err := immutable.Check(r); err != nil {
		e.t.Fatal(err)
	}
	if err := e.meta.CreateImmutableRule(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// image uploads the blobs of a new image to repo and returns its manifest,
// not yet pushed.
func (e *testEnv) image(repo, seed string) []byte {
	e.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	cd, ld := e.pushBlob(repo, cfg), e.pushBlob(repo, layer)
	return imageManifest(cd, int64(len(cfg)), ld, int64(len(layer)))
}

func (e *testEnv) putManifest(repo, ref string, man []byte) resp {
	e.t.Helper()
	return e.do("PUT", "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(man), "Content-Type", oci.MediaTypeImageManifest)
}

func (e *testEnv) tagDigest(repo, tag string) digest.Digest {
	e.t.Helper()
	r := e.do("HEAD", "/v2/"+repo+"/manifests/"+tag, nil)
	e.expect(r, http.StatusOK, "")
	return digest.Digest(r.header.Get("Docker-Content-Digest"))
}

// refusedAsImmutable checks a 412 PRECONDITION whose message says the tag is
// immutable.
func (e *testEnv) refusedAsImmutable(r resp, repo, tag string) {
	e.t.Helper()
	e.expect(r, http.StatusPreconditionFailed, "PRECONDITION")
	var eb errorBody
	mustUnmarshal(e.t.(*testing.T), r.body, &eb)
	if msg := eb.Errors[0].Message; !strings.Contains(msg, repo+":"+tag) || !strings.Contains(msg, "configured as immutable") {
		e.t.Fatalf("message %q does not say %s:%s is immutable", msg, repo, tag)
	}
}

func TestImmutablePush(t *testing.T) {
	e := newImmutableEnv(t)
	e.immutableRule("proj", "v*", "app")
	e.immutableRule("other", "**", "**")
	a, b := e.image("proj/app", "a"), e.image("proj/app", "b")

	e.expect(e.putManifest("proj/app", "v1", a), http.StatusCreated, "")
	// The same digest again: a CI retry succeeds.
	e.expect(e.putManifest("proj/app", "v1", a), http.StatusCreated, "")
	// Another digest: refused, the tag stays, the manifest is not stored.
	e.refusedAsImmutable(e.putManifest("proj/app", "v1", b), "proj/app", "v1")
	if got := e.tagDigest("proj/app", "v1"); got != digest.FromBytes(a) {
		t.Fatalf("v1 points at %s after a refused push", got)
	}
	e.expect(e.do("HEAD", "/v2/proj/app/manifests/"+string(digest.FromBytes(b)), nil), http.StatusNotFound, "")
	// By digest with ?tag=: the same.
	e.refusedAsImmutable(e.do("PUT", "/v2/proj/app/manifests/"+string(digest.FromBytes(b))+"?tag=v1", bytes.NewReader(b),
		"Content-Type", oci.MediaTypeImageManifest), "proj/app", "v1")
	// A new tag the rule covers is created; a tag it does not cover moves.
	e.expect(e.putManifest("proj/app", "v2", b), http.StatusCreated, "")
	e.expect(e.putManifest("proj/app", "latest", a), http.StatusCreated, "")
	e.expect(e.putManifest("proj/app", "latest", b), http.StatusCreated, "")
	// Another repository of the project, and a project whose rule covers
	// everything but is not this one's: not concerned.
	w1, w2 := e.image("proj/web", "w1"), e.image("proj/web", "w2")
	e.expect(e.putManifest("proj/web", "v1", w1), http.StatusCreated, "")
	e.expect(e.putManifest("proj/web", "v1", w2), http.StatusCreated, "")
	// Reads are not concerned at all.
	e.expect(e.do("GET", "/v2/proj/app/manifests/v1", nil), http.StatusOK, "")
}

func TestImmutableDelete(t *testing.T) {
	e := newImmutableEnv(t)
	r := e.immutableRule("proj", "v*", "**")
	a := e.image("proj/app", "a")
	e.expect(e.putManifest("proj/app", "v1", a), http.StatusCreated, "")
	e.expect(e.putManifest("proj/app", "latest", a), http.StatusCreated, "")
	d := string(digest.FromBytes(a))

	// The tag itself (OCI tag delete) and the manifest under it: refused.
	e.refusedAsImmutable(e.do("DELETE", "/v2/proj/app/manifests/v1", nil), "proj/app", "v1")
	e.refusedAsImmutable(e.do("DELETE", "/v2/proj/app/manifests/"+d, nil), "proj/app", "v1")
	e.expect(e.do("HEAD", "/v2/proj/app/manifests/v1", nil), http.StatusOK, "")
	// Its other tag is not immutable.
	e.expect(e.do("DELETE", "/v2/proj/app/manifests/latest", nil), http.StatusAccepted, "")
	// An unknown tag is still 404.
	e.expect(e.do("DELETE", "/v2/proj/app/manifests/v9", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")

	// A disabled rule has no effect.
	r.Disabled = true
	if err := e.meta.UpdateImmutableRule(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	b := e.image("proj/app", "b")
	e.expect(e.putManifest("proj/app", "v1", b), http.StatusCreated, "")
	e.expect(e.do("DELETE", "/v2/proj/app/manifests/v1", nil), http.StatusAccepted, "")
	e.expect(e.do("DELETE", "/v2/proj/app/manifests/"+d, nil), http.StatusAccepted, "")
}

// TestImmutablePushRace: pushes of different digests racing to create a
// tag a rule covers. One creates it; every other is refused with 412 and
// none overwrites it.
func TestImmutablePushRace(t *testing.T) {
	e := newImmutableEnv(t)
	e.immutableRule("proj", "rc-*", "**")
	const pushers = 8
	mans := make([][]byte, pushers)
	for i := range mans {
		mans[i] = e.image("proj/app", fmt.Sprint("racer", i))
	}
	for round := range 3 {
		tag := fmt.Sprint("rc-", round)
		statuses := make([]int, pushers)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range pushers {
			wg.Go(func() {
				start.Wait()
				req, _ := http.NewRequest("PUT", e.srv.URL+"/v2/proj/app/manifests/"+tag, bytes.NewReader(mans[i]))
				req.Header.Set("Content-Type", oci.MediaTypeImageManifest)
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			})
		}
		start.Done()
		wg.Wait()
		winner := -1
		for i, s := range statuses {
			switch {
			case s == http.StatusCreated && winner >= 0:
				t.Fatalf("%s: pushers %d and %d both got 201", tag, winner, i)
			case s == http.StatusCreated:
				winner = i
			case s != http.StatusPreconditionFailed:
				t.Fatalf("%s: pusher %d got %d, want 201 or 412", tag, i, s)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: nobody created the tag: %v", tag, statuses)
		}
		if got := e.tagDigest("proj/app", tag); got != digest.FromBytes(mans[winner]) {
			t.Fatalf("%s points at %s, not at the winner's %s", tag, got, digest.FromBytes(mans[winner]))
		}
	}
}

// TestImmutableWithoutGuard: a registry without Options.Tags (no access
// control, no rules) writes tags as before.
func TestImmutableWithoutGuard(t *testing.T) {
	e := newEnv(t, Options{})
	a, b := e.image("proj/app", "a"), e.image("proj/app", "b")
	e.expect(e.putManifest("proj/app", "v1", a), http.StatusCreated, "")
	e.expect(e.putManifest("proj/app", "v1", b), http.StatusCreated, "")
}

// TestDeleteIndexChild: a /v2 DELETE by digest of a manifest an index of
// the repository references is refused as Harbor refuses it (412
// VIOLATE_FOREIGN_KEY_CONSTRAINT), so the index stays whole; deleting the
// index first, then its children, works.
func TestDeleteIndexChild(t *testing.T) {
	e := newImmutableEnv(t)
	a, b := e.image("proj/app", "a"), e.image("proj/app", "b")
	e.expect(e.putManifest("proj/app", string(digest.FromBytes(a)), a), http.StatusCreated, "")
	e.expect(e.putManifest("proj/app", "b", b), http.StatusCreated, "")
	var desc []string
	for _, m := range [][]byte{a, b} {
		desc = append(desc, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}`,
			oci.MediaTypeImageManifest, digest.FromBytes(m), len(m)))
	}
	idx := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageIndex + `","manifests":[` + strings.Join(desc, ",") + `]}`)
	e.expect(e.do("PUT", "/v2/proj/app/manifests/multi", bytes.NewReader(idx), "Content-Type", oci.MediaTypeImageIndex), http.StatusCreated, "")

	for _, m := range [][]byte{a, b} { // untagged and tagged children
		r := e.do("DELETE", "/v2/proj/app/manifests/"+string(digest.FromBytes(m)), nil)
		e.expect(r, http.StatusPreconditionFailed, "VIOLATE_FOREIGN_KEY_CONSTRAINT")
		e.expect(e.do("HEAD", "/v2/proj/app/manifests/"+string(digest.FromBytes(m)), nil), http.StatusOK, "")
	}
	// Deleting a child's tag is a tag delete: allowed, the child stays.
	e.expect(e.do("DELETE", "/v2/proj/app/manifests/b", nil), http.StatusAccepted, "")
	e.expect(e.do("DELETE", "/v2/proj/app/manifests/"+string(digest.FromBytes(idx)), nil), http.StatusAccepted, "")
	for _, m := range [][]byte{a, b} {
		e.expect(e.do("DELETE", "/v2/proj/app/manifests/"+string(digest.FromBytes(m)), nil), http.StatusAccepted, "")
	}
}
