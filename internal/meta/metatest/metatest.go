// Package metatest is the conformance suite every meta.Store implementation
// runs (as distribution's storage/driver/testsuites is for storage drivers):
//
//	func TestSuite(t *testing.T) { metatest.Run(t, openMyStore) }
//
// Beyond the comments on meta.Store, the suite pins down what the registry
// relies on: missing things are reported with the sentinel errors, and
// Tags, Repositories and Referrers return non-nil empty slices (they are
// marshalled to JSON arrays, never null).
package metatest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// Run runs every sub-test on a fresh, empty store from open. Run closes each
// store it opens and fails if Close does, so open must not close it.
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"Ping", testPing},
		{"BlobCommitLinkSize", testBlobCommit},
		{"BlobRepositoryIsolation", testBlobIsolation},
		{"MountBlob", testMountBlob},
		{"UnlinkBlob", testUnlinkBlob},
		{"UploadLifecycle", testUploadLifecycle},
		{"UploadAdvanceCompareAndSet", testUploadAdvance},
		{"StaleUploads", testStaleUploads},
		{"CommitBlobDeletesUpload", testCommitBlobDeletesUpload},
		{"PutManifestIdempotent", testPutManifestIdempotent},
		{"PutManifestMissingRefs", testMissingRefs},
		{"PutManifestSizeMismatch", testSizeMismatch},
		{"IndexChildrenMustBeManifests", testIndexChildren},
		{"TagsPointAndMove", testTagsMove},
		{"GetManifest", testGetManifest},
		{"DeleteManifest", testDeleteManifest},
		{"DeleteTag", testDeleteTag},
		{"TagsPaging", testTagsPaging},
		{"TagsUnknownVsEmptyRepo", testTagsUnknownRepo},
		{"Repositories", testRepositories},
		{"Referrers", testReferrers},
		{"Concurrency", testConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// ---- helpers ----

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func wantErr(t *testing.T, err, target error, what string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", fmt.Sprintf(what, args...), err, target)
	}
}

func equal[T any](t *testing.T, got, want T, what string, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %#v, want %#v", fmt.Sprintf(what, args...), got, want)
	}
}

func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// commitBlob records content as a blob linked into repo.
func commitBlob(t *testing.T, s meta.Store, repo, content string) oci.Ref {
	t.Helper()
	d := digest.FromString(content)
	must(t, s.CommitBlob(t.Context(), repo, d, int64(len(content)), ""), "CommitBlob(%s, %s)", repo, d)
	return oci.Ref{Digest: d, Size: int64(len(content)), Kind: oci.RefBlob}
}

func descJSON(mediaType string, d digest.Digest, size int64) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": d, "size": size}
}

// imageBody is an OCI image manifest; extra adds or overrides fields.
func imageBody(config oci.Ref, layers []oci.Ref, extra map[string]any) map[string]any {
	ls := []any{}
	for _, l := range layers {
		ls = append(ls, descJSON("application/vnd.oci.image.layer.v1.tar+gzip", l.Digest, l.Size))
	}
	body := map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeImageManifest,
		"config":        descJSON("application/vnd.oci.image.config.v1+json", config.Digest, config.Size),
		"layers":        ls,
	}
	maps.Copy(body, extra)
	return body
}

// indexBody is an OCI image index over the given child descriptors.
func indexBody(children ...map[string]any) map[string]any {
	return map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageIndex, "manifests": children}
}

func manifestDesc(m *meta.Manifest) map[string]any { return descJSON(m.MediaType, m.Digest, m.Size) }

// manifestOf marshals v and builds the meta.Manifest the registry would
// store for it (digest, references, artifact type, subject, annotations).
func manifestOf(t *testing.T, repo string, v any) *meta.Manifest {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err, "marshal manifest")
	return manifestFromBytes(t, repo, digest.SHA256, b)
}

func manifestFromBytes(t *testing.T, repo string, alg digest.Algorithm, b []byte) *meta.Manifest {
	t.Helper()
	p, err := oci.ParseManifest("", b)
	must(t, err, "ParseManifest(%s)", b)
	m := &meta.Manifest{
		Repo: repo, Digest: alg.FromBytes(b), MediaType: p.MediaType, Size: int64(len(b)), Body: b,
		ArtifactType: p.ArtifactType, Annotations: p.Annotations, Refs: p.Refs,
	}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	return m
}

func put(t *testing.T, s meta.Store, m *meta.Manifest, tags ...string) {
	t.Helper()
	must(t, s.PutManifest(t.Context(), m, tags), "PutManifest(%s, %s, %q)", m.Repo, m.Digest, tags)
}

