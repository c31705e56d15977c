package harborapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/repository"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/test/distserver"
)

// TestRegistries: Harbor's registry operations through its client, with
// the reference registry (basic auth) as a docker-registry endpoint and
// berth itself as a harbor one: the secret is never shown, a ping checks
// the credential, a registry in use cannot go (see the replication tests).
func TestRegistries(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{User: "dist", Password: "dist-secret"})
	types := must(c.Registry.ListRegistryProviderTypes(ctx(t), registry.NewListRegistryProviderTypesParams()))(t).Payload
	if strings.Join(types, ",") != "docker-hub,docker-registry,harbor" {
		t.Errorf("adapters: %v", types)
	}
	infos := must(c.Registry.ListRegistryProviderInfos(ctx(t), registry.NewListRegistryProviderInfosParams()))(t).Payload
	if hub := infos["docker-hub"]; hub.EndpointPattern == nil || hub.EndpointPattern.Endpoints[0].Value != "https://hub.docker.com" {
		t.Errorf("adapter infos: %s", dump(infos))
	}

	name := unique("dist")
	reg := &models.Registry{Name: name, Type: "docker-registry", URL: dist.URL(), Description: "reference registry",
		Credential: &models.RegistryCredential{Type: "basic", AccessKey: "dist", AccessSecret: "dist-secret"}}
	created := must(c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(reg)))(t)
	id := idAfter(t, created.Location, "/api/v2.0/registries/")
	if _, err := c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(reg)); !isStatus(err, 409) {
		t.Errorf("same name again: %v, want 409", err)
	}
	bad := &models.Registry{Name: unique("bad"), Type: "quay-nope", URL: dist.URL()}
	if _, err := c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(bad)); !isStatus(err, 400) {
		t.Errorf("unknown type: %v, want 400", err)
	}

	got := must(c.Registry.GetRegistry(ctx(t), registry.NewGetRegistryParams().WithID(id)))(t).Payload
	if got.Name != name || got.URL != dist.URL() || got.Credential == nil || got.Credential.AccessKey != "dist" ||
		got.Credential.AccessSecret != "*****" || got.Type != "docker-registry" {
		t.Errorf("get: %s", dump(got))
	}
	q := "name=" + name
	list := must(c.Registry.ListRegistries(ctx(t), registry.NewListRegistriesParams().WithQ(&q)))(t)
	if len(list.Payload) != 1 || list.Payload[0].ID != id || list.Payload[0].Credential.AccessSecret != "*****" {
		t.Errorf("list: %s", dump(list.Payload))
	}

	// A ping of the saved registry checks its stored credential and
	// records its status; a wrong password is 400 with the reason.
	must(c.Registry.PingRegistry(ctx(t), registry.NewPingRegistryParams().WithRegistry(&models.RegistryPing{ID: &id})))(t)
	got = must(c.Registry.GetRegistry(ctx(t), registry.NewGetRegistryParams().WithID(id)))(t).Payload
	if got.Status != "healthy" {
		t.Errorf("status after a ping: %q", got.Status)
	}
	wrong := "wrong"
	if _, err := c.Registry.PingRegistry(ctx(t), registry.NewPingRegistryParams().
		WithRegistry(&models.RegistryPing{ID: &id, AccessSecret: &wrong})); !isStatus(err, 400) {
		t.Errorf("ping with a wrong secret: %v, want 400", err)
	}
	typ, u := "docker-registry", dist.URL()
	if _, err := c.Registry.PingRegistry(ctx(t), registry.NewPingRegistryParams().
		WithRegistry(&models.RegistryPing{Type: &typ, URL: &u})); !isStatus(err, 400) {
		t.Errorf("anonymous ping of a registry that wants a password: %v, want 400", err)
	}

	desc := "changed"
	must(c.Registry.UpdateRegistry(ctx(t), registry.NewUpdateRegistryParams().WithID(id).
		WithRegistry(&models.RegistryUpdate{Description: &desc})))(t)
	got = must(c.Registry.GetRegistry(ctx(t), registry.NewGetRegistryParams().WithID(id)))(t).Payload
	if got.Description != "changed" || got.Credential.AccessSecret != "*****" {
		t.Errorf("after update: %s", dump(got))
	}
	// The secret was kept through the update: the ping still passes.
	must(c.Registry.PingRegistry(ctx(t), registry.NewPingRegistryParams().WithRegistry(&models.RegistryPing{ID: &id})))(t)

	info := must(c.Registry.GetRegistryInfo(ctx(t), registry.NewGetRegistryInfoParams().WithID(id)))(t).Payload
	if info.Type != "docker-registry" || len(info.SupportedTriggers) != 3 || len(info.SupportedResourceFilters) < 2 {
		t.Errorf("info: %s", dump(info))
	}

	// berth as a harbor endpoint: its API answers, with the
	// administrator's credential.
	self := &models.Registry{Name: unique("self"), Type: "harbor", URL: server(t).URL,
		Credential: &models.RegistryCredential{Type: "basic", AccessKey: "admin", AccessSecret: adminPassword}}
	selfID := idAfter(t, must(c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(self)))(t).Location,
		"/api/v2.0/registries/")
	must(c.Registry.PingRegistry(ctx(t), registry.NewPingRegistryParams().WithRegistry(&models.RegistryPing{ID: &selfID})))(t)

	must(c.Registry.DeleteRegistry(ctx(t), registry.NewDeleteRegistryParams().WithID(id)))(t)
	must(c.Registry.DeleteRegistry(ctx(t), registry.NewDeleteRegistryParams().WithID(selfID)))(t)
	if _, err := c.Registry.GetRegistry(ctx(t), registry.NewGetRegistryParams().WithID(id)); !isStatus(err, 404) {
		t.Errorf("deleted: %v, want 404", err)
	}
}

