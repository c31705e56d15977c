package harborapi

import (
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"

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