// pushImage commits a config and a layer derived from seed into repo and
// puts an image manifest over them with tags. The same seed gives the same
// digests in every repository.
func pushImage(t *testing.T, s meta.Store, repo, seed string, tags ...string) *meta.Manifest {
	t.Helper()
	cfg := commitBlob(t, s, repo, `{"seed":"`+seed+`"}`)
	layer := commitBlob(t, s, repo, "layer of "+seed)
	m := manifestOf(t, repo, imageBody(cfg, []oci.Ref{layer}, nil))
	put(t, s, m, tags...)
	return m
}

// checkManifest asserts GetManifest(repo, ref) returns want, with and
// without the body.
func checkManifest(t *testing.T, s meta.Store, repo, ref string, want *meta.Manifest) {
	t.Helper()
	for _, withBody := range []bool{false, true} {
		got, err := s.GetManifest(t.Context(), repo, ref, withBody)
		must(t, err, "GetManifest(%s, %s, %v)", repo, ref, withBody)
		if got.Repo != repo || got.Digest != want.Digest || got.MediaType != want.MediaType || got.Size != want.Size {
			t.Fatalf("GetManifest(%s, %s, %v) = {%s %s %s %d}, want {%s %s %s %d}", repo, ref, withBody,
				got.Repo, got.Digest, got.MediaType, got.Size, repo, want.Digest, want.MediaType, want.Size)
		}
		if withBody && (got.Body == nil || !bytes.Equal(got.Body, want.Body)) {
			t.Fatalf("GetManifest(%s, %s, true) body = %q, want %q", repo, ref, got.Body, want.Body)
		}
		if !withBody && got.Body != nil {
			t.Fatalf("GetManifest(%s, %s, false) body = %q, want nil", repo, ref, got.Body)
		}
	}
}

func noManifest(t *testing.T, s meta.Store, repo, ref string) {
	t.Helper()
	for _, withBody := range []bool{false, true} {
		m, err := s.GetManifest(t.Context(), repo, ref, withBody)
		if !errors.Is(err, meta.ErrManifestNotFound) {
			t.Fatalf("GetManifest(%s, %s, %v) = %+v, %v; want ErrManifestNotFound", repo, ref, withBody, m, err)
		}
	}
}

func tags(t *testing.T, s meta.Store, repo, last string, n int) []string {
	t.Helper()
	got, err := s.Tags(t.Context(), repo, last, n)
	must(t, err, "Tags(%s, %q, %d)", repo, last, n)
	if got == nil {
		t.Fatalf("Tags(%s, %q, %d) = nil, want a non-nil slice", repo, last, n)
	}
	return got
}

func repositories(t *testing.T, s meta.Store, last string, n int) []string {
	t.Helper()
	got, err := s.Repositories(t.Context(), last, n)
	must(t, err, "Repositories(%q, %d)", last, n)
	if got == nil {
		t.Fatalf("Repositories(%q, %d) = nil, want a non-nil slice", last, n)
	}
	return got
}

func blobSize(t *testing.T, s meta.Store, repo string, d digest.Digest, want int64) {
	t.Helper()
	got, err := s.BlobSize(t.Context(), repo, d)
	must(t, err, "BlobSize(%s, %s)", repo, d)
	equal(t, got, want, "BlobSize(%s, %s)", repo, d)
}

func noBlob(t *testing.T, s meta.Store, repo string, d digest.Digest) {
	t.Helper()
	_, err := s.BlobSize(t.Context(), repo, d)
	wantErr(t, err, meta.ErrBlobNotFound, "BlobSize(%s, %s)", repo, d)
}

func missingRef(t *testing.T, err error, want oci.Ref, actual int64) {
	t.Helper()
	var mr *meta.MissingRefError
	if !errors.As(err, &mr) {
		t.Fatalf("PutManifest err = %v, want *meta.MissingRefError for %s", err, want.Digest)
	}
	equal(t, *mr, meta.MissingRefError{Ref: want, ActualSize: actual}, "MissingRefError")
	if mr.Error() == "" {
		t.Fatal("MissingRefError.Error() is empty")
	}
}

// ---- blobs ----

func testPing(t *testing.T, s meta.Store) {
	must(t, s.Ping(t.Context()), "Ping")
}