// distRef is a reference at the reference registry.
func distRef(t testing.TB, dist *distserver.Server, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(dist.Addr()+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// distHead is the digest of ref at dist ("" if absent).
func distHead(t testing.TB, dist *distserver.Server, ref string) string {
	t.Helper()
	d, err := remote.Head(distRef(t, dist, ref), remote.WithAuth(&authn.Basic{Username: "dist", Password: "dist-secret"}),
		remote.WithTransport(loopback), remote.WithContext(ctx(t)))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// berthWrite pushes a Taggable to berth as the administrator.
func berthWrite(t testing.TB, ref string, v remote.Taggable) {
	t.Helper()
	r, err := name.ParseReference(server(t).Addr+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Push(r, v, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
		remote.WithTransport(loopback), remote.WithContext(ctx(t))); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// berthHead is the digest of ref at berth ("" if absent).
func berthHead(t testing.TB, ref string) string {
	t.Helper()
	r, err := name.ParseReference(server(t).Addr+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}),
		remote.WithTransport(loopback), remote.WithContext(ctx(t)))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// runPolicy starts policy id and waits for its execution to end; it
// returns the execution.
func runPolicy(t testing.TB, c harborClient, id int64) *models.ReplicationExecution {
	t.Helper()
	loc := must(c.Replication.StartReplication(ctx(t), replication.NewStartReplicationParams().
		WithExecution(&models.StartReplicationExecution{PolicyID: id})))(t).Location
	eid := idAfter(t, loc, "/api/v2.0/replication/executions/")
	return awaitExecution(t, c, eid)
}

func awaitExecution(t testing.TB, c harborClient, eid int64) *models.ReplicationExecution {
	t.Helper()
	var x *models.ReplicationExecution
	await(t, func() (bool, string) {
		x = must(c.Replication.GetReplicationExecution(ctx(t), replication.NewGetReplicationExecutionParams().WithID(eid)))(t).Payload
		return x.Status != "InProgress", dump(x)
	})
	return x
}

// TestReplication: push mode from berth to the reference registry (an
// image, an index, a cosign signature and an OCI referrer, digests
// unchanged), pull mode back into a new berth project with the name, tag
// and namespace rules, then Harbor's execution, task and log operations.
func TestReplication(t *testing.T) {
	c := client(t)
	dist := distserver.Start(t, distserver.Options{User: "dist", Password: "dist-secret"})
	regID := idAfter(t, must(c.Registry.CreateRegistry(ctx(t), registry.NewCreateRegistryParams().WithRegistry(&models.Registry{
		Name: unique("dist"), Type: "docker-registry", URL: dist.URL(),
		Credential: &models.RegistryCredential{Type: "basic", AccessKey: "dist", AccessSecret: "dist-secret"}})))(t).Location,
		"/api/v2.0/registries/")

	proj := newProject(t, c)
	repo := proj + "/team/app"
	img := pushImage(t, repo, "v1")
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	berthWrite(t, repo+":multi", idx)
	idxDigest, _ := idx.Digest()
	sig, _ := random.Image(64, 1)
	berthWrite(t, repo+":sha256-"+strings.TrimPrefix(img, "sha256:")+".sig", sig)
	sigDigest, _ := sig.Digest()
	subject, _ := v1.NewHash(img)
	ref, _ := random.Image(64, 1)
	referrer := mutate.Subject(ref, v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: subject, Size: 1}).(v1.Image)
	referrer = mutate.MediaType(referrer, types.OCIManifestSchema1)
	referrer = mutate.ConfigMediaType(referrer, "application/vnd.example.sbom")
	refDigest, _ := referrer.Digest()
	berthWrite(t, repo+"@"+refDigest.String(), referrer)

	one := int8(1)
	push := &models.ReplicationPolicy{Name: unique("push"), DestRegistry: &models.Registry{ID: regID}, DestNamespace: "mirror",
		DestNamespaceReplaceCount: &one, Enabled: true, Override: true,
		Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: proj + "/**"}}}
	pushID := idAfter(t, must(c.Replication.CreateReplicationPolicy(ctx(t), replication.NewCreateReplicationPolicyParams().
		WithPolicy(push)))(t).Location, "/api/v2.0/replication/policies/")
	if _, err := c.Replication.CreateReplicationPolicy(ctx(t), replication.NewCreateReplicationPolicyParams().WithPolicy(push)); !isStatus(err, 409) {
		t.Errorf("same name again: %v, want 409", err)
	}
	x := runPolicy(t, c, pushID)
	if x.Status != "Succeed" || x.Total != 1 || x.Succeed != 1 || x.Trigger != "manual" {
		t.Fatalf("push execution: %s", dump(x))
	}
	// replace count 1: proj/team/app -> mirror/team/app.
	for ref, want := range map[string]string{"mirror/team/app:v1": img, "mirror/team/app:multi": idxDigest.String(),
		"mirror/team/app:sha256-" + strings.TrimPrefix(img, "sha256:") + ".sig": sigDigest.String(),
		"mirror/team/app@" + refDigest.String():                                 refDigest.String()} {
		if got := distHead(t, dist, ref); got != want {
			t.Errorf("%s at the destination: %q, want %q", ref, got, want)
		}
	}
	tasks := must(c.Replication.ListReplicationTasks(ctx(t), replication.NewListReplicationTasksParams().WithID(x.ID)))(t).Payload
	if len(tasks) != 1 || tasks[0].Status != "Succeed" || tasks[0].Operation != "copy" ||
		// v1, multi and the untagged referrer (berth lists it as an
		// artifact of its own: its subject descriptor is not the image's)
		tasks[0].SrcResource != repo+" [3 item(s) in total]" || tasks[0].DstResource != "mirror/team/app [3 item(s) in total]" {
		t.Errorf("tasks: %s", dump(tasks))
	}
	logText := must(c.Replication.GetReplicationLog(ctx(t), replication.NewGetReplicationLogParams().WithID(x.ID).WithTaskID(tasks[0].ID)))(t).Payload
	if !strings.Contains(logText, "tag v1") || !strings.Contains(logText, "accessory") {
		t.Errorf("task log:\n%s", logText)
	}
	// Replication's reads of berth are not pulls (pull_count, pull_time
	// and retention stay as clients left them); the counts are written
	// every second.
	time.Sleep(1500 * time.Millisecond)
	rp := must(c.Repository.GetRepository(ctx(t), repository.NewGetRepositoryParams().WithProjectName(proj).
		WithRepositoryName(url.PathEscape("team/app"))))(t).Payload
	if rp.PullCount != 0 {
		t.Errorf("pull_count after a push-mode replication: %d, want 0", rp.PullCount)
	}
	// A second run copies nothing new: everything is present.
	if x := runPolicy(t, c, pushID); x.Status != "Succeed" {
		t.Errorf("second run: %s", dump(x))
	}
	pid := pushID
	execs := must(c.Replication.ListReplicationExecutions(ctx(t), replication.NewListReplicationExecutionsParams().WithPolicyID(&pid)))(t).Payload
	if len(execs) != 2 || execs[0].PolicyID != pushID {
		t.Errorf("executions: %s", dump(execs))
	}
	must(c.Replication.StopReplication(ctx(t), replication.NewStopReplicationParams().WithID(x.ID)))(t) // finished: left as it is

	// Pull mode: the v* tags of mirror/** into a new project.
	into := unique("pulled")
	pull := &models.ReplicationPolicy{Name: unique("pull"), SrcRegistry: &models.Registry{ID: regID}, DestNamespace: into,
		DestNamespaceReplaceCount: &one, Enabled: true, Trigger: &models.ReplicationTrigger{Type: "manual"},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: "mirror/**"}, {Type: "tag", Value: "v*", Decoration: "matches"}}}
	pullID := idAfter(t, must(c.Replication.CreateReplicationPolicy(ctx(t), replication.NewCreateReplicationPolicyParams().
		WithPolicy(pull)))(t).Location, "/api/v2.0/replication/policies/")
	if x := runPolicy(t, c, pullID); x.Status != "Succeed" {
		t.Fatalf("pull execution: %s", dump(x))
	}
	if got := berthHead(t, into+"/team/app:v1"); got != img {
		t.Errorf("pulled v1: %q, want %q", got, img)
	}
	if got := berthHead(t, into+"/team/app:multi"); got != "" {
		t.Errorf("multi was pulled despite the tag filter: %q", got)
	}

	got := must(c.Replication.GetReplicationPolicy(ctx(t), replication.NewGetReplicationPolicyParams().WithID(pullID)))(t).Payload
	if got.SrcRegistry == nil || got.SrcRegistry.ID != regID || got.DestNamespace != into || len(got.Filters) != 2 ||
		got.SrcRegistry.Credential.AccessSecret != "*****" {
		t.Errorf("get policy: %s", dump(got))
	}
	got.Description = "changed"
	got.Enabled = false
	must(c.Replication.UpdateReplicationPolicy(ctx(t), replication.NewUpdateReplicationPolicyParams().WithID(pullID).WithPolicy(got)))(t)
	q := "name=" + got.Name
	list := must(c.Replication.ListReplicationPolicies(ctx(t), replication.NewListReplicationPoliciesParams().WithQ(&q)))(t).Payload
	if len(list) != 1 || list[0].Description != "changed" || list[0].Enabled {
		t.Errorf("list after update: %s", dump(list))
	}
	if _, err := c.Registry.DeleteRegistry(ctx(t), registry.NewDeleteRegistryParams().WithID(regID)); !isStatus(err, 412) {
		t.Errorf("deleting a registry in use: %v, want 412", err)
	}
	must(c.Replication.DeleteReplicationPolicy(ctx(t), replication.NewDeleteReplicationPolicyParams().WithID(pullID)))(t)
	must(c.Replication.DeleteReplicationPolicy(ctx(t), replication.NewDeleteReplicationPolicyParams().WithID(pushID)))(t)
	must(c.Registry.DeleteRegistry(ctx(t), registry.NewDeleteRegistryParams().WithID(regID)))(t)
}
