package metatest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// ArtifactStore is what RunArtifacts needs: the registry's store and the
// management API's catalog.
type ArtifactStore interface {
	meta.Store
	meta.Catalog
}

// RunArtifacts runs the suite of meta.ArtifactDetails (and of what it
// changes in Catalog: accessories are not listed as artifacts) on a fresh
// store from open, closing it after each sub-test.
func RunArtifacts(t *testing.T, open func(t *testing.T) ArtifactStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s ArtifactStore)
	}{
		{"Accessories", testAccessories},
		{"AccessoriesQuery", testAccessoriesQuery},
		{"OrphanAccessoryIsAnArtifact", testOrphanAccessory},
		{"ManifestDetails", testManifestDetails},
		{"ParentIndexesAndTaggedChildren", testParentIndexes},
		{"CopyArtifact", testCopyArtifact},
		{"CopyArtifactAtomic", testCopyArtifactAtomic},
		{"CopyArtifactRacesDelete", testCopyRacesDelete},
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

// referrer puts a manifest in repo whose subject is subject, of the given
// artifact type (an OCI 1.1 artifact with the empty config).
func referrer(t *testing.T, s meta.Store, repo string, subject *meta.Manifest, artifactType, seed string, tags ...string) *meta.Manifest {
	t.Helper()
	empty := commitBlob(t, s, repo, "{}")
	layer := commitBlob(t, s, repo, "payload "+seed)
	m := manifestOf(t, repo, imageBody(empty, []oci.Ref{layer}, map[string]any{
		"artifactType": artifactType,
		"config":       descJSON(oci.MediaTypeEmptyJSON, empty.Digest, empty.Size),
		"subject":      manifestDesc(subject),
	}))
	put(t, s, m, tags...)
	return m
}

// cosignSig puts a cosign signature of subject in repo the way cosign did
// before OCI 1.1: an image tagged sha256-HEX.sig (suffix ".sig", ".att"…).
func cosignSig(t *testing.T, s meta.Store, repo string, subject *meta.Manifest, suffix string) *meta.Manifest {
	t.Helper()
	return pushImage(t, s, repo, "cosign "+suffix+" "+string(subject.Digest), "sha256-"+subject.Digest.Encoded()+suffix)
}

func accessories(t *testing.T, s ArtifactStore, repo string, d digest.Digest, q meta.ListQuery) ([]meta.AccessoryInfo, int64) {
	t.Helper()
	if q.Page.Size == 0 {
		q.Page = meta.Page{Page: 1, Size: 100}
	}
	got, total, err := s.Accessories(t.Context(), repo, d, q)
	must(t, err, "Accessories(%s, %s, %+v)", repo, d, q)
	if got == nil {
		t.Fatalf("Accessories(%s, %s) = nil, want a non-nil slice", repo, d)
	}
	return got, total
}

// accessoryTypes maps each accessory's digest to its type.
func accessoryTypes(accs []meta.AccessoryInfo) map[digest.Digest]string {
	out := map[digest.Digest]string{}
	for _, a := range accs {
		out[a.Digest] = a.Type
	}
	return out
}

func artifactDigests(t *testing.T, s ArtifactStore, repo string) []digest.Digest {
	t.Helper()
	arts, total, err := s.Artifacts(t.Context(), repo, meta.ListQuery{Page: meta.Page{Page: 1, Size: 100}})
	must(t, err, "Artifacts(%s)", repo)
	var out []digest.Digest
	for _, a := range arts {
		out = append(out, a.Digest)
	}
	if total != int64(len(out)) {
		t.Fatalf("Artifacts(%s): total %d for %d artifacts", repo, total, len(out))
	}
	slices.Sort(out)
	return out
}

func digests(ms ...*meta.Manifest) []digest.Digest {
	var out []digest.Digest
	for _, m := range ms {
		out = append(out, m.Digest)
	}
	slices.Sort(out)
	return out
}

func testAccessories(t *testing.T, s ArtifactStore) {
	const repo = "p/app"
	img := pushImage(t, s, repo, "app", "v1")
	other := pushImage(t, s, repo, "other", "v2")
	notation := referrer(t, s, repo, img, "application/vnd.cncf.notary.signature", "notation")
	cosign := referrer(t, s, repo, img, "application/vnd.dev.cosign.artifact.sig.v1+json", "cosign")
	bundle := referrer(t, s, repo, img, "application/vnd.dev.sigstore.bundle.v0.3+json", "bundle")
	sbom := referrer(t, s, repo, img, "application/vnd.goharbor.harbor.sbom.v1", "sbom")
	spdx := referrer(t, s, repo, img, "application/spdx+json", "spdx")
	sig := cosignSig(t, s, repo, img, ".sig")
	att := cosignSig(t, s, repo, img, ".att")
	sbomTag := cosignSig(t, s, repo, img, ".sbom")
	// An accessory of an accessory: listed under the SBOM, not the image.
	sbomSig := referrer(t, s, repo, sbom, "application/vnd.cncf.notary.signature", "sbom signature")
	// Another repository's referrer of the same digest is not this one's.
	referrer(t, s, "p/elsewhere", pushImage(t, s, "p/elsewhere", "app"), "application/spdx+json", "elsewhere")

	got, total := accessories(t, s, repo, img.Digest, meta.ListQuery{})
	equal(t, accessoryTypes(got), map[digest.Digest]string{
		notation.Digest: meta.AccessoryNotation, cosign.Digest: meta.AccessoryCosign, bundle.Digest: meta.AccessoryCosign,
		sbom.Digest: meta.AccessoryHarborSBOM, spdx.Digest: meta.AccessorySubject, sig.Digest: meta.AccessoryCosign,
		att.Digest: meta.AccessorySubject, sbomTag.Digest: meta.AccessorySubject,
	}, "accessory types of the image")
	equal(t, total, int64(8), "total")
	for _, a := range got {
		if a.Subject != img.Digest || a.Size <= 0 || a.CreatedAt.IsZero() || a.MediaType != oci.MediaTypeImageManifest {
			t.Errorf("accessory %+v: want subject %s, a size, a time and a media type", a, img.Digest)
		}
	}
	got, _ = accessories(t, s, repo, sbom.Digest, meta.ListQuery{})
	equal(t, accessoryTypes(got), map[digest.Digest]string{sbomSig.Digest: meta.AccessoryNotation}, "accessories of the SBOM")
	got, total = accessories(t, s, repo, other.Digest, meta.ListQuery{})
	equal(t, len(got)+int(total), 0, "accessories of an image without any")

	// The artifact list and count show neither accessories nor their
	// accessories.
	equal(t, artifactDigests(t, s, repo), digests(img, other), "artifacts of "+repo)
	ri, err := s.Repository(t.Context(), repo)
	must(t, err, "Repository")
	equal(t, ri.ArtifactCount, int64(2), "artifact count")

	for m, want := range map[*meta.Manifest]digest.Digest{notation: img.Digest, sig: img.Digest, att: img.Digest,
		sbomSig: sbom.Digest, img: "", other: ""} {
		got, err := s.AccessoryOf(t.Context(), repo, m.Digest)
		must(t, err, "AccessoryOf(%s)", m.Digest)
		equal(t, got, want, "AccessoryOf(%s)", m.Digest)
	}
}

func testAccessoriesQuery(t *testing.T, s ArtifactStore) {
	const repo = "p/q"
	img := pushImage(t, s, repo, "q")
	notation := referrer(t, s, repo, img, "application/vnd.cncf.notary.signature", "n")
	sig := cosignSig(t, s, repo, img, ".sig")
	spdx := referrer(t, s, repo, img, "application/spdx+json", "spdx")

	where := func(c ...meta.Cond) meta.ListQuery { return meta.ListQuery{Where: c} }
	got, total := accessories(t, s, repo, img.Digest, where(meta.Cond{Key: "type", Op: meta.Equal, Values: []string{meta.AccessoryCosign}}))
	equal(t, accessoryTypes(got), map[digest.Digest]string{sig.Digest: meta.AccessoryCosign}, "type=signature.cosign")
	equal(t, total, int64(1), "total of type=signature.cosign")
	got, _ = accessories(t, s, repo, img.Digest, where(meta.Cond{Key: "type", Op: meta.AnyOf,
		Values: []string{meta.AccessoryCosign, meta.AccessoryNotation}}))
	equal(t, len(got), 2, "signatures")
	got, _ = accessories(t, s, repo, img.Digest, where(meta.Cond{Key: "digest", Op: meta.Equal, Values: []string{string(spdx.Digest)}}))
	equal(t, accessoryTypes(got), map[digest.Digest]string{spdx.Digest: meta.AccessorySubject}, "digest=")

	// Sorted by digest, paged.
	all := digests(notation, sig, spdx)
	q := meta.ListQuery{Sort: []meta.Order{{Key: "digest"}}, Page: meta.Page{Page: 2, Size: 2}}
	got, total = accessories(t, s, repo, img.Digest, q)
	equal(t, total, int64(3), "total of page 2")
	if len(got) != 1 || got[0].Digest != all[2] {
		t.Fatalf("page 2 of 2 by digest = %+v, want %s", got, all[2])
	}
	q = meta.ListQuery{Sort: []meta.Order{{Key: "type", Desc: true}, {Key: "digest"}}, Page: meta.Page{Page: 1, Size: 10}}
	got, _ = accessories(t, s, repo, img.Digest, q)
	if got[0].Type != meta.AccessorySubject || got[2].Type != meta.AccessoryCosign {
		t.Fatalf("sort=-type: %+v", got)
	}

	_, _, err := s.Accessories(t.Context(), repo, img.Digest, where(meta.Cond{Key: "tags", Op: meta.Equal, Values: []string{"x"}}))
	var qe *meta.QueryError
	if !errors.As(err, &qe) || qe.Key != "tags" {
		t.Fatalf("q=tags=x: err = %v, want a QueryError naming tags", err)
	}
}

func testOrphanAccessory(t *testing.T, s ArtifactStore) {
	const repo = "p/orphan"
	img := pushImage(t, s, repo, "img")
	sig := cosignSig(t, s, repo, img, ".sig")
	ref := referrer(t, s, repo, img, "application/spdx+json", "spdx")
	equal(t, artifactDigests(t, s, repo), digests(img), "artifacts while the image is there")

	// Once the image is gone, its accessories are artifacts again.
	must(t, s.DeleteManifest(t.Context(), repo, img.Digest), "DeleteManifest")
	equal(t, artifactDigests(t, s, repo), digests(sig, ref), "artifacts after the image is deleted")
	for _, m := range []*meta.Manifest{sig, ref} {
		got, err := s.AccessoryOf(t.Context(), repo, m.Digest)
		must(t, err, "AccessoryOf")
		equal(t, got, digest.Digest(""), "AccessoryOf(%s) after the image is deleted", m.Digest)
	}
	// A referrer of a digest never pushed is an artifact too.
	never := &meta.Manifest{MediaType: oci.MediaTypeImageManifest, Digest: digest.FromString("never pushed"), Size: 10}
	ghost := referrer(t, s, "p/ghost", never, "application/spdx+json", "ghost")
	equal(t, artifactDigests(t, s, "p/ghost"), digests(ghost), "artifacts of p/ghost")
}

func testManifestDetails(t *testing.T, s ArtifactStore) {
	const repo = "p/details"
	a := pushImage(t, s, repo, "a")
	b := pushImage(t, s, repo, "b")
	want := map[digest.Digest]*meta.Manifest{a.Digest: a, b.Digest: b}
	for _, withBody := range []bool{false, true} {
		got, err := s.ManifestDetails(t.Context(), repo, []digest.Digest{a.Digest, digest.FromString("absent"), b.Digest}, withBody)
		must(t, err, "ManifestDetails")
		equal(t, len(got), 2, "details found (withBody %v)", withBody)
		for _, d := range got {
			m := want[d.Digest]
			if m == nil {
				t.Fatalf("unexpected %s", d.Digest)
			}
			arts, _, err := s.Artifacts(t.Context(), repo, meta.ListQuery{
				Where: []meta.Cond{{Key: "digest", Op: meta.Equal, Values: []string{string(d.Digest)}}}, Page: meta.Page{Page: 1, Size: 1}})
			must(t, err, "Artifacts")
			equal(t, d.Size, arts[0].Size, "size of %s (the manifest and its blobs)", d.Digest)
			equal(t, d.MediaType, m.MediaType, "media type")
			if withBody && string(d.Body) != string(m.Body) || !withBody && d.Body != nil {
				t.Fatalf("body of %s (withBody %v) = %q", d.Digest, withBody, d.Body)
			}
		}
	}
	got, err := s.ManifestDetails(t.Context(), "p/none", []digest.Digest{a.Digest}, true)
	must(t, err, "ManifestDetails of another repository")
	equal(t, len(got), 0, "details in another repository")
}

func testParentIndexes(t *testing.T, s ArtifactStore) {
	const repo = "p/idx"
	c1 := pushImage(t, s, repo, "c1")
	c2 := pushImage(t, s, repo, "c2")
	i1 := manifestOf(t, repo, indexBody(manifestDesc(c1), manifestDesc(c2)))
	put(t, s, i1, "multi")
	i2 := manifestOf(t, repo, indexBody(manifestDesc(c1)))
	put(t, s, i2)
	got, err := s.ParentIndexes(t.Context(), repo, c1.Digest, 10)
	must(t, err, "ParentIndexes(c1)")
	equal(t, got, digests(i1, i2), "parents of c1")
	got, err = s.ParentIndexes(t.Context(), repo, c1.Digest, 1)
	must(t, err, "ParentIndexes(c1, 1)")
	equal(t, len(got), 1, "parents of c1, limit 1")
	got, err = s.ParentIndexes(t.Context(), repo, i1.Digest, 10)
	must(t, err, "ParentIndexes(i1)")
	equal(t, len(got), 0, "parents of an index nobody references")

	// As in Harbor, a child of an index is listed as an artifact only if
	// it is tagged.
	equal(t, artifactDigests(t, s, repo), digests(i1, i2), "artifacts")
	must(t, s.CreateTag(t.Context(), repo, "c2", c2.Digest), "CreateTag")
	equal(t, artifactDigests(t, s, repo), digests(i1, i2, c2), "artifacts with a tagged child")
	ri, err := s.Repository(t.Context(), repo)
	must(t, err, "Repository")
	equal(t, ri.ArtifactCount, int64(3), "artifact count with a tagged child")
}

func testCopyArtifact(t *testing.T, s ArtifactStore) {
	const src, dst = "p/src", "q/dst"
	c1 := pushImage(t, s, src, "c1", "amd64")
	c2 := pushImage(t, s, src, "c2")
	idx := manifestOf(t, src, indexBody(manifestDesc(c1), manifestDesc(c2)))
	put(t, s, idx, "multi", "latest")
	sig := cosignSig(t, s, src, idx, ".sig")
	sbom := referrer(t, s, src, idx, "application/spdx+json", "sbom")
	sbomSig := referrer(t, s, src, sbom, "application/vnd.cncf.notary.signature", "sbom sig")
	c1sig := cosignSig(t, s, src, c1, ".sig")
	unrelated := pushImage(t, s, src, "unrelated", "other")
	// The destination has "latest" on another image: the copy moves it.
	old := pushImage(t, s, dst, "old", "latest")

	res, err := s.CopyArtifact(t.Context(), src, dst, idx.Digest)
	must(t, err, "CopyArtifact")
	equal(t, res, meta.CopyResult{Manifests: 7, Tags: []string{"latest", "multi"}}, "copy result")
	for _, m := range []*meta.Manifest{idx, c1, c2, sig, sbom, sbomSig, c1sig} {
		checkManifest(t, s, dst, string(m.Digest), m)
	}
	noManifest(t, s, dst, string(unrelated.Digest))
	for _, ref := range c1.Refs {
		blobSize(t, s, dst, ref.Digest, ref.Size)
	}
	equal(t, tags(t, s, dst, "", 100), sorted("amd64", "latest", "multi", "sha256-"+idx.Digest.Encoded()+".sig",
		"sha256-"+c1.Digest.Encoded()+".sig"), "tags of the destination")
	checkManifest(t, s, dst, "latest", idx)
	checkManifest(t, s, src, "latest", idx) // the source is unchanged
	equal(t, artifactDigests(t, s, dst), digests(idx, old, c1), "artifacts of the destination (c1 is tagged)")
	accs, _ := accessories(t, s, dst, idx.Digest, meta.ListQuery{})
	equal(t, accessoryTypes(accs), map[digest.Digest]string{sig.Digest: meta.AccessoryCosign, sbom.Digest: meta.AccessorySubject},
		"accessories of the copy")
	parents, err := s.ParentIndexes(t.Context(), dst, c2.Digest, 10)
	must(t, err, "ParentIndexes")
	equal(t, parents, digests(idx), "the copied index references its copied children")

	// Again: nothing new, the same answer; and a copy within a repository.
	res, err = s.CopyArtifact(t.Context(), src, dst, idx.Digest)
	must(t, err, "CopyArtifact again")
	equal(t, res.Manifests, 7, "manifests of the second copy")
	_, err = s.CopyArtifact(t.Context(), src, src, c2.Digest)
	must(t, err, "CopyArtifact into its own repository")

	_, err = s.CopyArtifact(t.Context(), src, dst, digest.FromString("absent"))
	wantErr(t, err, meta.ErrManifestNotFound, "CopyArtifact of an absent manifest")
	_, err = s.CopyArtifact(t.Context(), "p/nosuch", dst, idx.Digest)
	wantErr(t, err, meta.ErrManifestNotFound, "CopyArtifact from an absent repository")
}

func testCopyArtifactAtomic(t *testing.T, s ArtifactStore) {
	const src, dst = "p/broken", "q/empty"
	c1 := pushImage(t, s, src, "ok")
	c2 := pushImage(t, s, src, "broken")
	idx := manifestOf(t, src, indexBody(manifestDesc(c1), manifestDesc(c2)))
	put(t, s, idx, "multi")
	// A blob of the second child is no longer in the source repository.
	layer := c2.Refs[1]
	must(t, s.UnlinkBlob(t.Context(), src, layer.Digest), "UnlinkBlob")

	_, err := s.CopyArtifact(t.Context(), src, dst, idx.Digest)
	var mre *meta.MissingRefError
	if !errors.As(err, &mre) || mre.Ref.Digest != layer.Digest {
		t.Fatalf("CopyArtifact with a missing blob: err = %v, want a MissingRefError for %s", err, layer.Digest)
	}
	// Nothing of the copy is left: not the repository, not the first
	// child, not its blobs.
	if _, err := s.Tags(t.Context(), dst, "", 10); !errors.Is(err, meta.ErrRepoNotFound) {
		t.Fatalf("Tags(%s) after a failed copy: %v, want ErrRepoNotFound", dst, err)
	}
	noManifest(t, s, dst, string(c1.Digest))
	noBlob(t, s, dst, c1.Refs[0].Digest)
}

// testCopyRacesDelete copies an index while its child, its signature or
// the index itself is deleted from the source: either the copy is whole,
// or it fails and the destination has nothing; no tag points at nothing.
func testCopyRacesDelete(t *testing.T, s ArtifactStore) {
	for i := range 12 {
		src, dst := fmt.Sprintf("p/race%d", i), fmt.Sprintf("q/race%d", i)
		c1 := pushImage(t, s, src, "c1")
		c2 := pushImage(t, s, src, "c2")
		idx := manifestOf(t, src, indexBody(manifestDesc(c1), manifestDesc(c2)))
		put(t, s, idx, "multi")
		sig := cosignSig(t, s, src, idx, ".sig")
		victim := []*meta.Manifest{c2, sig, idx}[i%3]
		var wg sync.WaitGroup
		var copyErr, delErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, copyErr = s.CopyArtifact(t.Context(), src, dst, idx.Digest) }()
		go func() { defer wg.Done(); delErr = s.DeleteManifest(t.Context(), src, victim.Digest) }()
		wg.Wait()
		must(t, delErr, "DeleteManifest(%s)", victim.Digest)
		var mre *meta.MissingRefError
		switch {
		case copyErr == nil:
			for _, m := range []*meta.Manifest{idx, c1, c2} {
				checkManifest(t, s, dst, string(m.Digest), m)
			}
			names := tags(t, s, dst, "", 10)
			for _, n := range names {
				if _, err := s.GetManifest(t.Context(), dst, n, false); err != nil {
					t.Fatalf("round %d: tag %s of %s points at nothing: %v", i, n, dst, err)
				}
			}
			if !slices.Contains(names, "multi") {
				t.Fatalf("round %d: tags of the copy %v", i, names)
			}
		case errors.Is(copyErr, meta.ErrManifestNotFound), errors.As(copyErr, &mre):
			if _, err := s.Tags(t.Context(), dst, "", 10); !errors.Is(err, meta.ErrRepoNotFound) {
				t.Fatalf("round %d: a failed copy left %s: %v", i, dst, err)
			}
		default:
			t.Fatalf("round %d: CopyArtifact: %v", i, copyErr)
		}
	}
}
