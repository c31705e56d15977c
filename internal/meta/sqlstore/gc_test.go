package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestGCSuiteSQLite(t *testing.T) {
	metatest.RunGC(t, func(t *testing.T) metatest.GCStore {
		s := openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestGCSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunGC(t, func(t *testing.T) metatest.GCStore {
		s, _ := openPostgres(t, PostgresOptions{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