func testBlobCommit(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := digest.FromString("hello")
	noBlob(t, s, "r", d)
	must(t, s.CommitBlob(ctx, "r", d, 5, ""), "CommitBlob")
	blobSize(t, s, "r", d, 5)
	must(t, s.CommitBlob(ctx, "r", d, 5, ""), "CommitBlob again")
	blobSize(t, s, "r", d, 5)

	empty := commitBlob(t, s, "r", "")
	blobSize(t, s, "r", empty.Digest, 0)
	d512 := digest.SHA512.FromString("x")
	must(t, s.CommitBlob(ctx, "r", d512, 1, ""), "CommitBlob sha512")
	blobSize(t, s, "r", d512, 1)

	// CommitBlob creates the repository (without tags).
	equal(t, repositories(t, s, "", 10), []string{"r"}, "Repositories")
	equal(t, tags(t, s, "r", "", 10), []string{}, "Tags")
}

func testBlobIsolation(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := commitBlob(t, s, "a", "shared bytes")
	commitBlob(t, s, "b", "other bytes")
	noBlob(t, s, "b", a.Digest)
	noBlob(t, s, "a/b", a.Digest)
	noBlob(t, s, "nope", a.Digest)
	_, err := s.Tags(ctx, "a/b", "", 10)
	wantErr(t, err, meta.ErrRepoNotFound, "Tags(a/b) after a lookup")

	commitBlob(t, s, "b", "shared bytes")
	must(t, s.UnlinkBlob(ctx, "a", a.Digest), "UnlinkBlob(a)")
	noBlob(t, s, "a", a.Digest)
	blobSize(t, s, "b", a.Digest, a.Size)
}

func testMountBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	src := commitBlob(t, s, "src", "mountable")
	commitBlob(t, s, "other", "something else")

	size, err := s.MountBlob(ctx, "dst", "src", src.Digest)
	must(t, err, "MountBlob(dst, src)")
	equal(t, size, src.Size, "mounted size")
	blobSize(t, s, "dst", src.Digest, src.Size)
	blobSize(t, s, "src", src.Digest, src.Size)

	size, err = s.MountBlob(ctx, "any", "", src.Digest)
	must(t, err, "MountBlob(any, \"\")")
	equal(t, size, src.Size, "mounted size from any repository")
	blobSize(t, s, "any", src.Digest, src.Size)

	size, err = s.MountBlob(ctx, "dst", "dst", src.Digest)
	must(t, err, "MountBlob onto itself")
	equal(t, size, src.Size, "size of a mount onto itself")

	_, err = s.MountBlob(ctx, "dst2", "other", src.Digest)
	wantErr(t, err, meta.ErrBlobNotFound, "MountBlob from a repo without the blob")
	_, err = s.MountBlob(ctx, "dst2", "nope", src.Digest)
	wantErr(t, err, meta.ErrBlobNotFound, "MountBlob from an unknown repo")
	_, err = s.MountBlob(ctx, "dst2", "", digest.FromString("never committed"))
	wantErr(t, err, meta.ErrBlobNotFound, "MountBlob of an unknown digest")
	noBlob(t, s, "dst2", src.Digest)
	// A failed mount creates nothing.
	equal(t, repositories(t, s, "", 10), []string{"any", "dst", "other", "src"}, "Repositories")

	// With every link gone, the blob can no longer be mounted from anywhere.
	for _, r := range []string{"src", "dst", "any"} {
		must(t, s.UnlinkBlob(ctx, r, src.Digest), "UnlinkBlob(%s)", r)
	}
	_, err = s.MountBlob(ctx, "dst3", "", src.Digest)
	wantErr(t, err, meta.ErrBlobNotFound, "MountBlob of a blob linked nowhere")
}

func testUnlinkBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	wantErr(t, s.UnlinkBlob(ctx, "nope", digest.FromString("x")), meta.ErrBlobNotFound, "UnlinkBlob in unknown repo")
	b := commitBlob(t, s, "r", "to unlink")
	keep := commitBlob(t, s, "r", "to keep")
	wantErr(t, s.UnlinkBlob(ctx, "r", digest.FromString("x")), meta.ErrBlobNotFound, "UnlinkBlob of unlinked digest")
	must(t, s.UnlinkBlob(ctx, "r", b.Digest), "UnlinkBlob")
	noBlob(t, s, "r", b.Digest)
	blobSize(t, s, "r", keep.Digest, keep.Size)
	wantErr(t, s.UnlinkBlob(ctx, "r", b.Digest), meta.ErrBlobNotFound, "UnlinkBlob twice")
	commitBlob(t, s, "r", "to unlink")
	blobSize(t, s, "r", b.Digest, b.Size)
}

