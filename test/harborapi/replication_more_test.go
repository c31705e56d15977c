package harborapi

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/test/distserver"
)

// newRegistry saves a registry endpoint and returns its id.
func newRegistry(t testing.TB, c harborClient, typ, u, user, password string) int64 {
	t.Helper()
	r := &models.Registry{Name: unique("reg"), Type: typ, URL: u}
	if user != "" {
		r.Credential = &models.RegistryCredential{Type: "basic", AccessKey: user, AccessSecret: password}
	}
	return idAfter(t, must(c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(r)))(t).Location,
		"/api/v2.0/registries/")
}

// newPolicy saves a policy and returns its id.
func newPolicy(t testing.TB, c harborClient, p *models.ReplicationPolicy) int64 {
	t.Helper()
	p.Name, p.Enabled = unique("policy"), true
	return idAfter(t, must(c.Replication.CreateReplicationPolicy(ctx(t), replication.NewCreateReplicationPolicyParams().
		WithPolicy(p)))(t).Location, "/api/v2.0/replication/policies/")
}

// awaitFor polls cond every 100ms up to d.
func awaitFor(t testing.TB, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	var state string
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
	}
	t.Fatalf("still, after %s: %s", d, state)
}

// TestReplicationEvents: an event_based push-mode policy copies pushes
// whose tags pass its filter, and deletes at the destination what is
// deleted in berth (replicate_deletion).
func TestReplicationEvents(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{User: "dist", Password: "dist-secret"})
	regID := newRegistry(t, c, "docker-registry", dist.URL(), "dist", "dist-secret")
	proj := newProject(t, c)
	zero := int8(0)
	newPolicy(t, c, &models.ReplicationPolicy{DestRegistry: &models.Registry{ID: regID}, DestNamespace: "events",
		DestNamespaceReplaceCount: &zero, ReplicateDeletion: true, Override: true,
		Trigger: &models.ReplicationTrigger{Type: "event_based"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/**"}, {Type: "tag", Value: "rel-*"}}})
	rel1 := pushImage(t, proj+"/app", "rel-1")
	dev := pushImage(t, proj+"/app", "dev-1")
	awaitFor(t, 30*time.Second, func() (bool, string) {
		got := distHead(t, dist, "events/"+proj+"/app:rel-1")
		return got == rel1, "rel-1 at the destination: " + got
	})
	rel2 := pushImage(t, proj+"/app", "rel-2")
	awaitFor(t, 30*time.Second, func() (bool, string) {
		got := distHead(t, dist, "events/"+proj+"/app:rel-2")
		return got == rel2, "rel-2 at the destination: " + got
	})
	if got := distHead(t, dist, "events/"+proj+"/app@"+dev); got != "" {
		t.Errorf("dev-1 was copied despite the tag filter")
	}
	must(c.Artifact.DeleteArtifact(ctx(t), &artifact.DeleteArtifactParams{ProjectName: proj, RepositoryName: "app", Reference: rel1}))(t)
	awaitFor(t, 30*time.Second, func() (bool, string) {
		got := distHead(t, dist, "events/"+proj+"/app@"+rel1)
		return got == "", "rel-1 still at the destination"
	})
	trig := "event_based"
	execs := must(c.Replication.ListReplicationExecutions(ctx(t), replication.NewListReplicationExecutionsParams().WithTrigger(&trig)))(t).Payload
	if len(execs) < 3 {
		t.Errorf("event executions: %s", dump(execs))
	}
}

// TestReplicationOverrideOff: a tag the destination has on another
// digest is left as it is.
func TestReplicationOverrideOff(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{})
	theirs, _ := random.Image(128, 1)
	if err := remote.Write(distRef(t, dist, "ov/app:t"), theirs, remote.WithTransport(loopback)); err != nil {
		t.Fatal(err)
	}
	theirDigest, _ := theirs.Digest()
	regID := newRegistry(t, c, "docker-registry", dist.URL(), "", "")
	proj := newProject(t, c)
	ours := pushImage(t, proj+"/app", "t")
	other := pushImage(t, proj+"/app", "u")
	id := newPolicy(t, c, &models.ReplicationPolicy{DestRegistry: &models.Registry{ID: regID}, DestNamespace: "ov",
		Trigger: &models.ReplicationTrigger{Type: "manual"}, Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/app"}}})
	if x := runPolicy(t, c, id); x.Status != "Succeed" {
		t.Fatalf("execution: %s", dump(x))
	}
	if got := distHead(t, dist, "ov/app:t"); got != theirDigest.String() {
		t.Errorf("ov/app:t is %s, want theirs %s (override off; ours %s)", got, theirDigest, ours)
	}
	if got := distHead(t, dist, "ov/app:u"); got != other {
		t.Errorf("ov/app:u is %q, want %s", got, other)
	}
}

// TestReplicationHarborPeer: berth as a harbor-type registry (its API
// lists projects and repositories) in pull mode, and the platform
// filter, which trims an index only when asked.
func TestReplicationHarborPeer(t *testing.T) {
	c := client(t)
	regID := newRegistry(t, c, "harbor", server(t).URL, "admin", adminPassword)
	proj := newProject(t, c)
	img := pushImage(t, proj+"/svc", "v1")
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, pl := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "windows", Architecture: "amd64"}} {
		child, _ := random.Image(128, 1)
		child = mutate.MediaType(child, types.OCIManifestSchema1)
		child = mutate.ConfigMediaType(child, types.OCIConfigJSON)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: child, Descriptor: v1.Descriptor{Platform: &pl}})
	}
	berthWrite(t, proj+"/svc:multi", idx)
	full, _ := idx.Digest()

	into := unique("peer")
	one := int8(1)
	// An event_based push policy on the pull's destination: the pull's
	// writes are berth's own (Internal events) and must not start it.
	watch := newPolicy(t, c, &models.ReplicationPolicy{DestRegistry: &models.Registry{ID: regID}, DestNamespace: "never",
		Trigger: &models.ReplicationTrigger{Type: "event_based"}, Filters: []*models.ReplicationFilter{{Type: "name", Value: into + "/**"}}})
	id := newPolicy(t, c, &models.ReplicationPolicy{SrcRegistry: &models.Registry{ID: regID}, DestNamespace: into,
		DestNamespaceReplaceCount: &one, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/**"}}})
	if x := runPolicy(t, c, id); x.Status != "Succeed" {
		t.Fatalf("execution: %s", dump(x))
	}
	if got := berthHead(t, into+"/svc:v1"); got != img {
		t.Errorf("v1 through the harbor adapter: %q, want %s", got, img)
	}
	if got := berthHead(t, into+"/svc:multi"); got != full.String() {
		t.Errorf("multi: %q, want the index unchanged %s", got, full)
	}
	time.Sleep(2 * time.Second) // events are matched off the request path
	if execs := must(c.Replication.ListReplicationExecutions(ctx(t), replication.NewListReplicationExecutionsParams().
		WithPolicyID(&watch)))(t).Payload; len(execs) != 0 {
		t.Errorf("a pull-mode copy started an event_based policy: %s", dump(execs))
	}
	// The label filter, through the harbor adapter's artifact listing.
	approved := unique("approved")
	lid := newLabel(t, c, &models.Label{Name: approved, Scope: "g"})
	must(c.Artifact.AddLabel(ctx(t), artifact.NewAddLabelParams().WithProjectName(proj).WithRepositoryName("svc").
		WithReference("v1").WithLabel(&models.Label{ID: lid})))(t)
	labelled := unique("labelled")
	id = newPolicy(t, c, &models.ReplicationPolicy{SrcRegistry: &models.Registry{ID: regID}, DestNamespace: labelled,
		DestNamespaceReplaceCount: &one, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/**"}, {Type: "label", Value: []string{approved}, Decoration: "matches"}}})
	if x := runPolicy(t, c, id); x.Status != "Succeed" {
		t.Fatalf("execution: %s", dump(x))
	}
	if got, other := berthHead(t, labelled+"/svc:v1"), berthHead(t, labelled+"/svc:multi"); got != img || other != "" {
		t.Errorf("label filter: v1 %q (want %s), multi %q (want none)", got, img, other)
	}

	trimmed := unique("trim")
	id = newPolicy(t, c, &models.ReplicationPolicy{SrcRegistry: &models.Registry{ID: regID}, DestNamespace: trimmed,
		DestNamespaceReplaceCount: &one, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/**"}, {Type: "tag", Value: "multi"},
			{Type: "platform", Value: "linux/amd64,linux/arm64"}}})
	if x := runPolicy(t, c, id); x.Status != "Succeed" {
		t.Fatalf("execution: %s", dump(x))
	}
	r, err := name.ParseReference(server(t).Addr+"/"+trimmed+"/svc:multi", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(r, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}), remote.WithTransport(loopback))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := got.IndexManifest()
	if d, _ := got.Digest(); d == full || len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "amd64" || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Errorf("trimmed index %s: %s", d, dump(m))
	}
}

// TestReplicationRateLimited: a destination behind a proxy that answers
// 429 with Retry-After: 1 to its first blob requests is still written,
// after waiting as it asked.
func TestReplicationRateLimited(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{})
	target, _ := url.Parse(dist.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refused atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") && refused.Add(1) <= 3 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	regID := newRegistry(t, c, "docker-registry", front.URL, "", "")
	proj := newProject(t, c)
	img := pushImage(t, proj+"/app", "v1")
	id := newPolicy(t, c, &models.ReplicationPolicy{DestRegistry: &models.Registry{ID: regID}, DestNamespace: "rl",
		Trigger: &models.ReplicationTrigger{Type: "manual"}, Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/app"}}})
	start := time.Now()
	x := runPolicy(t, c, id)
	if x.Status != "Succeed" || refused.Load() < 3 {
		t.Fatalf("execution after %d refusals: %s", refused.Load(), dump(x))
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the run took %s: it did not wait as Retry-After said", d)
	}
	if got := distHead(t, dist, "rl/app:v1"); got != img {
		t.Errorf("rl/app:v1 = %q, want %s", got, img)
	}
}

// TestReplicationUpstreamKilled: the source dies in the middle of a
// (speed-limited) pull: the execution fails, retried in vain, and
// nothing of it is tagged in berth.
func TestReplicationUpstreamKilled(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{})
	// Larger than loopback's socket buffers (a few MiB), or the source's
	// death would not cut the transfer.
	big, _ := random.Image(12<<20, 1)
	if err := remote.Write(distRef(t, dist, "up/big:v1"), big, remote.WithTransport(loopback)); err != nil {
		t.Fatal(err)
	}
	regID := newRegistry(t, c, "docker-registry", dist.URL(), "", "")
	into := unique("killed")
	speed := int32(1024)
	zero := int8(0)
	id := newPolicy(t, c, &models.ReplicationPolicy{SrcRegistry: &models.Registry{ID: regID}, DestNamespace: into,
		DestNamespaceReplaceCount: &zero, Speed: &speed, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: "up/**"}}})
	loc := must(c.Replication.StartReplication(ctx(t), replication.NewStartReplicationParams().
		WithExecution(&models.StartReplicationExecution{PolicyID: id})))(t).Location
	eid := idAfter(t, loc, "/api/v2.0/replication/executions/")
	awaitFor(t, 20*time.Second, func() (bool, string) {
		x := must(c.Replication.GetReplicationExecution(ctx(t), replication.NewGetReplicationExecutionParams().WithID(eid)))(t).Payload
		return x.InProgress > 0 && x.Total == 1, dump(x)
	})
	time.Sleep(2 * time.Second) // mid-copy: 12 MiB at 1 MB/s takes 12s
	dist.Kill()
	var x *models.ReplicationExecution
	awaitFor(t, 60*time.Second, func() (bool, string) {
		x = must(c.Replication.GetReplicationExecution(ctx(t), replication.NewGetReplicationExecutionParams().WithID(eid)))(t).Payload
		return x.Status != "InProgress", dump(x)
	})
	if x.Status != "Failed" || x.Failed != 1 {
		t.Errorf("execution: %s", dump(x))
	}
	if got := berthHead(t, into+"/up/big:v1"); got != "" {
		t.Errorf("a partial copy is tagged in berth: %s", got)
	}
	tasks := must(c.Replication.ListReplicationTasks(ctx(t), replication.NewListReplicationTasksParams().WithID(eid)))(t).Payload
	log := must(c.Replication.GetReplicationLog(ctx(t), replication.NewGetReplicationLogParams().WithID(eid).WithTaskID(tasks[0].ID)))(t).Payload
	if !strings.Contains(log, "retrying") || !strings.Contains(log, "failed") {
		t.Errorf("task log:\n%s", log)
	}
}
