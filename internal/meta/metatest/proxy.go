package metatest

import (
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// ProxyFullStore is a store with repositories, projects and proxy-cache
// content.
type ProxyFullStore interface {
	FullStore
	meta.ProjectSettingsStore
	meta.ProxyStore
}

// RunProxy is the suite for meta.ProxyStore. open returns a fresh, empty
// store (and arranges its own cleanup).
func RunProxy(t *testing.T, open func(t *testing.T) ProxyFullStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s ProxyFullStore)
	}{
		{"Projects", testProxyProjects},
		{"LazyManifests", testProxyLazyManifests},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testProxyProjects(t *testing.T, s ProxyFullStore) {
	ctx := t.Context()
	list, err := s.ProxyProjects(ctx)
	must(t, err, "ProxyProjects")
	equal(t, len(list), 0, "proxy projects of an empty store")
	hub := &meta.Project{Name: "hub"}
	must(t, s.CreateProjectWith(ctx, hub, meta.ProjectChange{Metadata: map[string]string{
		meta.ProxyRegistryKey: "7", "proxy_speed_kb": "100"}}), "CreateProjectWith(hub)")
	must(t, s.CreateProjectWith(ctx, &meta.Project{Name: "plain"}, meta.ProjectChange{Metadata: map[string]string{"auto_scan": "true"}}), "CreateProjectWith(plain)")
	list, err = s.ProxyProjects(ctx)
	must(t, err, "ProxyProjects")
	if len(list) != 1 || list[0].ID != hub.ID || list[0].Name != "hub" || list[0].RegistryID != 7 ||
		list[0].Metadata["proxy_speed_kb"] != "100" || list[0].Metadata[meta.ProxyRegistryKey] != "7" {
		t.Fatalf("ProxyProjects = %+v, want hub of registry 7 with its metadata", list)
	}
	must(t, s.DeleteProject(ctx, hub.ID), "DeleteProject(hub)")
	list, err = s.ProxyProjects(ctx)
	must(t, err, "ProxyProjects")
	equal(t, len(list), 0, "proxy projects once hub is deleted")
}

// testProxyLazyManifests: an index is stored before its children, an
// image before its blobs; what arrives later completes them, and a
// reference present with another size is still refused.
func testProxyLazyManifests(t *testing.T, s ProxyFullStore) {
	ctx := t.Context()
	must(t, s.CreateProject(ctx, &meta.Project{Name: "hub"}), "CreateProject(hub)")
	const repo = "hub/lib/app"
	cfg := oci.Ref{Digest: digest.FromString("cfg"), Size: 3, Kind: oci.RefBlob}
	layer := oci.Ref{Digest: digest.FromString("layer"), Size: 5, Kind: oci.RefBlob}
	child := manifestOf(t, repo, imageBody(cfg, []oci.Ref{layer}, nil))
	index := manifestOf(t, repo, indexBody(manifestDesc(child)))

	if err := s.PutManifest(ctx, index, []string{"v1"}); err == nil {
		t.Fatal("PutManifest stored an index without its child")
	}
	must(t, s.PutProxyManifest(ctx, index, []string{"v1"}), "PutProxyManifest(index)")
	checkManifest(t, s, repo, "v1", index)
	noManifest(t, s, repo, string(child.Digest))

	must(t, s.PutProxyManifest(ctx, child, nil), "PutProxyManifest(child)")
	checkManifest(t, s, repo, string(child.Digest), child)
	noBlob(t, s, repo, layer.Digest)
	must(t, s.CommitBlob(ctx, repo, cfg.Digest, cfg.Size, ""), "CommitBlob(cfg)")
	must(t, s.CommitBlob(ctx, repo, layer.Digest, layer.Size, ""), "CommitBlob(layer)")
	blobSize(t, s, repo, layer.Digest, layer.Size)

	// A reference present with another size is refused as by PutManifest.
	bad := manifestOf(t, repo, imageBody(oci.Ref{Digest: cfg.Digest, Size: 99}, nil, nil))
	err := s.PutProxyManifest(ctx, bad, nil)
	var missing *meta.MissingRefError
	if !errors.As(err, &missing) || missing.ActualSize != cfg.Size {
		t.Fatalf("PutProxyManifest with a wrong size: %v, want MissingRefError with the actual size", err)
	}
	// Deleting the index leaves the child (and its blobs) to garbage
	// collection as for pushed content.
	must(t, s.DeleteManifest(ctx, repo, index.Digest), "DeleteManifest(index)")
	checkManifest(t, s, repo, string(child.Digest), child)
}
