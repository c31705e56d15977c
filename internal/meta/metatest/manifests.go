package metatest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// ---- manifests ----

func testPutManifestIdempotent(t *testing.T, s meta.Store) {
	m := pushImage(t, s, "r", "one", "v1")
	put(t, s, m)
	again := *m // an equal value, as a retried request would build it
	put(t, s, &again, "v2")
	checkManifest(t, s, "r", string(m.Digest), m)
	checkManifest(t, s, "r", "v1", m)
	checkManifest(t, s, "r", "v2", m)
	equal(t, tags(t, s, "r", "", 10), []string{"v1", "v2"}, "Tags")
	put(t, s, m, "v1", "v1") // a tag listed twice, pointing where it already does
	equal(t, tags(t, s, "r", "", 10), []string{"v1", "v2"}, "Tags")
}

func testMissingRefs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "r", `{"cfg":1}`)
	layer := commitBlob(t, s, "other", "layer only in other")

	// The layer is linked, but in another repository.
	m := manifestOf(t, "r", imageBody(cfg, []oci.Ref{layer}, nil))
	missingRef(t, s.PutManifest(ctx, m, []string{"t"}), layer, -1)
	noManifest(t, s, "r", string(m.Digest))
	noManifest(t, s, "r", "t")
	equal(t, tags(t, s, "r", "", 10), []string{}, "Tags after a refused put")

	// The config is missing everywhere.
	ghost := oci.Ref{Digest: digest.FromString("ghost"), Size: 5, Kind: oci.RefBlob}
	missingRef(t, s.PutManifest(ctx, manifestOf(t, "r", imageBody(ghost, nil, nil)), nil), ghost, -1)

	// A refused put into a new repository creates nothing.
	fresh := manifestOf(t, "fresh", imageBody(cfg, nil, nil))
	missingRef(t, s.PutManifest(ctx, fresh, []string{"t"}), cfg, -1)
	_, err := s.Tags(ctx, "fresh", "", 10)
	wantErr(t, err, meta.ErrRepoNotFound, "Tags of a repository whose only put was refused")
	equal(t, repositories(t, s, "", 10), []string{"other", "r"}, "Repositories")

	// An unlinked blob is missing again.
	commitBlob(t, s, "r", "layer only in other")
	put(t, s, m, "t")
	checkManifest(t, s, "r", "t", m)
	must(t, s.UnlinkBlob(ctx, "r", layer.Digest), "UnlinkBlob")
	m2 := manifestOf(t, "r", imageBody(cfg, []oci.Ref{layer}, map[string]any{"annotations": map[string]string{"n": "2"}}))
	missingRef(t, s.PutManifest(ctx, m2, nil), layer, -1)
}

func testSizeMismatch(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "r", "abc")
	layer := commitBlob(t, s, "r", "layer")
	wrong := oci.Ref{Digest: layer.Digest, Size: layer.Size + 1, Kind: oci.RefBlob}
	m := manifestOf(t, "r", imageBody(cfg, []oci.Ref{wrong}, nil))
	missingRef(t, s.PutManifest(ctx, m, []string{"t"}), wrong, layer.Size)
	noManifest(t, s, "r", string(m.Digest))
	noManifest(t, s, "r", "t")

	short := oci.Ref{Digest: cfg.Digest, Size: 0, Kind: oci.RefBlob}
	missingRef(t, s.PutManifest(ctx, manifestOf(t, "r", imageBody(short, nil, nil)), nil), short, 3)
}

