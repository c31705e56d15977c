package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestImmutableSQLite(t *testing.T) {
	metatest.RunImmutable(t, func(t *testing.T) metatest.ImmutableFullStore {
		s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestImmutablePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunImmutable(t, func(t *testing.T) metatest.ImmutableFullStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