// ---- uploads ----

func checkTime(t *testing.T, what string, got, notBefore, notAfter time.Time) {
	t.Helper()
	// A second of slack for stores that round timestamps.
	if got.Before(notBefore.Add(-time.Second)) || got.After(notAfter.Add(time.Second)) {
		t.Fatalf("%s = %v, want between %v and %v", what, got, notBefore, notAfter)
	}
}

func testUploadLifecycle(t *testing.T, s meta.Store) {
	ctx := t.Context()
	id, id2 := newUploadID(), newUploadID()
	before := time.Now()
	must(t, s.CreateUpload(ctx, meta.Upload{ID: id, Repo: "r", HashState: []byte{1, 2, 3}}), "CreateUpload")
	must(t, s.CreateUpload(ctx, meta.Upload{ID: id2, Repo: "r", Offset: 7}), "CreateUpload 2")
	after := time.Now()

	u, err := s.GetUpload(ctx, "r", id)
	must(t, err, "GetUpload")
	if u.ID != id || u.Repo != "r" || u.Offset != 0 || !bytes.Equal(u.HashState, []byte{1, 2, 3}) {
		t.Fatalf("GetUpload = %+v", u)
	}
	checkTime(t, "CreatedAt", u.CreatedAt, before, after)
	checkTime(t, "UpdatedAt", u.UpdatedAt, before, after)
	u2, err := s.GetUpload(ctx, "r", id2)
	must(t, err, "GetUpload 2")
	if u2.ID != id2 || u2.Repo != "r" || u2.Offset != 7 || len(u2.HashState) != 0 {
		t.Fatalf("GetUpload 2 = %+v", u2)
	}

	_, err = s.GetUpload(ctx, "other", id)
	wantErr(t, err, meta.ErrUploadNotFound, "GetUpload from another repository")
	_, err = s.GetUpload(ctx, "r/sub", id)
	wantErr(t, err, meta.ErrUploadNotFound, "GetUpload from a sub-repository")
	_, err = s.GetUpload(ctx, "r", newUploadID())
	wantErr(t, err, meta.ErrUploadNotFound, "GetUpload of unknown id")

	for _, c := range []struct {
		id   string
		want bool
	}{{id, true}, {id2, true}, {newUploadID(), false}} {
		ok, err := s.UploadExists(ctx, c.id)
		must(t, err, "UploadExists")
		equal(t, ok, c.want, "UploadExists(%s)", c.id)
	}

	must(t, s.DeleteUpload(ctx, id), "DeleteUpload")
	_, err = s.GetUpload(ctx, "r", id)
	wantErr(t, err, meta.ErrUploadNotFound, "GetUpload after DeleteUpload")
	ok, err := s.UploadExists(ctx, id)
	must(t, err, "UploadExists")
	equal(t, ok, false, "UploadExists after DeleteUpload")
	wantErr(t, s.DeleteUpload(ctx, id), meta.ErrUploadNotFound, "DeleteUpload twice")
	if _, err := s.GetUpload(ctx, "r", id2); err != nil {
		t.Fatalf("deleting one upload affected another: %v", err)
	}
}