func testIndexChildren(t *testing.T, s meta.Store) {
	ctx := t.Context()
	child := pushImage(t, s, "r", "child")
	elsewhere := pushImage(t, s, "other", "elsewhere")

	// A child that is a manifest of another repository.
	idx := manifestOf(t, "r", indexBody(manifestDesc(child), manifestDesc(elsewhere)))
	missingRef(t, s.PutManifest(ctx, idx, []string{"multi"}), oci.Ref{Digest: elsewhere.Digest, Size: elsewhere.Size, Kind: oci.RefManifest}, -1)
	noManifest(t, s, "r", "multi")

	// A child whose digest is linked as a blob, not stored as a manifest.
	asBlob := commitBlob(t, s, "r", string(elsewhere.Body))
	idx = manifestOf(t, "r", indexBody(descJSON(oci.MediaTypeImageManifest, asBlob.Digest, asBlob.Size)))
	missingRef(t, s.PutManifest(ctx, idx, nil), oci.Ref{Digest: asBlob.Digest, Size: asBlob.Size, Kind: oci.RefManifest}, -1)

	// A child declared with the wrong size.
	idx = manifestOf(t, "r", indexBody(descJSON(child.MediaType, child.Digest, child.Size+1)))
	missingRef(t, s.PutManifest(ctx, idx, nil), oci.Ref{Digest: child.Digest, Size: child.Size + 1, Kind: oci.RefManifest}, child.Size)

	idx = manifestOf(t, "r", indexBody(manifestDesc(child)))
	put(t, s, idx, "multi")
	checkManifest(t, s, "r", "multi", idx)
	equal(t, idx.MediaType, oci.MediaTypeImageIndex, "index media type")

	// An index of an index.
	top := manifestOf(t, "r", indexBody(manifestDesc(idx), manifestDesc(child)))
	put(t, s, top, "top")
	checkManifest(t, s, "r", "top", top)
}

func testTagsMove(t *testing.T, s meta.Store) {
	m1 := pushImage(t, s, "r", "one", "latest", "v1")
	m2 := pushImage(t, s, "r", "two", "latest")
	checkManifest(t, s, "r", "latest", m2)
	checkManifest(t, s, "r", "v1", m1)
	checkManifest(t, s, "r", string(m1.Digest), m1)
	checkManifest(t, s, "r", string(m2.Digest), m2)
	equal(t, tags(t, s, "r", "", 10), []string{"latest", "v1"}, "Tags")

	put(t, s, m1, "latest")
	checkManifest(t, s, "r", "latest", m1)

	// The same tag name in another repository is another tag.
	m3 := pushImage(t, s, "r2", "three", "latest")
	checkManifest(t, s, "r2", "latest", m3)
	checkManifest(t, s, "r", "latest", m1)
	noManifest(t, s, "r2", "v1")
}

func testGetManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := pushImage(t, s, "r", "get", "v1")
	checkManifest(t, s, "r", "v1", m)
	checkManifest(t, s, "r", string(m.Digest), m)

	pushImage(t, s, "other", "other", "v2")
	noManifest(t, s, "r", "v2")
	noManifest(t, s, "r", "nope")
	noManifest(t, s, "r", string(digest.FromString("nope")))
	noManifest(t, s, "other", string(m.Digest))
	noManifest(t, s, "other", "v1")
	for _, ref := range []string{"v1", string(m.Digest)} {
		_, err := s.GetManifest(ctx, "unknown", ref, false)
		if !errors.Is(err, meta.ErrManifestNotFound) && !errors.Is(err, meta.ErrRepoNotFound) {
			t.Fatalf("GetManifest in unknown repository: %v", err)
		}
	}

	// Bodies are stored byte for byte; media types as given; sha512 digests.
	cfg := commitBlob(t, s, "r", `{"docker":true}`)
	body, err := json.MarshalIndent(imageBody(cfg, nil, map[string]any{"mediaType": oci.MediaTypeDockerManifest}), "", "\t")
	must(t, err, "MarshalIndent")
	body = append(body, '\n')
	docker := manifestFromBytes(t, "r", digest.SHA512, body)
	equal(t, docker.MediaType, oci.MediaTypeDockerManifest, "media type")
	put(t, s, docker, "docker")
	checkManifest(t, s, "r", "docker", docker)
	checkManifest(t, s, "r", string(docker.Digest), docker)
	noManifest(t, s, "r", string(digest.SHA256.FromBytes(body)))
}

func testDeleteManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m1 := pushImage(t, s, "r", "one", "a", "b")
	m2 := pushImage(t, s, "r", "two", "c")
	pushImage(t, s, "r2", "one", "a")

	must(t, s.DeleteManifest(ctx, "r", m1.Digest), "DeleteManifest")
	noManifest(t, s, "r", string(m1.Digest))
	noManifest(t, s, "r", "a")
	noManifest(t, s, "r", "b")
	equal(t, tags(t, s, "r", "", 10), []string{"c"}, "Tags after DeleteManifest")
	checkManifest(t, s, "r", "c", m2)
	checkManifest(t, s, "r2", "a", &meta.Manifest{Digest: m1.Digest, MediaType: m1.MediaType, Size: m1.Size, Body: m1.Body})
	// The blobs stay linked: unlinking them is a separate decision.
	blobSize(t, s, "r", m1.Refs[0].Digest, m1.Refs[0].Size)

	wantErr(t, s.DeleteManifest(ctx, "r", m1.Digest), meta.ErrManifestNotFound, "DeleteManifest twice")
	wantErr(t, s.DeleteManifest(ctx, "r2", m2.Digest), meta.ErrManifestNotFound, "DeleteManifest in the wrong repo")
	wantErr(t, s.DeleteManifest(ctx, "nope", m2.Digest), meta.ErrManifestNotFound, "DeleteManifest in an unknown repo")
	checkManifest(t, s, "r", string(m2.Digest), m2)

	// It can be pushed again, without its old tags.
	put(t, s, m1)
	checkManifest(t, s, "r", string(m1.Digest), m1)
	noManifest(t, s, "r", "a")
	put(t, s, m1, "a")
	checkManifest(t, s, "r", "a", m1)

	// Deleting every manifest leaves a known, empty repository.
	must(t, s.DeleteManifest(ctx, "r", m1.Digest), "DeleteManifest m1")
	must(t, s.DeleteManifest(ctx, "r", m2.Digest), "DeleteManifest m2")
	equal(t, tags(t, s, "r", "", 10), []string{}, "Tags of a repository without manifests")
}

func testDeleteTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := pushImage(t, s, "r", "one", "a", "b")
	pushImage(t, s, "r2", "one", "a")
	must(t, s.DeleteTag(ctx, "r", "a"), "DeleteTag")
	noManifest(t, s, "r", "a")
	checkManifest(t, s, "r", "b", m)
	checkManifest(t, s, "r", string(m.Digest), m)
	checkManifest(t, s, "r2", "a", &meta.Manifest{Digest: m.Digest, MediaType: m.MediaType, Size: m.Size, Body: m.Body})
	equal(t, tags(t, s, "r", "", 10), []string{"b"}, "Tags after DeleteTag")

	wantErr(t, s.DeleteTag(ctx, "r", "a"), meta.ErrTagNotFound, "DeleteTag twice")
	wantErr(t, s.DeleteTag(ctx, "r", "never"), meta.ErrTagNotFound, "DeleteTag of unknown tag")
	wantErr(t, s.DeleteTag(ctx, "nope", "b"), meta.ErrTagNotFound, "DeleteTag in unknown repo")
	wantErr(t, s.DeleteTag(ctx, "r", string(m.Digest)), meta.ErrTagNotFound, "DeleteTag of a digest")

	must(t, s.DeleteTag(ctx, "r", "b"), "DeleteTag b")
	equal(t, tags(t, s, "r", "", 10), []string{}, "Tags after deleting every tag")
	checkManifest(t, s, "r", string(m.Digest), m)
}

// ---- listing ----

func testTagsPaging(t *testing.T, s meta.Store) {
	pushImage(t, s, "r", "one", "v2", "latest", "a", "A", "_x")
	pushImage(t, s, "r", "two", "1.0", "1.0-rc", "v10")
	pushImage(t, s, "r", "three", "1.0.1", "Z")
	pushImage(t, s, "r/sub", "four", "0", "zz")
	pushImage(t, s, "q", "four", "zzz")
	// Byte-wise order: digits < upper case < '_' < lower case; a prefix
	// first; '-' (0x2d) before '.' (0x2e).
	want := []string{"1.0", "1.0-rc", "1.0.1", "A", "Z", "_x", "a", "latest", "v10", "v2"}
	equal(t, tags(t, s, "r", "", 100), want, "all tags")
	equal(t, tags(t, s, "r", "", len(want)), want, "exactly all tags")

	for _, n := range []int{1, 3, 4} {
		var pages [][]string
		var all []string
		last := ""
		for {
			page := tags(t, s, "r", last, n)
			if len(page) == 0 {
				break
			}
			if len(page) > n {
				t.Fatalf("Tags(r, %q, %d) returned %d tags", last, n, len(page))
			}
			pages = append(pages, page)
			all = append(all, page...)
			last = page[len(page)-1]
			if len(pages) > len(want) {
				t.Fatalf("paging with n=%d does not end: %q", n, pages)
			}
		}
		equal(t, all, want, "tags paged %d at a time", n)
		if n == 3 {
			equal(t, pages, [][]string{{"1.0", "1.0-rc", "1.0.1"}, {"A", "Z", "_x"}, {"a", "latest", "v10"}, {"v2"}}, "pages of 3")
		}
	}
	for _, c := range []struct {
		last string
		n    int
		want []string
	}{
		{"1.0-", 2, []string{"1.0-rc", "1.0.1"}},
		{"1.0", 1, []string{"1.0-rc"}},
		{"0", 2, []string{"1.0", "1.0-rc"}},
		{"B", 2, []string{"Z", "_x"}},
		{"b", 10, []string{"latest", "v10", "v2"}},
		{"v10", 10, []string{"v2"}},
		{"v2", 10, []string{}},
		{"~", 10, []string{}},
	} {
		equal(t, tags(t, s, "r", c.last, c.n), c.want, "Tags(r, %q, %d)", c.last, c.n)
	}
	equal(t, tags(t, s, "r/sub", "", 10), []string{"0", "zz"}, "Tags(r/sub)")
}

