package harborapi

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/icon"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifacts beyond a plain image, pushed on berth's /v2 as the tools push
// them, then read through Harbor's go-client: an image with a real config
// (history, architecture, labels), a multi-platform index, a cosign
// signature (tag sha256-HEX.sig), an OCI 1.1 referrer (an SBOM with a
// subject) and a Helm chart.

// rawManifest is a manifest body to put as it is.
type rawManifest struct {
	body      []byte
	mediaType string
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.MediaType(m.mediaType), nil }

func registryOpts(t testing.TB) []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
		remote.WithTransport(loopback), remote.WithContext(ctx(t))}
}

// descriptor is an OCI descriptor as a manifest carries it.
type descriptor map[string]any

// pushBlob uploads content to repo and returns its descriptor.
func pushBlob(t testing.TB, repo, mediaType string, content []byte) descriptor {
	t.Helper()
	r, err := name.NewRepository(server(t).Addr+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(r, static.NewLayer(content, types.MediaType(mediaType)), registryOpts(t)...); err != nil {
		t.Fatalf("push blob to %s: %v", repo, err)
	}
	sum := sha256.Sum256(content)
	return descriptor{"mediaType": mediaType, "digest": "sha256:" + hex.EncodeToString(sum[:]), "size": len(content)}
}

// pushManifest puts manifest m in repo, tagged tag (by digest if tag is
// empty), and returns its descriptor.
func pushManifest(t testing.TB, repo, tag string, m map[string]any) descriptor {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	d := "sha256:" + hex.EncodeToString(sum[:])
	ref := server(t).Addr + "/" + repo + "@" + d
	if tag != "" {
		ref = server(t).Addr + "/" + repo + ":" + tag
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	mt := m["mediaType"].(string)
	if err := remote.Put(r, rawManifest{body, mt}, registryOpts(t)...); err != nil {
		t.Fatalf("push manifest %s: %v", ref, err)
	}
	return descriptor{"mediaType": mt, "digest": d, "size": len(body)}
}

// pushConfiguredImage pushes an image whose config has a platform, labels
// and a build history.
func pushConfiguredImage(t testing.TB, repo, tag, arch string) descriptor {
	t.Helper()
	layer := pushBlob(t, repo, "application/vnd.oci.image.layer.v1.tar+gzip", []byte("layer "+arch+" "+unique("l")))
	cfg, _ := json.Marshal(map[string]any{
		"created": "2024-05-06T07:08:09Z", "architecture": arch, "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/usr/bin"}, "Cmd": []string{"/app"},
			"Labels": map[string]string{"org.opencontainers.image.authors": "team@example.com"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layer["digest"].(string)}},
		"history": []map[string]any{
			{"created": "2024-05-06T07:00:00Z", "created_by": "COPY app /app # buildkit", "comment": "buildkit.dockerfile.v0"},
			{"created": "2024-05-06T07:00:01Z", "created_by": `CMD ["/app"]`, "empty_layer": true},
		},
	})
	config := pushBlob(t, repo, "application/vnd.oci.image.config.v1+json", cfg)
	return pushManifest(t, repo, tag, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": config, "layers": []descriptor{layer}, "annotations": map[string]string{"org.opencontainers.image.version": "1.0"}})
}

// helmChart is a chart archive, top directory top.
func helmChart(t testing.TB, top string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	}) {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// additionClient is the administrator's go-client able to read every
// addition. Harbor's document declares an addition as a string answered
// as application/json, so the generated client decodes build_history and
// dependencies (JSON arrays, from Harbor as from berth) as a JSON string
// and fails, and has no consumer for readme.md's text/markdown: a caller
// registers consumers that keep the answer's text, as here.
func additionClient(t testing.TB) harborClient {
	t.Helper()
	c := client(t)
	rt := c.Transport.(*httptransport.Runtime)
	jsonConsumer := rt.Consumers[runtime.JSONMime]
	rt.Consumers[runtime.JSONMime] = runtime.ConsumerFunc(func(r io.Reader, v any) error {
		if s, ok := v.(*string); ok {
			b, err := io.ReadAll(r)
			*s = string(b)
			return err
		}
		return jsonConsumer.Consume(r, v)
	})
	rt.Consumers["text/markdown"] = runtime.TextConsumer()
	return c
}

func TestArtifactsExtra(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	const repo = "team/app"
	enc := url.PathEscape(repo) // as Harbor documents it: encoded by the caller, so twice on the wire
	amd := pushConfiguredImage(t, proj+"/"+repo, "v1", "amd64")
	arm := pushConfiguredImage(t, proj+"/"+repo, "", "arm64")
	idx := pushManifest(t, proj+"/"+repo, "multi", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{
			{"mediaType": amd["mediaType"], "digest": amd["digest"], "size": amd["size"], "platform": map[string]any{"architecture": "amd64", "os": "linux"}},
			{"mediaType": arm["mediaType"], "digest": arm["digest"], "size": arm["size"], "platform": map[string]any{"architecture": "arm64", "os": "linux", "variant": "v8"}},
		}})
	idxDigest := idx["digest"].(string)
	// cosign sign, without the referrers API: a signature tagged after the index.
	sigConfig := pushBlob(t, proj+"/"+repo, "application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`))
	payload := pushBlob(t, proj+"/"+repo, "application/vnd.dev.cosign.simplesigning.v1+json",
		[]byte(`{"critical":{"identity":{"docker-reference":"app"},"image":{"docker-manifest-digest":"`+idxDigest+`"},"type":"cosign container image signature"}}`))
	payload["annotations"] = map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQDx"}
	sig := pushManifest(t, proj+"/"+repo, "sha256-"+strings.TrimPrefix(idxDigest, "sha256:")+".sig",
		map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": sigConfig, "layers": []descriptor{payload}})
	// oras attach: an SBOM whose subject is the amd64 image.
	empty := pushBlob(t, proj+"/"+repo, "application/vnd.oci.empty.v1+json", []byte("{}"))
	spdx := pushBlob(t, proj+"/"+repo, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`))
	sbom := pushManifest(t, proj+"/"+repo, "", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"artifactType": "application/spdx+json", "config": empty, "layers": []descriptor{spdx},
		"subject": map[string]any{"mediaType": amd["mediaType"], "digest": amd["digest"], "size": amd["size"]}})

	t.Run("listArtifacts", func(t *testing.T) {
		// The index and the tagged image, not the untagged child nor the
		// accessories, with tags and accessories.
		yes := true
		list := must(c.Artifact.ListArtifacts(ctx(t), artifact.NewListArtifactsParams().WithProjectName(proj).
			WithRepositoryName(enc).WithWithAccessory(&yes).WithSort(ptr("-push_time"))))(t).Payload
		var got []string
		for _, a := range list {
			got = append(got, a.Digest)
		}
		slices.Sort(got)
		want := []string{amd["digest"].(string), idxDigest}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("listArtifacts = %s", dump(list))
		}
		for _, a := range list {
			if a.Digest == idxDigest && (len(a.Accessories) != 1 || a.Accessories[0].Type != "signature.cosign" || len(a.References) != 2) {
				t.Errorf("index: %s", dump(a))
			}
			if a.Digest == amd["digest"] && (len(a.Accessories) != 1 || a.Accessories[0].Digest != sbom["digest"]) {
				t.Errorf("image: %s", dump(a))
			}
		}
	})

	t.Run("getArtifact", func(t *testing.T) {
		a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).
			WithRepositoryName(enc).WithReference("v1")))(t).Payload
		cfg, _ := a.ExtraAttrs["config"].(map[string]any)
		if a.Type != "IMAGE" || a.ExtraAttrs["architecture"] != "amd64" || a.ExtraAttrs["author"] != "team@example.com" ||
			a.ExtraAttrs["created"] != "2024-05-06T07:08:09Z" || cfg["Cmd"] == nil || a.RepositoryName != proj+"/"+repo ||
			a.AdditionLinks["build_history"].Href == "" || a.Annotations["org.opencontainers.image.version"] != "1.0" {
			t.Errorf("getArtifact v1 = %s", dump(a))
		}
		// The icon of its type, which GET /icons/{digest} serves.
		if a.Icon == "" {
			t.Errorf("getArtifact v1 has no icon")
		} else {
			must(c.Icon.GetIcon(ctx(t), icon.NewGetIconParams().WithDigest(a.Icon)))(t)
		}
		i := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).
			WithRepositoryName(enc).WithReference("multi")))(t).Payload
		if len(i.References) != 2 || i.References[1].Platform == nil || i.References[1].Platform.Variant != "v8" ||
			i.References[0].ParentID != i.ID || i.Size <= int64(amd["size"].(int)+arm["size"].(int)) {
			t.Errorf("getArtifact multi = %s", dump(i))
		}
	})

	t.Run("listAccessories", func(t *testing.T) {
		page, size := int64(1), int64(10)
		accs := must(c.Artifact.ListAccessories(ctx(t), &artifact.ListAccessoriesParams{ProjectName: proj,
			RepositoryName: enc, Reference: "multi", Page: &page, PageSize: &size}))(t).Payload
		if len(accs) != 1 || accs[0].Digest != sig["digest"] || accs[0].Type != "signature.cosign" ||
			accs[0].SubjectArtifactDigest != idxDigest || accs[0].SubjectArtifactRepo != proj+"/"+repo || accs[0].Size <= 0 {
			t.Errorf("listAccessories multi = %s", dump(accs))
		}
		q := "type=subject.accessory"
		accs = must(c.Artifact.ListAccessories(ctx(t), artifact.NewListAccessoriesParams().WithProjectName(proj).
			WithRepositoryName(enc).WithReference(amd["digest"].(string)).WithQ(&q)))(t).Payload
		if len(accs) != 1 || accs[0].Digest != sbom["digest"] {
			t.Errorf("listAccessories v1 = %s", dump(accs))
		}
		_, err := c.Artifact.ListAccessories(ctx(t), artifact.NewListAccessoriesParams().WithProjectName(proj).
			WithRepositoryName(enc).WithReference("nosuch"))
		if !isStatus(err, 404) {
			t.Errorf("listAccessories of a missing artifact: %v", err)
		}
	})

	t.Run("getAddition", func(t *testing.T) {
		ac := additionClient(t)
		h := must(ac.Artifact.GetAddition(ctx(t), artifact.NewGetAdditionParams().WithProjectName(proj).
			WithRepositoryName(enc).WithReference("v1").WithAddition("build_history")))(t).Payload
		var history []map[string]any
		if err := json.Unmarshal([]byte(h), &history); err != nil || len(history) != 2 || history[1]["empty_layer"] != true ||
			history[0]["created_by"] != "COPY app /app # buildkit" {
			t.Errorf("build_history = %s (%v)", h, err)
		}
		_, err := ac.Artifact.GetAddition(ctx(t), artifact.NewGetAdditionParams().WithProjectName(proj).
			WithRepositoryName(enc).WithReference("v1").WithAddition("values.yaml"))
		if !isStatus(err, 404) {
			t.Errorf("values.yaml of an image: %v", err)
		}

		values, readme := "replicaCount: 2\n", "# web\n"
		archive := helmChart(t, "web", map[string]string{"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n" +
			"dependencies:\n  - name: redis\n    version: 17.x\n    repository: oci://registry.example.com/charts\n",
			"values.yaml": values, "README.md": readme})
		chartRepo := proj + "/charts/web"
		cfg := pushBlob(t, chartRepo, "application/vnd.cncf.helm.config.v1+json", []byte(`{"name":"web","version":"0.1.0","apiVersion":"v2","description":"A chart"}`))
		layer := pushBlob(t, chartRepo, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", archive)
		pushManifest(t, chartRepo, "0.1.0", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": cfg, "layers": []descriptor{layer}})
		a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(proj).
			WithRepositoryName("charts/web").WithReference("0.1.0")))(t).Payload
		if a.Type != "CHART" || a.ExtraAttrs["description"] != "A chart" || len(a.AdditionLinks) != 3 {
			t.Errorf("chart = %s", dump(a))
		}
		get := func(addition string) *artifact.GetAdditionOK {
			t.Helper()
			return must(ac.Artifact.GetAddition(ctx(t), artifact.NewGetAdditionParams().WithProjectName(proj).
				WithRepositoryName("charts/web").WithReference("0.1.0").WithAddition(addition)))(t)
		}
		if v := get("values.yaml"); v.Payload != values || !strings.HasPrefix(v.ContentType, "text/plain") {
			t.Errorf("values.yaml = %q (%s)", v.Payload, v.ContentType)
		}
		if r := get("readme.md"); r.Payload != readme || !strings.HasPrefix(r.ContentType, "text/markdown") {
			t.Errorf("readme.md = %q (%s)", r.Payload, r.ContentType)
		}
		if d := get("dependencies"); d.Payload != `[{"name":"redis","version":"17.x","repository":"oci://registry.example.com/charts"}]` {
			t.Errorf("dependencies = %s", d.Payload)
		}
		// The generated client as it is reads values.yaml (text/plain).
		v := must(c.Artifact.GetAddition(ctx(t), artifact.NewGetAdditionParams().WithProjectName(proj).
			WithRepositoryName("charts/web").WithReference("0.1.0").WithAddition("values.yaml")))(t).Payload
		if v != values {
			t.Errorf("values.yaml with the plain client = %q", v)
		}
	})

	t.Run("CopyArtifact", func(t *testing.T) {
		dst := newProject(t, c)
		created := must(c.Artifact.CopyArtifact(ctx(t), artifact.NewCopyArtifactParams().WithProjectName(dst).
			WithRepositoryName("copies%2Fapp").WithFrom(proj+"/"+repo+":multi")))(t)
		if created.Location != "/api/v2.0/projects/"+dst+"/repositories/copies%252Fapp/artifacts/multi" {
			t.Errorf("Location %q", created.Location)
		}
		yes := true
		a := must(c.Artifact.GetArtifact(ctx(t), artifact.NewGetArtifactParams().WithProjectName(dst).
			WithRepositoryName("copies%2Fapp").WithReference("multi").WithWithAccessory(&yes)))(t).Payload
		if a.Digest != idxDigest || len(a.References) != 2 || len(a.Accessories) != 1 || !hasTag(a.Tags, "multi") {
			t.Errorf("the copy = %s", dump(a))
		}
		must(c.Artifact.CopyArtifact(ctx(t), artifact.NewCopyArtifactParams().WithProjectName(dst).
			WithRepositoryName("by-digest").WithFrom(proj+"/"+repo+"@"+amd["digest"].(string))))(t)
		_, err := c.Artifact.CopyArtifact(ctx(t), artifact.NewCopyArtifactParams().WithProjectName(dst).
			WithRepositoryName("x").WithFrom(proj+"/"+repo+":nosuch"))
		if !isStatus(err, 404) {
			t.Errorf("copy of a missing tag: %v", err)
		}
		_, err = c.Artifact.CopyArtifact(ctx(t), artifact.NewCopyArtifactParams().WithProjectName(dst).
			WithRepositoryName("x").WithFrom("not a reference"))
		if !isStatus(err, 400) {
			t.Errorf("copy from a malformed reference: %v", err)
		}
	})
}

// TestHarborCLIArtifactView replays harbor artifact view and list on the
// artifacts berth describes beyond a plain image: the fields harbor-cli's
// views read (pkg/views/artifact/view, list): extra_attrs architecture,
// os, created (as strings) and config, references' platforms, the
// addition links, tags.
func TestHarborCLIArtifactView(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	amd := pushConfiguredImage(t, proj+"/svc", "", "amd64")
	arm := pushConfiguredImage(t, proj+"/svc", "", "arm64")
	idx := pushManifest(t, proj+"/svc", "v2", map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{
			{"mediaType": amd["mediaType"], "digest": amd["digest"], "size": amd["size"], "platform": map[string]any{"architecture": "amd64", "os": "linux"}},
			{"mediaType": arm["mediaType"], "digest": arm["digest"], "size": arm["size"], "platform": map[string]any{"architecture": "arm64", "os": "linux"}},
		}})
	base := "/projects/" + proj + "/repositories/svc/artifacts"

	t.Run("artifact view of an index", func(t *testing.T) {
		// harbor artifact view PROJECT/svc:v2 — ViewArtifact, withLabels false.
		cli(t, "GET "+base+"/v2?with_label=false")
		no := false
		a := must(c.Artifact.GetArtifact(ctx(t), &artifact.GetArtifactParams{ProjectName: proj, RepositoryName: "svc",
			Reference: "v2", WithLabel: &no}))(t).Payload
		var platforms []string
		for _, r := range a.References {
			if r.Platform != nil && r.Platform.Architecture != "" {
				platforms = append(platforms, r.Platform.Architecture+": "+r.ChildDigest)
			}
		}
		if a.Digest != idx["digest"] || len(platforms) != 2 || !hasTag(a.Tags, "v2") {
			t.Errorf("view: %s", dump(a))
		}
	})

	t.Run("artifact view of a child", func(t *testing.T) {
		// harbor artifact view PROJECT/svc@DIGEST.
		d := amd["digest"].(string)
		cli(t, "GET "+base+"/"+d+"?with_label=false")
		no := false
		a := must(c.Artifact.GetArtifact(ctx(t), &artifact.GetArtifactParams{ProjectName: proj, RepositoryName: "svc",
			Reference: d, WithLabel: &no}))(t).Payload
		arch, _ := a.ExtraAttrs["architecture"].(string)
		osName, _ := a.ExtraAttrs["os"].(string)
		created, _ := a.ExtraAttrs["created"].(string)
		config, _ := a.ExtraAttrs["config"].(map[string]any)
		env, _ := config["Env"].([]any)
		if arch != "amd64" || osName != "linux" || created == "" || len(env) != 1 || a.AdditionLinks["build_history"].Href == "" {
			t.Errorf("view: %s", dump(a))
		}
	})

	t.Run("artifact list", func(t *testing.T) {
		// harbor artifact list PROJECT/svc — defaults --page 1 --page-size 10:
		// the index only (its children are untagged).
		cli(t, "GET "+base+"?page=1&page_size=10")
		q, sort, page, size := "", "", int64(1), int64(10)
		list := must(c.Artifact.ListArtifacts(ctx(t), &artifact.ListArtifactsParams{ProjectName: proj, RepositoryName: "svc",
			Page: &page, PageSize: &size, Q: &q, Sort: &sort}))(t).Payload
		if len(list) != 1 || list[0].Digest != idx["digest"] || list[0].Type != "IMAGE" || list[0].Size <= 0 {
			t.Errorf("list: %s", dump(list))
		}
	})

	t.Run("artifact tags list", func(t *testing.T) {
		// harbor artifact tags list PROJECT/svc:v2.
		cli(t, "GET "+base+"/v2/tags")
		tags := must(c.Artifact.ListTags(ctx(t), &artifact.ListTagsParams{ProjectName: proj, RepositoryName: "svc", Reference: "v2"}))(t).Payload
		if len(tags) != 1 || tags[0].Name != "v2" || tags[0].Immutable {
			t.Errorf("tags: %s", dump(tags))
		}
	})

	t.Run("artifact delete", func(t *testing.T) {
		// harbor artifact delete PROJECT/svc@DIGEST of the index.
		d := idx["digest"].(string)
		cli(t, "DELETE "+base+"/"+d)
		must(c.Artifact.DeleteArtifact(ctx(t), &artifact.DeleteArtifactParams{ProjectName: proj, RepositoryName: "svc", Reference: d}))(t)
	})
}
