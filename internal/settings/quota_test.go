package settings

import (
	"context"
	"errors"
	"testing"
)

func TestStoragePerProject(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	s := New(store, nil)
	if v, err := s.Update(ctx, raw(StoragePerProject, "10737418240")); err != nil || v.StoragePerProject != 10<<30 {
		t.Fatalf("Update: %+v, %v", v, err)
	}
	if store.m[StoragePerProject] != "10737418240" || s.Get().Value(StoragePerProject) != int64(10<<30) {
		t.Fatalf("stored %q, value %v", store.m[StoragePerProject], s.Get().Value(StoragePerProject))
	}
	for _, bad := range []string{"0", "-2", "1125899906842625", `"10G"`, "1.5", "null"} {
		var invalid *InvalidError
		if _, err := s.Update(ctx, raw(StoragePerProject, bad)); !errors.As(err, &invalid) || invalid.Problems[0].Key != StoragePerProject {
			t.Errorf("Update(%s) = %v", bad, err)
		}
	}
	if v, err := s.Update(ctx, raw(StoragePerProject, "-1")); err != nil || v.StoragePerProject != -1 {
		t.Fatalf("Update(-1): %+v, %v", v, err)
	}
	// Another replica reads it.
	other := New(store, nil)
	store.m[StoragePerProject] = "1125899906842624"
	if err := other.Refresh(ctx); err != nil || other.Get().StoragePerProject != 1<<50 {
		t.Fatalf("Refresh: %+v, %v", other.Get(), err)
	}
}
