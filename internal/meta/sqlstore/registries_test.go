package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestRegistrySuiteSQLite(t *testing.T) {
	metatest.RunRegistries(t, func(t *testing.T) meta.RegistryStore {
		s := openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestRegistrySuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunRegistries(t, func(t *testing.T) meta.RegistryStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