func testTagsUnknownRepo(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, last := range []string{"", "a"} {
		got, err := s.Tags(ctx, "nope", last, 10)
		wantErr(t, err, meta.ErrRepoNotFound, "Tags(nope, %q) = %q", last, got)
	}
	commitBlob(t, s, "known", "x")
	equal(t, tags(t, s, "known", "", 10), []string{}, "Tags of a repository without tags")
	equal(t, tags(t, s, "known", "zzz", 10), []string{}, "Tags of a repository without tags after zzz")
	_, err := s.Tags(ctx, "know", "", 10)
	wantErr(t, err, meta.ErrRepoNotFound, "Tags of a prefix of a known repository")
}

func testRepositories(t *testing.T, s meta.Store) {
	ctx := t.Context()
	equal(t, repositories(t, s, "", 10), []string{}, "Repositories of an empty store")
	commitBlob(t, s, "z", "x")
	commitBlob(t, s, "a/b", "x")
	commitBlob(t, s, "a/b", "y")
	commitBlob(t, s, "a", "x")
	_, err := s.MountBlob(ctx, "a-b", "z", digest.FromString("x"))
	must(t, err, "MountBlob")
	pushImage(t, s, "m", "m", "v1")
	pushImage(t, s, "m", "m2", "v2")

	want := []string{"a", "a-b", "a/b", "m", "z"}
	equal(t, repositories(t, s, "", 100), want, "Repositories")
	equal(t, repositories(t, s, "", 2), want[:2], "page 1")
	equal(t, repositories(t, s, "a-b", 2), want[2:4], "page 2")
	equal(t, repositories(t, s, "m", 2), want[4:], "page 3")
	equal(t, repositories(t, s, "z", 2), []string{}, "page 4")
	equal(t, repositories(t, s, "a/", 10), []string{"a/b", "m", "z"}, "after a/")
	equal(t, repositories(t, s, "b", 10), []string{"m", "z"}, "after b")
}

func descOf(m *meta.Manifest) oci.Descriptor {
	return oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
}

