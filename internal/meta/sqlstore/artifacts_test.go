package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/test/pgserver"
)

func TestArtifactSuiteSQLite(t *testing.T) {
	metatest.RunArtifacts(t, func(t *testing.T) metatest.ArtifactStore {
		return openSQLite(t, filepath.Join(t.TempDir(), "meta.db"))
	})
}

func TestArtifactSuitePostgres(t *testing.T) {
	pgserver.Require(t)
	metatest.RunArtifacts(t, func(t *testing.T) metatest.ArtifactStore {
		s, _ := openPostgres(t, PostgresOptions{})
		return s
	})
}
