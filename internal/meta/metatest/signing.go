package metatest

import (
	"fmt"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
)

// SigningFullStore is a store with projects, their settings and their
// signing keys.
type SigningFullStore interface {
	FullStore
	meta.ProjectSettingsStore
	meta.SigningStore
}

// RunSigning is the suite for meta.SigningStore. open returns a fresh,
// empty store (and arranges its own cleanup).
func RunSigning(t *testing.T, open func(t *testing.T) SigningFullStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s SigningFullStore)
	}{
		{"Keys", testSigningKeys},
		{"Policies", testSigningPolicies},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testSigningKeys(t *testing.T, s SigningFullStore) {
	ctx := t.Context()
	p := &meta.Project{Name: "signed"}
	noErr(t, s.CreateProject(ctx, p))
	other := &meta.Project{Name: "other"}
	noErr(t, s.CreateProject(ctx, other))
	k := &meta.SigningKey{ProjectID: p.ID, Name: "ci", Type: meta.SigningKeyCosign, PEM: "PEM1", Creator: "admin"}
	noErr(t, s.CreateSigningKey(ctx, k))
	if k.ID == 0 || k.CreatedAt.IsZero() {
		t.Fatalf("created key = %+v: want id and time set", k)
	}
	wantErr(t, s.CreateSigningKey(ctx, &meta.SigningKey{ProjectID: p.ID, Name: "ci", Type: meta.SigningKeyNotation, PEM: "x"}),
		meta.ErrConflict, "same name twice")
	noErr(t, s.CreateSigningKey(ctx, &meta.SigningKey{ProjectID: other.ID, Name: "ci", Type: meta.SigningKeyCosign, PEM: "x"}))
	wantErr(t, s.CreateSigningKey(ctx, &meta.SigningKey{ProjectID: 999999, Name: "x", Type: meta.SigningKeyCosign, PEM: "x"}),
		meta.ErrNotFound, "key of a missing project")
	n := &meta.SigningKey{ProjectID: p.ID, Name: "root", Type: meta.SigningKeyNotation, PEM: "PEM2"}
	noErr(t, s.CreateSigningKey(ctx, n))

	got, err := s.SigningKey(ctx, p.ID, k.ID)
	noErr(t, err)
	if got.Name != "ci" || got.Type != meta.SigningKeyCosign || got.PEM != "PEM1" || got.Creator != "admin" {
		t.Fatalf("SigningKey = %+v", got)
	}
	_, err = s.SigningKey(ctx, other.ID, k.ID)
	wantErr(t, err, meta.ErrNotFound, "key read through another project")

	list, total, err := s.SigningKeys(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	noErr(t, err)
	if total != 2 || len(list) != 2 || list[0].ID != k.ID || list[1].ID != n.ID {
		t.Fatalf("SigningKeys = %d %+v", total, list)
	}
	list, total, err = s.SigningKeys(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10},
		Where: []meta.Cond{{Key: "type", Op: meta.Equal, Values: []string{meta.SigningKeyNotation}}}})
	noErr(t, err)
	if total != 1 || len(list) != 1 || list[0].ID != n.ID {
		t.Fatalf("SigningKeys type=notation = %d %+v", total, list)
	}

	wantErr(t, s.DeleteSigningKey(ctx, other.ID, k.ID), meta.ErrNotFound, "delete through another project")
	noErr(t, s.DeleteSigningKey(ctx, p.ID, k.ID))
	wantErr(t, s.DeleteSigningKey(ctx, p.ID, k.ID), meta.ErrNotFound, "delete twice")

	for i := range meta.MaxSigningKeys - 1 {
		noErr(t, s.CreateSigningKey(ctx, &meta.SigningKey{ProjectID: p.ID, Name: fmt.Sprint("k", i), Type: meta.SigningKeyCosign, PEM: "x"}))
	}
	wantErr(t, s.CreateSigningKey(ctx, &meta.SigningKey{ProjectID: p.ID, Name: "over", Type: meta.SigningKeyCosign, PEM: "x"}),
		meta.ErrSigningKeyLimit, "past the limit")

	noErr(t, s.DeleteProject(ctx, p.ID))
	_, total, err = s.SigningKeys(ctx, p.ID, meta.ListQuery{Page: meta.Page{Page: 1, Size: 10}})
	noErr(t, err)
	if total != 0 {
		t.Fatalf("keys of a deleted project: %d", total)
	}
}

func testSigningPolicies(t *testing.T, s SigningFullStore) {
	ctx := t.Context()
	policies := func() map[string]meta.SigningPolicy {
		t.Helper()
		ps, err := s.SigningPolicies(ctx)
		noErr(t, err)
		out := map[string]meta.SigningPolicy{}
		for _, p := range ps {
			out[p.Project] = p
		}
		return out
	}
	plain := &meta.Project{Name: "plain"}
	noErr(t, s.CreateProject(ctx, plain))
	cos := &meta.Project{Name: "cos"}
	noErr(t, s.CreateProjectWith(ctx, cos, meta.ProjectChange{Metadata: map[string]string{"enable_content_trust_cosign": "true"}}))
	nota := &meta.Project{Name: "nota"}
	noErr(t, s.CreateProjectWith(ctx, nota, meta.ProjectChange{Metadata: map[string]string{
		"enable_content_trust": "true", "enable_content_trust_cosign": "false"}}))
	got := policies()
	if len(got) != 2 {
		t.Fatalf("policies = %+v, want cos and nota", got)
	}
	if p := got["cos"]; !p.RequireCosign || p.RequireNotation || p.ProjectID != cos.ID || p.KeysVersion != 0 {
		t.Fatalf("cos policy = %+v", p)
	}
	if p := got["nota"]; p.RequireCosign || !p.RequireNotation {
		t.Fatalf("nota policy = %+v", p)
	}
	// Keys alone put a project in the list, and every change bumps its
	// version.
	k := &meta.SigningKey{ProjectID: plain.ID, Name: "k", Type: meta.SigningKeyCosign, PEM: "x"}
	noErr(t, s.CreateSigningKey(ctx, k))
	v1 := policies()["plain"]
	if v1.KeysVersion == 0 || v1.RequireCosign || v1.RequireNotation {
		t.Fatalf("plain policy after a key = %+v", v1)
	}
	noErr(t, s.DeleteSigningKey(ctx, plain.ID, k.ID))
	if v2 := policies()["plain"]; v2.KeysVersion <= v1.KeysVersion {
		t.Fatalf("version after delete = %d, before %d", v2.KeysVersion, v1.KeysVersion)
	}
	noErr(t, s.ChangeProject(ctx, cos.ID, meta.ProjectChange{Metadata: map[string]string{"enable_content_trust_cosign": "false"}}))
	if _, ok := policies()["cos"]; ok {
		t.Fatal("cos still listed after its policy was switched off")
	}
}
