package api

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/rbac"
)

func artifactsPath(project, repo string) string {
	return Prefix + "/projects/" + project + "/repositories/" + url.PathEscape(url.PathEscape(repo)) + "/artifacts"
}

func TestArtifactShapeImage(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	dev := e.user("dev", false)
	e.project("lib", false, map[cred]int{dev: int(rbac.RoleDeveloper)})
	img := e.pushImage("lib/team/app", imageSpec{arch: "amd64", os: "linux",
		labels:      map[string]string{"maintainer": "ops@example.com"},
		annotations: map[string]string{"org.opencontainers.image.source": "https://example.com/app"},
		history: []map[string]any{
			{"created": "2024-05-06T07:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
			{"created": "2024-05-06T07:01:00Z", "created_by": "/bin/sh -c #(nop) CMD [\"/app\"]", "empty_layer": true, "comment": "buildkit"},
		}}, "v1")
	base := artifactsPath("lib", "team/app")

	body := e.expect(200, dev, "GET", base+"/v1", nil)
	a := decode[artifact](t, body)
	wantID := artifactID("lib/team/app", img.Digest)
	if a.ID != wantID || a.Type != "IMAGE" || a.MediaType != "application/vnd.oci.image.config.v1+json" ||
		a.ManifestMediaType != oci.MediaTypeImageManifest || a.ArtifactType != "application/vnd.oci.image.config.v1+json" ||
		a.RepositoryName != "lib/team/app" || a.Digest != string(img.Digest) || a.ProjectID == 0 || a.RepositoryID == 0 ||
		a.RepositoryID != decode[repository](t, e.expect(200, dev, "GET", Prefix+"/projects/lib/repositories/team%252Fapp", nil)).ID {
		t.Fatalf("artifact: %s", body)
	}
	if a.Annotations["org.opencontainers.image.source"] != "https://example.com/app" {
		t.Errorf("annotations: %v", a.Annotations)
	}
	if a.Icon != typeIcons["IMAGE"] || builtInIcons[a.Icon] != "image" {
		t.Errorf("icon %q, want the image icon", a.Icon)
	}
	// extra_attrs as Harbor's image processor makes them: the config's
	// config keeps the OCI fields only; the author comes from a label.
	attrs := a.ExtraAttrs
	cfg, _ := attrs["config"].(map[string]any)
	if attrs["architecture"] != "amd64" || attrs["os"] != "linux" || attrs["author"] != "ops@example.com" ||
		attrs["created"] != "2024-05-06T07:08:09.123456789Z" || cfg == nil || cfg["Hostname"] != nil ||
		!reflect.DeepEqual(cfg["Cmd"], []any{"/app"}) || cfg["ExposedPorts"] == nil {
		t.Errorf("extra_attrs: %v", attrs)
	}
	want := map[string]additionLink{additionBuildHistory: {Href: "/api/v2.0/projects/lib/repositories/team%252Fapp/artifacts/" +
		string(img.Digest) + "/additions/build_history"}}
	if !reflect.DeepEqual(a.AdditionLinks, want) {
		t.Errorf("addition_links: %v", a.AdditionLinks)
	}
	if len(a.Tags) != 1 || a.Tags[0].Name != "v1" || a.Tags[0].ArtifactID != wantID || a.Tags[0].RepositoryID != a.RepositoryID ||
		a.Tags[0].Immutable || a.Tags[0].ID == 0 {
		t.Errorf("tags: %+v", a.Tags)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"labels": "[]", "accessories": "null", "references": "null",
		"pull_time": `"0001-01-01T00:00:00.000Z"`} {
		if string(raw[k]) != v {
			t.Errorf("%s = %s, want %s", k, raw[k], v)
		}
	}
	for _, k := range []string{"scan_overview", "sbom_overview", "inherited_accessories", "signed"} {
		if _, ok := raw[k]; ok {
			t.Errorf("%s is set: %s", k, raw[k])
		}
	}

	// The with_* parameters.
	raw = decode[map[string]json.RawMessage](t, e.expect(200, dev, "GET", base+"/v1?with_tag=false&with_label=true&with_scan_overview=1&with_signature=true&with_immutable_status=true&with_sbom_overview=false", nil))
	if string(raw["tags"]) != "null" {
		t.Errorf("with_tag=false: tags %s", raw["tags"])
	}
	for _, p := range []string{"with_tag=yes please", "with_accessory=2", "with_label=x", "with_scan_overview=on!"} {
		e.expect(400, dev, "GET", base+"/v1?"+strings.ReplaceAll(p, " ", "%20"), nil)
		e.expect(400, dev, "GET", base+"?"+strings.ReplaceAll(p, " ", "%20"), nil)
	}
	list := decode[[]artifact](t, e.expect(200, dev, "GET", base+"?with_tag=false", nil))
	if len(list) != 1 || list[0].Tags != nil || list[0].ExtraAttrs["architecture"] != "amd64" {
		t.Errorf("list: %+v", list)
	}

	// A Docker image config is an image too.
	docker := e.pushImage("lib/docker", imageSpec{arch: "arm64", os: "linux", author: "me",
		configMediaType: "application/vnd.docker.container.image.v1+json"})
	d := decode[artifact](t, e.expect(200, dev, "GET", artifactsPath("lib", "docker")+"/"+string(docker.Digest), nil))
	if d.Type != "IMAGE" || d.ExtraAttrs["author"] != "me" || d.ExtraAttrs["architecture"] != "arm64" {
		t.Errorf("docker image: %+v", d)
	}

	// Without the config's bytes the artifact is still described, without
	// extra_attrs; so is an image pushed without a blob store.
	e.api.opt.Blobs = nil
	a = decode[artifact](t, e.expect(200, dev, "GET", base+"/v1", nil))
	if a.ExtraAttrs != nil || a.Type != "IMAGE" || len(a.AdditionLinks) != 1 {
		t.Errorf("without blobs: %+v", a)
	}
}

func TestArtifactShapeIndex(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	e.project("lib", true, nil)
	amd := e.pushImage("lib/multi", imageSpec{arch: "amd64", os: "linux"})
	arm := e.pushImage("lib/multi", imageSpec{arch: "arm64", os: "linux"})
	win := e.pushImage("lib/multi", imageSpec{arch: "amd64", os: "windows"})
	idx := e.pushIndex("lib/multi", map[platformOf]oci.Descriptor{
		{arch: "amd64", os: "linux"}: amd, {arch: "arm64", os: "linux", variant: "v8"}: arm,
		{arch: "amd64", os: "windows", osVersion: "10.0.17763.1"}: win,
	}, map[string]string{"org.opencontainers.image.version": "1.0"}, "latest")
	base := artifactsPath("lib", "multi")

	// Anonymous callers read a public project; the children are not listed.
	resp, body := e.req(cred{}, "GET", base, nil)
	list := decode[[]artifact](t, body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "1" || len(list) != 1 || list[0].Digest != string(idx.Digest) {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	a := list[0]
	var childSizes int64
	for _, c := range []oci.Descriptor{amd, arm, win} {
		ca := decode[artifact](t, e.expect(200, cred{}, "GET", base+"/"+string(c.Digest), nil))
		childSizes += ca.Size
		found := false
		for _, r := range a.References {
			if r.ChildDigest == string(c.Digest) {
				found = r.ChildID == ca.ID && r.ParentID == a.ID && r.Platform != nil && r.Annotations["child"] == r.Platform.Architecture
			}
		}
		if !found {
			t.Errorf("no reference to %s (id %d) in %+v", c.Digest, ca.ID, a.References)
		}
	}
	if a.Type != "IMAGE" || a.MediaType != oci.MediaTypeImageIndex || a.ArtifactType != "" || a.ExtraAttrs != nil ||
		a.AdditionLinks != nil || len(a.References) != 3 || a.Size != idx.Size+childSizes ||
		a.Annotations["org.opencontainers.image.version"] != "1.0" {
		t.Errorf("index: %s", body)
	}
	// Platform in the property names Harbor sends.
	for _, want := range []string{`"OsVersion":"10.0.17763.1"`, `"OsFeatures":["win32k"]`, `"variant":"v8"`, `"OsFeatures":null`} {
		if !strings.Contains(body, want) {
			t.Errorf("references lack %s: %s", want, body)
		}
	}
}

func TestAccessories(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	dev := e.user("dev", false)
	outsider := e.user("outsider", false)
	e.project("sec", false, map[cred]int{dev: int(rbac.RoleDeveloper)})
	img := e.pushImage("sec/app", imageSpec{arch: "amd64", os: "linux"}, "v1")
	sig := e.pushCosignSig("sec/app", img.Digest)
	notation := e.pushReferrer("sec/app", img, "application/vnd.cncf.notary.signature", "jws")
	sbom := e.pushReferrer("sec/app", img, "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`)
	base := artifactsPath("sec", "app")

	// Accessories are not artifacts of the repository.
	resp, body := e.req(dev, "GET", base, nil)
	if list := decode[[]artifact](t, body); resp.Header.Get("X-Total-Count") != "1" || len(list) != 1 || list[0].Digest != string(img.Digest) {
		t.Fatalf("list: %s %s", resp.Header.Get("X-Total-Count"), body)
	}
	repos := decode[[]repository](t, e.expect(200, dev, "GET", Prefix+"/projects/sec/repositories", nil))
	if len(repos) != 1 || repos[0].ArtifactCount != 1 {
		t.Errorf("repositories: %+v", repos)
	}

	resp, body = e.req(dev, "GET", base+"/v1/accessories", nil)
	accs := decode[[]accessory](t, body)
	types := map[string]string{}
	for _, a := range accs {
		types[a.Digest] = a.Type
		if a.SubjectArtifactDigest != string(img.Digest) || a.SubjectArtifactID != artifactID("sec/app", img.Digest) ||
			a.SubjectArtifactRepo != "sec/app" || a.ArtifactID != artifactID("sec/app", digest.Digest(a.Digest)) || a.Size <= 0 || a.ID == 0 {
			t.Errorf("accessory %+v", a)
		}
		if want := map[string]string{meta.AccessoryCosign: "cosign", meta.AccessoryNotation: "notation"}[a.Type]; builtInIcons[a.Icon] != want {
			t.Errorf("accessory %s: icon %q, want %q's", a.Type, a.Icon, want)
		}
	}
	if resp.Header.Get("X-Total-Count") != "3" || !reflect.DeepEqual(types, map[string]string{string(sig.Digest): meta.AccessoryCosign,
		string(notation.Digest): meta.AccessoryNotation, string(sbom.Digest): meta.AccessorySubject}) {
		t.Fatalf("accessories: %s", body)
	}
	accs = decode[[]accessory](t, e.expect(200, dev, "GET", base+"/v1/accessories?q="+url.QueryEscape("type={signature.cosign signature.notation}")+"&sort=digest", nil))
	if len(accs) != 2 || accs[0].Digest > accs[1].Digest {
		t.Errorf("signatures: %+v", accs)
	}
	resp, _ = e.req(dev, "GET", base+"/"+string(img.Digest)+"/accessories?page_size=1&page=2", nil)
	if !strings.Contains(resp.Header.Get("Link"), `rel="prev"`) || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Errorf("Link %q", resp.Header.Get("Link"))
	}
	e.expect(400, dev, "GET", base+"/v1/accessories?q=tags%3Dx", nil)
	e.expect(400, dev, "GET", base+"/v1/accessories?sort=nosuch", nil)
	e.expect(404, dev, "GET", base+"/v2/accessories", nil)
	e.expect(404, outsider, "GET", base+"/v1/accessories", nil) // a private project: as if missing
	e.expect(404, cred{}, "GET", base+"/v1/accessories", nil)

	// Embedded with with_accessory; an accessory is an artifact by digest.
	a := decode[artifact](t, e.expect(200, dev, "GET", base+"/v1?with_accessory=true", nil))
	if len(a.Accessories) != 3 {
		t.Errorf("with_accessory: %+v", a.Accessories)
	}
	list := decode[[]artifact](t, e.expect(200, dev, "GET", base+"?with_accessory=true", nil))
	if len(list) != 1 || len(list[0].Accessories) != 3 {
		t.Errorf("list with_accessory: %+v", list)
	}
	s := decode[artifact](t, e.expect(200, dev, "GET", base+"/"+string(sig.Digest), nil))
	if s.Type != "IMAGE" || len(s.Tags) != 1 || !strings.HasSuffix(s.Tags[0].Name, ".sig") {
		t.Errorf("signature artifact: %+v", s)
	}
	n := decode[artifact](t, e.expect(200, dev, "GET", base+"/"+string(notation.Digest), nil))
	if n.Type != "UNKNOWN" || n.MediaType != oci.MediaTypeEmptyJSON || n.ArtifactType != "application/vnd.cncf.notary.signature" {
		t.Errorf("notation artifact: %+v", n)
	}

	// A child of a signed index inherits its signature on request.
	child := e.pushImage("sec/multi", imageSpec{arch: "arm64", os: "linux"})
	idx := e.pushIndex("sec/multi", map[platformOf]oci.Descriptor{{arch: "arm64", os: "linux"}: child}, nil, "multi")
	idxSig := e.pushCosignSig("sec/multi", idx.Digest)
	e.pushReferrer("sec/multi", idx, "application/spdx+json", "not a signature")
	mbase := artifactsPath("sec", "multi")
	c := decode[artifact](t, e.expect(200, dev, "GET", mbase+"/"+string(child.Digest)+"?with_inherited_accessory=true", nil))
	if len(c.InheritedAccessories) != 1 || c.InheritedAccessories[0].Digest != string(idxSig.Digest) ||
		c.InheritedAccessories[0].SubjectArtifactDigest != string(idx.Digest) || c.Accessories != nil {
		t.Errorf("inherited: %+v", c)
	}
	// Not for an artifact signed itself.
	e.pushCosignSig("sec/multi", child.Digest)
	c = decode[artifact](t, e.expect(200, dev, "GET", mbase+"/"+string(child.Digest)+"?with_inherited_accessory=true&with_accessory=true", nil))
	if len(c.InheritedAccessories) != 0 || len(c.Accessories) != 1 {
		t.Errorf("inherited by a signed child: %+v", c)
	}

	// Deleting the image leaves its accessories as ordinary artifacts.
	e.expect(200, e.admin, "DELETE", base+"/v1", nil)
	resp, _ = e.req(dev, "GET", base, nil)
	if resp.Header.Get("X-Total-Count") != "3" {
		t.Errorf("after deleting the image: %s artifacts", resp.Header.Get("X-Total-Count"))
	}
}

func TestGetAdditionImage(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	guest := e.user("guest", false)
	e.project("lib", false, map[cred]int{guest: int(rbac.RoleLimitedGuest)})
	e.pushImage("lib/app", imageSpec{arch: "amd64", os: "linux", history: []map[string]any{
		{"created": "2024-05-06T07:00:00Z", "created_by": "ADD rootfs /"},
		{"created": "2024-05-06T07:01:00Z", "created_by": "CMD [\"/app\"]", "empty_layer": true, "comment": "buildkit.dockerfile.v0"},
	}}, "v1")
	e.pushImage("lib/app", imageSpec{arch: "amd64", os: "linux"}, "nohistory")
	base := artifactsPath("lib", "app")

	resp, body := e.req(guest, "GET", base+"/v1/additions/build_history", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("build_history: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	want := `[{"created":"2024-05-06T07:00:00Z","created_by":"ADD rootfs /"},` +
		`{"created":"2024-05-06T07:01:00Z","created_by":"CMD [\"/app\"]","comment":"buildkit.dockerfile.v0","empty_layer":true}]`
	if body != want {
		t.Errorf("build_history:\n got %s\nwant %s", body, want)
	}
	if body := e.expect(200, guest, "GET", base+"/nohistory/additions/BUILD_HISTORY", nil); body != "[]" {
		t.Errorf("build_history of an image without history: %s", body)
	}
	for _, add := range []string{"readme.md", "values.yaml", "dependencies", "sbom", "nosuch"} {
		e.expect(404, guest, "GET", base+"/v1/additions/"+add, nil)
	}
	e.expect(404, guest, "GET", base+"/v9/additions/build_history", nil)
	e.expect(404, cred{}, "GET", base+"/v1/additions/build_history", nil)

	// A config the blob store lacks: 404, not a 500.
	e.api.opt.Blobs = nil
	e.expect(404, guest, "GET", base+"/v1/additions/build_history", nil)
}

func TestChartAdditions(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	e.project("charts", true, nil)
	values := "replicaCount: 1\nimage:\n  repository: nginx\n"
	readme := "# My chart\n\nIt deploys nginx.\n"
	chartYAML := `apiVersion: v2
name: web
version: 1.2.3
appVersion: "1.25"
dependencies:
  - name: redis
    version: "~17.0"
    repository: https://charts.example.com
    condition: redis.enabled
    tags: [cache]
    import-values:
      - child: default.data
        parent: myimports
`
	archive := chartTgz(t, "web", map[string]string{"Chart.yaml": chartYAML, "values.yaml": values, "README.md": readme,
		"templates/deployment.yaml": "kind: Deployment\n", "charts/redis/values.yaml": "not: this one\n"})
	chartMeta := map[string]any{"apiVersion": "v2", "name": "web", "version": "1.2.3", "appVersion": "1.25",
		"description": "A web server", "dependencies": []map[string]any{{"name": "redis", "version": "~17.0"}}}
	chart := e.pushChart("charts/web", chartMeta, archive, "1.2.3")
	base := artifactsPath("charts", "web")

	a := decode[artifact](t, e.expect(200, cred{}, "GET", base+"/1.2.3", nil))
	if a.Type != "CHART" || a.MediaType != mtHelmConfig || a.ExtraAttrs["name"] != "web" || a.ExtraAttrs["version"] != "1.2.3" ||
		a.ExtraAttrs["description"] != "A web server" || len(a.AdditionLinks) != 3 ||
		a.AdditionLinks[additionValues].Href != "/api/v2.0/projects/charts/repositories/web/artifacts/"+string(chart.Digest)+"/additions/values.yaml" {
		t.Fatalf("chart: %+v", a)
	}
	check := func(addition, contentType, want string) {
		t.Helper()
		resp, body := e.req(cred{}, "GET", base+"/1.2.3/additions/"+addition, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != contentType || body != want {
			t.Errorf("%s: %d %s %q, want %q", addition, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
	}
	check("values.yaml", "text/plain; charset=utf-8", values)
	check("readme.md", "text/markdown; charset=utf-8", readme)
	check("dependencies", "application/json; charset=utf-8",
		`[{"name":"redis","version":"~17.0","repository":"https://charts.example.com","condition":"redis.enabled","tags":["cache"],"import-values":[{"child":"default.data","parent":"myimports"}]}]`)
	e.expect(404, cred{}, "GET", base+"/1.2.3/additions/build_history", nil)

	// apiVersion v1: dependencies from requirements.yaml; no README: empty,
	// as Harbor answers; a README in another case is found.
	v1 := chartTgz(t, "old", map[string]string{"Chart.yaml": "apiVersion: v1\nname: old\nversion: 0.1.0\n",
		"requirements.yaml": "dependencies:\n- name: mysql\n  version: 1.x\n  repository: '@stable'\n", "values.yaml": "a: b\n"})
	e.pushChart("charts/old", map[string]any{"apiVersion": "v1", "name": "old", "version": "0.1.0"}, v1, "0.1.0")
	obase := artifactsPath("charts", "old")
	if body := e.expect(200, cred{}, "GET", obase+"/0.1.0/additions/dependencies", nil); body != `[{"name":"mysql","version":"1.x","repository":"@stable"}]` {
		t.Errorf("v1 dependencies: %s", body)
	}
	if body := e.expect(200, cred{}, "GET", obase+"/0.1.0/additions/readme.md", nil); body != "" {
		t.Errorf("missing readme: %q", body)
	}
	nodeps := chartTgz(t, "x", map[string]string{"Chart.yaml": "apiVersion: v2\nname: x\nversion: 1.0.0\n", "readme.MD": "hi"})
	e.pushChart("charts/x", map[string]any{"apiVersion": "v2", "name": "x", "version": "1.0.0"}, nodeps, "1")
	if body := e.expect(200, cred{}, "GET", artifactsPath("charts", "x")+"/1/additions/dependencies", nil); body != "[]" {
		t.Errorf("no dependencies: %s", body)
	}
	if body := e.expect(200, cred{}, "GET", artifactsPath("charts", "x")+"/1/additions/readme.md", nil); body != "hi" {
		t.Errorf("readme.MD: %q", body)
	}

	// Bounded: a values.yaml over the per-file bound, or an archive that
	// unpacks past the total bound (a few KiB of gzip), is 422, not read.
	zeros := string(bytes.Repeat([]byte{0}, maxChartFile+1))
	e.pushChart("charts/big", chartMeta, chartTgz(t, "big", map[string]string{"values.yaml": zeros}), "1")
	e.expect(422, cred{}, "GET", artifactsPath("charts", "big")+"/1/additions/values.yaml", nil)
	bomb := chartTgz(t, "bomb", map[string]string{"templates/a.yaml": strings.Repeat("x", maxChartUnpacked), "values.yaml": "a: b\n"})
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes packed", len(bomb))
	}
	e.pushChart("charts/bomb", chartMeta, bomb, "1")
	e.expect(422, cred{}, "GET", artifactsPath("charts", "bomb")+"/1/additions/values.yaml", nil)
	// Not gzip at all.
	e.pushChart("charts/junk", chartMeta, []byte("not a tgz"), "1")
	e.expect(422, cred{}, "GET", artifactsPath("charts", "junk")+"/1/additions/readme.md", nil)
}

func TestCopyArtifact(t *testing.T) {
	e := newEnv(t)
	withBlobs(e)
	dev := e.user("dev", false)
	guest := e.user("guest", false)
	outsider := e.user("outsider", false)
	e.project("src", false, map[cred]int{dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleGuest), outsider: int(rbac.RoleGuest)})
	e.project("dst", false, map[cred]int{dev: int(rbac.RoleDeveloper), guest: int(rbac.RoleGuest)})
	e.project("hidden", false, nil)
	e.project("pub", true, nil)
	amd := e.pushImage("src/app", imageSpec{arch: "amd64", os: "linux"})
	idx := e.pushIndex("src/app", map[platformOf]oci.Descriptor{{arch: "amd64", os: "linux"}: amd}, nil, "v1", "stable")
	sig := e.pushCosignSig("src/app", idx.Digest)
	hiddenImg := e.pushImage("hidden/app", imageSpec{arch: "amd64", os: "linux"}, "v1")
	copyTo := func(c cred, status int, project, repo, from string) string {
		t.Helper()
		resp, body := e.req(c, "POST", artifactsPath(project, repo)+"?from="+url.QueryEscape(from), nil)
		if resp.StatusCode != status {
			t.Fatalf("copy %s to %s/%s as %q: %d %s, want %d", from, project, repo, c.user, resp.StatusCode, body, status)
		}
		if status == 201 {
			return resp.Header.Get("Location")
		}
		return body
	}

	loc := copyTo(dev, 201, "dst", "app", "src/app:v1")
	if loc != "/api/v2.0/projects/dst/repositories/app/artifacts/v1" {
		t.Errorf("Location %q", loc)
	}
	a := decode[artifact](t, e.expect(200, dev, "GET", loc+"?with_accessory=true", nil))
	if a.Digest != string(idx.Digest) || len(a.Tags) != 2 || len(a.References) != 1 || len(a.Accessories) != 1 ||
		a.Accessories[0].Digest != string(sig.Digest) || a.RepositoryName != "dst/app" {
		t.Fatalf("the copy: %+v", a)
	}
	e.expect(200, dev, "GET", artifactsPath("dst", "app")+"/"+string(amd.Digest), nil)
	if list := decode[[]artifact](t, e.expect(200, dev, "GET", artifactsPath("dst", "app"), nil)); len(list) != 1 {
		t.Errorf("destination lists %d artifacts", len(list))
	}
	// Copied blobs are readable there (the build history of the child).
	e.expect(200, dev, "GET", artifactsPath("dst", "app")+"/"+string(amd.Digest)+"/additions/build_history", nil)
	logs := e.expect(200, dev, "GET", Prefix+"/projects/dst/logs?q="+url.QueryEscape("operation=push,resource_type=artifact"), nil)
	if got := decode[[]auditLog](t, logs); len(got) != 1 || got[0].Resource != "dst/app@"+string(idx.Digest) || got[0].Username != "dev" {
		t.Errorf("audit: %s", logs)
	}

	// By digest, into a nested repository of a public project (admin).
	loc = copyTo(e.admin, 201, "pub", "team/app", "src/app@"+string(amd.Digest))
	if loc != "/api/v2.0/projects/pub/repositories/team%252Fapp/artifacts/"+string(amd.Digest) {
		t.Errorf("Location %q", loc)
	}
	e.expect(200, cred{}, "GET", loc, nil)
	// Again: the same answer.
	copyTo(dev, 201, "dst", "app", "src/app:v1")

	for _, from := range []string{"", "app", "src/app", "src/app:", "src/app:bad tag", "src/app@sha256:zz", "src/App:v1", "src/app:v1@nope"} {
		copyTo(dev, 400, "dst", "other", from)
	}
	notFound := copyTo(dev, 404, "dst", "other", "src/app:nosuch")
	hidden := copyTo(dev, 404, "dst", "other", "hidden/app:v1")
	missing := copyTo(dev, 404, "dst", "other", "nosuch/app:v1")
	for _, body := range []string{notFound, hidden, missing} {
		if errs := decode[harborErrors](t, body); len(errs.Errors) != 1 || errs.Errors[0].Code != "NOT_FOUND" ||
			!strings.Contains(errs.Errors[0].Message, "not found") || strings.Contains(errs.Errors[0].Message, "hidden/app@") {
			t.Errorf("404 body: %s", body)
		}
	}
	copyTo(e.admin, 201, "dst", "fromhidden", "hidden/app@"+string(hiddenImg.Digest))
	copyTo(guest, 403, "dst", "other", "src/app:v1")    // no push in dst
	copyTo(outsider, 404, "dst", "other", "src/app:v1") // dst is not visible
	copyTo(cred{}, 401, "pub", "other", "src/app:v1")
	sigErr := copyTo(dev, 403, "dst", "other", "src/app@"+string(sig.Digest))
	if !strings.Contains(sigErr, `"code":"DENIED"`) {
		t.Errorf("copying an accessory: %s", sigErr)
	}

	// A source that lost a blob: 409, and nothing of the copy is left.
	e.pushImage("src/broken", imageSpec{arch: "amd64", os: "linux"}, "v1")
	m, err := e.store.GetManifest(e.ctx, "src/broken", "v1", true)
	if err != nil {
		t.Fatal(err)
	}
	var doc manifestDoc
	if err := json.Unmarshal(m.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UnlinkBlob(e.ctx, "src/broken", doc.Layers[0].Digest); err != nil {
		t.Fatal(err)
	}
	copyTo(dev, 409, "dst", "broken", "src/broken:v1")
	e.expect(404, dev, "GET", Prefix+"/projects/dst/repositories/broken", nil)
}

// TestListArtifactsInChunks: a list longer than a chunk of artifactsJSON
// (page_size=0) keeps the store's order and describes every artifact.
func TestListArtifactsInChunks(t *testing.T) {
	e := newEnv(t)
	e.project("many", true, nil)
	want := map[string]bool{}
	for i := range artifactChunk + 5 {
		want[string(e.push("many/app", "t"+strconv.Itoa(i)))] = true
	}
	resp, body := e.req(cred{}, "GET", artifactsPath("many", "app")+"?page_size=0", nil)
	list := decode[[]artifact](t, body)
	if resp.Header.Get("X-Total-Count") != strconv.Itoa(artifactChunk+5) || len(list) != artifactChunk+5 {
		t.Fatalf("%s artifacts, %d listed", resp.Header.Get("X-Total-Count"), len(list))
	}
	for i, a := range list {
		if !want[a.Digest] || len(a.Tags) != 1 || a.Type != "IMAGE" || i > 0 && time.Time(a.PushTime).After(time.Time(list[i-1].PushTime)) {
			t.Fatalf("artifact %d: %+v", i, a)
		}
		delete(want, a.Digest)
	}
}

// TestDeleteChildArtifact: an index's child is refused as Harbor refuses
// it (412 VIOLATE_FOREIGN_KEY_CONSTRAINT "the deleting artifact is
// referenced by others"), tagged or not, and the index stays whole; once
// its index is gone it may be deleted.
func TestDeleteChildArtifact(t *testing.T) {
	e := newEnv(t)
	dev := e.user("dev", false)
	e.project("lib", false, map[cred]int{dev: int(rbac.RoleMaintainer)})
	c1, c2 := e.push("lib/app"), e.push("lib/app", "c2")
	idx := e.pushIndexOf("lib/app", []digest.Digest{c1, c2}, "multi")
	arts := artifactsPath("lib", "app")
	for _, ref := range []string{string(c1), string(c2), "c2"} {
		e.errorNames(412, dev, "DELETE", arts+"/"+ref, nil, "the deleting artifact is referenced by others")
		if errs := decode[harborErrors](t, e.expect(412, dev, "DELETE", arts+"/"+ref, nil)); errs.Errors[0].Code != "VIOLATE_FOREIGN_KEY_CONSTRAINT" {
			t.Errorf("%s: code %+v", ref, errs)
		}
	}
	for _, d := range []digest.Digest{c1, c2, idx} {
		if _, err := e.store.GetManifest(e.ctx, "lib/app", string(d), false); err != nil {
			t.Fatalf("%s after refused deletes: %v", d, err)
		}
	}
	if got := e.auditResources("delete", "artifact"); len(got) != 0 {
		t.Errorf("refused deletes audited: %v", got)
	}
	e.expect(200, dev, "DELETE", arts+"/multi", nil)
	e.expect(200, dev, "DELETE", arts+"/"+string(c1), nil)
	e.expect(200, dev, "DELETE", arts+"/c2", nil)
}