func testUploadAdvance(t *testing.T, s meta.Store) {
	ctx := t.Context()
	id := newUploadID()
	must(t, s.CreateUpload(ctx, meta.Upload{ID: id, Repo: "r", HashState: []byte("s0")}), "CreateUpload")
	time.Sleep(5 * time.Millisecond)
	must(t, s.AdvanceUpload(ctx, id, 0, 10, []byte("s1")), "AdvanceUpload 0->10")
	check := func(offset int64, state string) meta.Upload {
		t.Helper()
		u, err := s.GetUpload(ctx, "r", id)
		must(t, err, "GetUpload")
		if u.Offset != offset || string(u.HashState) != state {
			t.Fatalf("upload at %d with state %q, want %d and %q", u.Offset, u.HashState, offset, state)
		}
		return u
	}
	u := check(10, "s1")
	if !u.UpdatedAt.After(u.CreatedAt) {
		t.Fatalf("UpdatedAt %v not after CreatedAt %v", u.UpdatedAt, u.CreatedAt)
	}

	wantErr(t, s.AdvanceUpload(ctx, id, 0, 20, []byte("bad")), meta.ErrUploadConflict, "AdvanceUpload from a stale offset")
	wantErr(t, s.AdvanceUpload(ctx, id, 5, 20, []byte("bad")), meta.ErrUploadConflict, "AdvanceUpload from a wrong offset")
	check(10, "s1")
	must(t, s.AdvanceUpload(ctx, id, 10, 25, []byte("s2")), "AdvanceUpload 10->25")
	check(25, "s2")

	err := s.AdvanceUpload(ctx, newUploadID(), 0, 5, nil)
	if !errors.Is(err, meta.ErrUploadConflict) && !errors.Is(err, meta.ErrUploadNotFound) {
		t.Fatalf("AdvanceUpload of unknown id: err = %v, want ErrUploadConflict or ErrUploadNotFound", err)
	}

	// Racing advances from the same offset: exactly one wins.
	const racers = 16
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			errs[i] = s.AdvanceUpload(ctx, id, 25, int64(100+i), []byte(fmt.Sprint("r", i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both advanced the upload", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, meta.ErrUploadConflict):
			t.Fatalf("racer %d: %v, want ErrUploadConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer advanced the upload")
	}
	check(int64(100+winner), fmt.Sprint("r", winner))
}

func uploadIDs(us []meta.Upload) []string {
	ids := []string{}
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

func testStaleUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	future := func() time.Time { return time.Now().Add(time.Minute) }
	us, err := s.StaleUploads(ctx, future(), 10)
	must(t, err, "StaleUploads")
	equal(t, len(us), 0, "stale uploads of an empty store")

	a, b, c := newUploadID(), newUploadID(), newUploadID()
	must(t, s.CreateUpload(ctx, meta.Upload{ID: a, Repo: "ra"}), "CreateUpload a")
	must(t, s.CreateUpload(ctx, meta.Upload{ID: b, Repo: "rb"}), "CreateUpload b")
	must(t, s.CreateUpload(ctx, meta.Upload{ID: c, Repo: "rc", Offset: 3}), "CreateUpload c")
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	must(t, s.AdvanceUpload(ctx, b, 0, 5, []byte("x")), "AdvanceUpload b")

	us, err = s.StaleUploads(ctx, mid, 10)
	must(t, err, "StaleUploads(mid)")
	equal(t, uploadIDs(us), sorted(a, c), "uploads untouched since mid")
	for _, u := range us {
		want := map[string]meta.Upload{a: {Repo: "ra"}, c: {Repo: "rc", Offset: 3}}[u.ID]
		if u.Repo != want.Repo || u.Offset != want.Offset {
			t.Fatalf("stale upload %+v, want repo %s offset %d", u, want.Repo, want.Offset)
		}
	}

	us, err = s.StaleUploads(ctx, future(), 10)
	must(t, err, "StaleUploads(future)")
	equal(t, uploadIDs(us), sorted(a, b, c), "uploads untouched since the future")
	us, err = s.StaleUploads(ctx, future(), 2)
	must(t, err, "StaleUploads(future, 2)")
	equal(t, len(us), 2, "len(StaleUploads(limit 2))")
	us, err = s.StaleUploads(ctx, time.Now().Add(-time.Hour), 10)
	must(t, err, "StaleUploads(past)")
	equal(t, len(us), 0, "uploads untouched for an hour")

	must(t, s.DeleteUpload(ctx, a), "DeleteUpload a")
	us, err = s.StaleUploads(ctx, mid, 10)
	must(t, err, "StaleUploads after delete")
	equal(t, uploadIDs(us), []string{c}, "stale uploads after deleting a")
}

func testCommitBlobDeletesUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	id, other := newUploadID(), newUploadID()
	must(t, s.CreateUpload(ctx, meta.Upload{ID: id, Repo: "r"}), "CreateUpload")
	must(t, s.CreateUpload(ctx, meta.Upload{ID: other, Repo: "r"}), "CreateUpload other")
	must(t, s.AdvanceUpload(ctx, id, 0, 4, []byte("st")), "AdvanceUpload")

	d := digest.FromString("data")
	must(t, s.CommitBlob(ctx, "r", d, 4, id), "CommitBlob with upload")
	blobSize(t, s, "r", d, 4)
	_, err := s.GetUpload(ctx, "r", id)
	wantErr(t, err, meta.ErrUploadNotFound, "GetUpload after CommitBlob")
	ok, err := s.UploadExists(ctx, id)
	must(t, err, "UploadExists")
	equal(t, ok, false, "UploadExists after CommitBlob")

	// Without an upload id, no session is touched.
	commitBlob(t, s, "r", "more data")
	ok, err = s.UploadExists(ctx, other)
	must(t, err, "UploadExists")
	equal(t, ok, true, "other upload exists after CommitBlob without id")
}
