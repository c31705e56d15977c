package harborapi

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/test/distserver"
)

// TestProxyCacheProject: a proxy-cache project of the reference registry
// (basic auth) created through Harbor's client, pulled through with
// berth's auth on: the index digest is the upstream's, pushes are 403,
// anonymous pulls of the private project are refused, and once the
// upstream is gone what was cached is still served while what was not
// fails at once.
func TestProxyCacheProject(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{User: "up", Password: "up-secret"})
	upAuth := remote.WithAuth(&authn.Basic{Username: "up", Password: "up-secret"})
	idx := v1.ImageIndex(mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	upRef := func(s string) name.Reference {
		r, err := name.ParseReference(dist.Addr()+"/"+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := remote.WriteIndex(upRef("lib/multi:v1"), idx, upAuth); err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(upRef("lib/other:v1"), other, upAuth); err != nil {
		t.Fatal(err)
	}

	reg := &models.Registry{Name: unique("upstream"), Type: "docker-registry", URL: dist.URL(),
		Credential: &models.RegistryCredential{Type: "basic", AccessKey: "up", AccessSecret: "up-secret"}}
	id := idAfter(t, must(c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(reg)))(t).Location,
		"/api/v2.0/registries/")
	name_ := unique("cache")
	speed := "-1"
	must(c.Project.CreateProject(ctx(t), project.NewCreateProjectParams().WithProject(&models.ProjectReq{
		ProjectName: name_, RegistryID: &id, Metadata: &models.ProjectMetadata{Public: "false", ProxySpeedKb: &speed}})))(t)
	p := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(name_)))(t).Payload
	if p.RegistryID != id || p.Metadata == nil || p.Metadata.RetentionID == nil || *p.Metadata.RetentionID == "" {
		t.Fatalf("proxy-cache project: %s", dump(p))
	}

	if _, err := c.Registry.DeleteRegistry(ctx(t), registry.NewDeleteRegistryParams().WithID(id)); !isStatus(err, 412) {
		t.Errorf("delete of a proxy-cache project's registry: %v, want 412", err)
	}

	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword})
	berthRef := func(s string) name.Reference {
		r, err := name.ParseReference(server(t).Addr+"/"+name_+"/"+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	opts := []remote.Option{admin, remote.WithTransport(loopback), remote.WithContext(ctx(t))}
	img, err := remote.Image(berthRef("lib/multi:v1"), append(opts, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))...)
	if err != nil {
		t.Fatalf("pull through the proxy cache: %v", err)
	}
	layers, _ := img.Layers()
	if _, err := layers[0].Compressed(); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(berthRef("lib/multi:v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.RawManifest()
	if !bytes.Equal(desc.Manifest, want) {
		t.Fatalf("index through berth differs from the upstream's")
	}

	var te *transport.Error
	if err := remote.Write(berthRef("lib/mine:v1"), other, opts...); !errors.As(err, &te) || te.StatusCode != http.StatusForbidden {
		t.Errorf("push into a proxy-cache project: %v, want 403", err)
	}
	if _, err := remote.Get(berthRef("lib/multi:v1"), remote.WithTransport(loopback), remote.WithContext(ctx(t))); !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous pull of a private proxy-cache project: %v, want 401", err)
	}

	dist.Kill()
	if _, err := remote.Get(berthRef("lib/multi:v1"), opts...); err != nil {
		t.Errorf("cached index with the upstream gone: %v", err)
	}
	start := time.Now()
	_, err = remote.Get(berthRef("lib/other:v1"), append(opts, remote.WithRetryBackoff(remote.Backoff{Steps: 1}))...)
	if took := time.Since(start); !errors.As(err, &te) || te.StatusCode != http.StatusServiceUnavailable || took > 5*time.Second {
		t.Errorf("uncached with the upstream gone: %v after %s, want 503 at once", err, took)
	}
}
