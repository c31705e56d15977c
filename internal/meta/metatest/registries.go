package metatest

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// RunRegistries is the suite for meta.RegistryStore. open returns a
// fresh, empty store (and arranges its own cleanup).
func RunRegistries(t *testing.T, open func(t *testing.T) meta.RegistryStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s meta.RegistryStore)
	}{
		{"Registries", testRegistries},
		{"Policies", testReplicationPolicies},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testRegistries(t *testing.T, s meta.RegistryStore) {
	ctx := context.Background()
	r := &meta.Registry{Name: "hub", Type: "docker-hub", URL: "https://hub.docker.com", CredentialType: "basic",
		AccessKey: "u", AccessSecret: "enc:v1:x", Insecure: true, CACertificate: "pem"}
	if err := s.CreateRegistry(ctx, r); err != nil || r.ID == 0 || r.CreatedAt.IsZero() {
		t.Fatalf("create: %v %+v", err, r)
	}
	if err := s.CreateRegistry(ctx, &meta.Registry{Name: "hub", Type: "harbor", URL: "x"}); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("same name: %v", err)
	}
	got, err := s.Registry(ctx, r.ID)
	if err != nil || got.Name != "hub" || got.AccessSecret != "enc:v1:x" || !got.Insecure || got.CACertificate != "pem" || got.Type != "docker-hub" {
		t.Fatalf("get: %v %+v", err, got)
	}
	if _, err := s.Registry(ctx, r.ID+100); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	other := &meta.Registry{Name: "dist", Type: "docker-registry", URL: "http://127.0.0.1:5000"}
	if err := s.CreateRegistry(ctx, other); err != nil {
		t.Fatal(err)
	}
	got.Name, got.Insecure = "dist", false
	if err := s.UpdateRegistry(ctx, got); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("rename onto another: %v", err)
	}
	got.Name, got.Description = "hub2", "d"
	if err := s.UpdateRegistry(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRegistryStatus(ctx, got.ID, "healthy"); err != nil {
		t.Fatal(err)
	}
	list, total, err := s.ListRegistries(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	if err != nil || total != 2 || len(list) != 2 || list[0].Name != "hub2" || list[0].Status != "healthy" || list[0].Insecure || list[0].Description != "d" {
		t.Fatalf("list: %v %d %+v", err, total, list)
	}
	list, total, err = s.ListRegistries(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}.With(meta.Cond{Key: "name", Op: meta.Equal, Values: []string{"dist"}}))
	if err != nil || total != 1 || list[0].ID != other.ID {
		t.Fatalf("list by name: %v %d %+v", err, total, list)
	}
	if err := s.DeleteRegistry(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegistry(ctx, other.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}

func testReplicationPolicies(t *testing.T, s meta.RegistryStore) {
	ctx := context.Background()
	r := &meta.Registry{Name: "dr", Type: "harbor", URL: "https://dr"}
	if err := s.CreateRegistry(ctx, r); err != nil {
		t.Fatal(err)
	}
	p := &meta.ReplicationPolicy{Name: "push", DestRegistryID: r.ID, Enabled: true, Policy: `{"a":1}`}
	if err := s.CreateReplicationPolicy(ctx, p); err != nil || p.ID == 0 {
		t.Fatalf("create: %v", err)
	}
	if err := s.CreateReplicationPolicy(ctx, &meta.ReplicationPolicy{Name: "push", DestRegistryID: r.ID, Policy: "{}"}); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("same name: %v", err)
	}
	if err := s.CreateReplicationPolicy(ctx, &meta.ReplicationPolicy{Name: "x", SrcRegistryID: r.ID + 100, Policy: "{}"}); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("missing registry: %v", err)
	}
	if err := s.DeleteRegistry(ctx, r.ID); !errors.Is(err, meta.ErrInUse) {
		t.Errorf("delete a registry in use: %v", err)
	}
	got, err := s.ReplicationPolicy(ctx, p.ID)
	if err != nil || got.Name != "push" || got.DestRegistryID != r.ID || got.SrcRegistryID != 0 || !got.Enabled || got.Policy != `{"a":1}` {
		t.Fatalf("get: %v %+v", err, got)
	}
	got.DestRegistryID, got.SrcRegistryID, got.Enabled, got.Policy = 0, r.ID, false, `{"b":2}`
	if err := s.UpdateReplicationPolicy(ctx, got); err != nil {
		t.Fatal(err)
	}
	list, total, err := s.ListReplicationPolicies(ctx, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}}.
		With(meta.Cond{Key: "src_registry_id", Op: meta.Equal, Values: []string{strconv.FormatInt(r.ID, 10)}}))
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || list[0].Policy != `{"b":2}` || list[0].Enabled {
		t.Fatalf("list: %d %+v", total, list)
	}
	if err := s.DeleteReplicationPolicy(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegistry(ctx, r.ID); err != nil {
		t.Errorf("delete once unused: %v", err)
	}
	if _, err := s.ReplicationPolicy(ctx, p.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
}