func referrers(t *testing.T, s meta.Store, repo string, d digest.Digest, artifactType string) []oci.Descriptor {
	t.Helper()
	got, err := s.Referrers(t.Context(), repo, d, artifactType, "", 1000)
	must(t, err, "Referrers(%s, %s, %q)", repo, d, artifactType)
	if got == nil {
		t.Fatalf("Referrers(%s, %s, %q) = nil, want a non-nil slice", repo, d, artifactType)
	}
	slices.SortFunc(got, func(a, b oci.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return got
}

func descs(ms ...*meta.Manifest) []oci.Descriptor {
	out := []oci.Descriptor{}
	for _, m := range ms {
		out = append(out, descOf(m))
	}
	slices.SortFunc(out, func(a, b oci.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out
}

func testReferrers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	subject := pushImage(t, s, "r", "subject", "v1")
	subjectDesc := manifestDesc(subject)
	empty := commitBlob(t, s, "r", "{}")
	emptyCfg := map[string]any{"mediaType": oci.MediaTypeEmptyJSON, "digest": empty.Digest, "size": empty.Size}
	sigLayer := commitBlob(t, s, "r", "signature")

	const sigType, sbomType = "application/vnd.example.sig.v1", "application/vnd.example.sbom.config.v1+json"
	sig := manifestOf(t, "r", imageBody(empty, []oci.Ref{sigLayer}, map[string]any{
		"artifactType": sigType, "config": emptyCfg, "subject": subjectDesc,
		"annotations": map[string]string{
			"org.opencontainers.image.created": "2024-01-02T03:04:05Z",
			"quote":                            `a "quoted" value ✓ \ 😀`,
			"empty":                            "",
		},
	}))
	sbomCfg := commitBlob(t, s, "r", `{"sbom":true}`)
	sbom := manifestOf(t, "r", imageBody(sbomCfg, nil, map[string]any{
		"config":  descJSON(sbomType, sbomCfg.Digest, sbomCfg.Size),
		"subject": subjectDesc,
	}))
	equal(t, sbom.ArtifactType, sbomType, "artifact type from the config")
	// A referrer of an index pointing at the subject is a referrer too.
	idx := manifestOf(t, "r", map[string]any{
		"schemaVersion": 2, "mediaType": oci.MediaTypeImageIndex, "artifactType": "application/vnd.example.bundle",
		"manifests": []any{}, "subject": subjectDesc, "annotations": map[string]string{"k": "v"},
	})
	put(t, s, sig)
	put(t, s, sbom, "sbom")
	put(t, s, idx)
	put(t, s, sig) // idempotent: still listed once

	equal(t, referrers(t, s, "r", subject.Digest, ""), descs(sig, sbom, idx), "all referrers")
	equal(t, referrers(t, s, "r", subject.Digest, sigType), descs(sig), "signature referrers")
	equal(t, referrers(t, s, "r", subject.Digest, sbomType), descs(sbom), "sbom referrers")
	equal(t, referrers(t, s, "r", subject.Digest, "application/unknown"), []oci.Descriptor{}, "unknown type")
	// Paged in digest order: pages of 2 after "" and after the second.
	all := descs(sig, sbom, idx)
	page1, err := s.Referrers(t.Context(), "r", subject.Digest, "", "", 2)
	must(t, err, "Referrers page 1")
	equal(t, page1, all[:2], "referrers page 1")
	page2, err := s.Referrers(t.Context(), "r", subject.Digest, "", string(all[1].Digest), 2)
	must(t, err, "Referrers page 2")
	equal(t, page2, all[2:], "referrers page 2")
	equal(t, referrers(t, s, "r", sig.Digest, ""), []oci.Descriptor{}, "referrers of a referrer")
	equal(t, referrers(t, s, "nope", subject.Digest, ""), []oci.Descriptor{}, "unknown repository")
	if got := referrers(t, s, "r", subject.Digest, sigType); len(got[0].Annotations) != 3 || got[0].Annotations["empty"] != "" {
		t.Fatalf("annotations = %#v", got[0].Annotations)
	}

	// Referrers are per repository, and the subject need not exist.
	commitBlob(t, s, "other", "{}")
	commitBlob(t, s, "other", "signature")
	otherSig := manifestOf(t, "other", imageBody(empty, []oci.Ref{sigLayer}, map[string]any{
		"artifactType": sigType, "config": emptyCfg, "subject": subjectDesc,
	}))
	put(t, s, otherSig)
	equal(t, referrers(t, s, "other", subject.Digest, ""), descs(otherSig), "referrers in other")
	equal(t, referrers(t, s, "r", subject.Digest, ""), descs(sig, sbom, idx), "referrers in r")
	pending := digest.FromString("not pushed yet")
	early := manifestOf(t, "r", imageBody(empty, nil, map[string]any{
		"artifactType": sigType, "config": emptyCfg, "subject": descJSON(oci.MediaTypeImageManifest, pending, 123),
	}))
	put(t, s, early)
	equal(t, referrers(t, s, "r", pending, ""), descs(early), "referrers of an absent subject")

	// A deleted referrer is no longer listed; deleting the subject keeps them.
	must(t, s.DeleteManifest(ctx, "r", sig.Digest), "DeleteManifest(sig)")
	equal(t, referrers(t, s, "r", subject.Digest, ""), descs(sbom, idx), "referrers after deleting sig")
	must(t, s.DeleteManifest(ctx, "r", subject.Digest), "DeleteManifest(subject)")
	equal(t, referrers(t, s, "r", subject.Digest, ""), descs(sbom, idx), "referrers after deleting the subject")
}

// ---- concurrency ----

type written struct {
	repo, tag string
	blob      oci.Ref
	manifest  *meta.Manifest
}

func testConcurrency(t *testing.T, s meta.Store) {
	ctx := t.Context()
	const workers, perWorker, repos = 8, 8, 3
	results := make([][]written, workers)
	var wg sync.WaitGroup
	done := make(chan struct{})
	// Readers run beside the writers; before a repository's first push,
	// not-found is the only acceptable error.
	for r := range 2 {
		wg.Go(func() {
			repo := fmt.Sprint("conc/", r)
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.Tags(ctx, repo, "", 1000); err != nil && !errors.Is(err, meta.ErrRepoNotFound) {
					t.Errorf("concurrent Tags: %v", err)
					return
				}
				if _, err := s.GetManifest(ctx, repo, "shared", true); err != nil && !errors.Is(err, meta.ErrManifestNotFound) {
					t.Errorf("concurrent GetManifest: %v", err)
					return
				}
				if _, err := s.Repositories(ctx, "", 100); err != nil {
					t.Errorf("concurrent Repositories: %v", err)
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range workers {
		writers.Go(func() {
			for i := range perWorker {
				repo := fmt.Sprint("conc/", (w+i)%repos)
				seed := fmt.Sprintf("w%d-i%d", w, i)
				id := newUploadID()
				if err := s.CreateUpload(ctx, meta.Upload{ID: id, Repo: repo}); err != nil {
					t.Errorf("CreateUpload: %v", err)
					return
				}
				layer := oci.Ref{Digest: digest.FromString("layer " + seed), Size: int64(len("layer " + seed)), Kind: oci.RefBlob}
				if err := s.CommitBlob(ctx, repo, layer.Digest, layer.Size, id); err != nil {
					t.Errorf("CommitBlob: %v", err)
					return
				}
				// A config shared by every manifest: concurrent commits of one digest.
				cfg := oci.Ref{Digest: digest.FromString("{}"), Size: 2, Kind: oci.RefBlob}
				if err := s.CommitBlob(ctx, repo, cfg.Digest, cfg.Size, ""); err != nil {
					t.Errorf("CommitBlob config: %v", err)
					return
				}
				b, _ := json.Marshal(imageBody(cfg, []oci.Ref{layer}, nil))
				p, _ := oci.ParseManifest("", b)
				m := &meta.Manifest{Repo: repo, Digest: digest.FromBytes(b), MediaType: p.MediaType,
					Size: int64(len(b)), Body: b, Refs: p.Refs}
				if err := s.PutManifest(ctx, m, []string{seed, "shared"}); err != nil {
					t.Errorf("PutManifest: %v", err)
					return
				}
				results[w] = append(results[w], written{repo: repo, tag: seed, blob: layer, manifest: m})
			}
		})
	}
	writers.Wait()
	close(done)
	wg.Wait()
	if t.Failed() {
		return
	}

	byRepo := map[string][]written{}
	for _, ws := range results {
		equal(t, len(ws), perWorker, "acknowledged writes of a worker")
		for _, w := range ws {
			byRepo[w.repo] = append(byRepo[w.repo], w)
			blobSize(t, s, w.repo, w.blob.Digest, w.blob.Size)
			checkManifest(t, s, w.repo, string(w.manifest.Digest), w.manifest)
			checkManifest(t, s, w.repo, w.tag, w.manifest)
		}
	}
	stale, err := s.StaleUploads(ctx, time.Now().Add(time.Minute), 1000)
	must(t, err, "StaleUploads")
	equal(t, len(stale), 0, "upload sessions left after CommitBlob")
	equal(t, len(byRepo), repos, "repositories written")
	for repo, ws := range byRepo {
		want := []string{"shared"}
		for _, w := range ws {
			want = append(want, w.tag)
		}
		slices.Sort(want)
		equal(t, tags(t, s, repo, "", 1000), want, "Tags(%s)", repo)
		shared, err := s.GetManifest(ctx, repo, "shared", false)
		must(t, err, "GetManifest(%s, shared)", repo)
		if !slices.ContainsFunc(ws, func(w written) bool { return w.manifest.Digest == shared.Digest }) {
			t.Fatalf("%s:shared points at %s, which no writer put there", repo, shared.Digest)
		}
	}
}
